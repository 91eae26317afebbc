"""tracehouse: observability and evaluation for multi-agent LLM systems."""

from tracehouse._version import __version__

__all__ = ["__version__"]
