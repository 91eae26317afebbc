"""How commands print: tables as wide as the terminal (never cut at 80 columns when piped), and `--json` on every
listing command for programs (one JSON document on stdout)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click
from pydantic import BaseModel

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 1000  # a table piped to a file or a program keeps each row on one line

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")


def console() -> Console:
    """A rich console for stdout: the terminal's width on a terminal, and no wrapping when piped."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(width=shutil.get_terminal_size().columns)
    return Console(width=PIPED_WIDTH, no_color=True, soft_wrap=True)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table with a header row; cells are printed as text (never read as rich markup)."""
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    console().print(out)


def echo_json(value: Any) -> None:
    """One JSON document on stdout: a pydantic model, a dataclass, or plain data."""
    click.echo(json.dumps(_plain(value), indent=2, ensure_ascii=False, default=str))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
