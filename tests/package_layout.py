"""The installed layout as the repository declares it: which folder becomes which `tracehouse.*` package.

Read from setup.py's `FOLDERS` (with `ast`, without running setup.py), so the tests that need the layout share the
one list the build uses instead of keeping their own copy.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_folders() -> dict[str, str]:
    """Folder (relative to the repository root) -> the package name it is installed as."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "FOLDERS" for t in node.targets):
            folders = ast.literal_eval(node.value)
            assert isinstance(folders, dict)
            return {str(k): str(v) for k, v in folders.items()}
    raise AssertionError("setup.py has no FOLDERS mapping")


@dataclass(frozen=True)
class Module:
    name: str  # the installed name, e.g. tracehouse.store.client
    path: Path
    is_package: bool  # an __init__.py: its relative imports resolve against itself


def package_modules() -> Iterator[Module]:
    """Every module the package installs, under its installed name."""
    for folder, package in package_folders().items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            is_package = parts[-1] == "__init__"
            name = ".".join((package, *(parts[:-1] if is_package else parts)))
            yield Module(name, path, is_package)
