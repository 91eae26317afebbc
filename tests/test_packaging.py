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


def _venv(where: Path) -> Path:
    """A fresh virtual environment's python (without pip: this process's pip installs into it, which is faster);
    the test is skipped only where none can be made."""
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot create a virtual environment here: {exc}")
    return where / "bin" / "python"


@pytest.mark.slow
def test_the_plain_install_runs_help_and_names_the_server_extra_for_server_commands(tmp_path: Path) -> None:
    """`pip install tracehouse` without extras (the SDK and the orchestrator): `--help` works, and a command that
    needs the server says in one line what to install, with exit 2 — never a traceback."""
    python = _venv(tmp_path / "venv")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in package_folders():
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    tracehouse = python.parent / "tracehouse"
    server_only = ("fastapi", "chdb", "httpx", "pydantic_settings", "rich")
    probe = subprocess.run(
        [str(python), "-c", f"import importlib.util as u; print([m for m in {server_only!r} if u.find_spec(m)])"],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "[]", f"the plain install pulled in server packages: {probe.stdout}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(tracehouse), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)

    helped = run("--help")
    assert helped.returncode == 0, helped.stderr
    assert all(c in helped.stdout for c in ("serve", "keys", "demo", "eval"))
    demo = run("demo", "--help")  # the orchestrator's demo is part of the plain install, not a stand-in
    assert demo.returncode == 0 and "--server" in demo.stdout and "'demo' needs" not in demo.stdout, demo.stdout
    for command in (["serve"], ["keys", "list"]):
        proc = run(*command)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install 'tracehouse[server]'" in lines[0], (command, proc.stderr)
        assert "Traceback" not in proc.stderr
