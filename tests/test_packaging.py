"""The wheel is what `pip install tracehouse` gets: every module, template, static file and example of the package
folders, and the `py.typed` marker that lets users' type checkers read tracehouse's types."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.package_layout import ROOT, package_folders


def package_files() -> set[str]:
    """The path inside the wheel of every file in the package folders but their Markdown (notes for readers of the
    repository, not for the installed package)."""
    out: set[str] = set()
    for folder, package in package_folders().items():
        base = ROOT / folder
        for path in base.rglob("*"):
            if path.is_file() and path.suffix != ".md" and "__pycache__" not in path.parts:
                out.add("/".join((*package.split("."), *path.relative_to(base).parts)))
    return out


@pytest.mark.slow
def test_the_wheel_ships_every_package_file_and_py_typed(tmp_path: Path) -> None:
    # A clean copy: an in-tree build would reuse build/lib, which keeps the files an earlier build copied there.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "tests"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet", "--wheel-dir", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("tracehouse-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    expected = package_files()
    assert {"tracehouse/py.typed", "tracehouse/evals/examples/demo_dataset.jsonl"} <= expected
    assert not expected - shipped, f"missing from the wheel: {sorted(expected - shipped)}"
