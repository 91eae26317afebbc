"""tracehouse: observability and evaluation for multi-agent LLM systems."""

from pkgutil import extend_path

from tracehouse._version import __version__

# setup.py installs the folders sdk/, collector/, ... as tracehouse.* sub-packages. When the repository root is on
# sys.path (pytest, `python -m tracehouse` in a checkout), this folder shadows the installed package; extending the
# path finds the other sub-packages where they are installed (e.g. the link tree of a strict editable install).
__path__ = extend_path(__path__, __name__)

__all__ = ["__version__"]
