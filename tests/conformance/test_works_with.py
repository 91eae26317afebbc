"""The README's "Works with" table is the one the corpus gives: a ✔ nobody's test proves cannot creep in."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.works_with import table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_works_with_table_is_the_corpus_table() -> None:
    assert table() in README.read_text(), "regenerate it: .venv/bin/python -m tests.conformance.works_with"
