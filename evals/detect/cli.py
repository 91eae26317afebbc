"""`tracehouse detect run`: run the loop / duplicate-work / retry-storm detectors over a window now."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tracehouse.evals.detect._client import CommandError, api_key, call, parse_since, server_options


@click.group("detect")
def detect_group() -> None:
    """Find loops, duplicate work and retry storms in stored traces."""


@detect_group.command("run")
@click.option("--since", default="1h", show_default=True, help="Window start: a duration back from now, or ISO time.")
@click.option("--until", default=None, help="Window end (default now).")
@click.option("--cross-trace", is_flag=True, help="Also find duplicate work across the window's traces.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON answer instead of a table.")
@server_options
def detect_run(
    since: str,
    until: str | None,
    cross_trace: bool,
    as_json: bool,
    server_url: str,
    key: str | None,
    data_dir: str | None,
    dsn: str | None,
    project: str,
) -> None:
    """Detect over traces that ended in the window; findings are stored and printed."""
    lo = parse_since(since)
    hi = parse_since(until) if until else datetime.now(UTC)
    if dsn:
        result = _run_direct(dsn, project, lo, hi, cross_trace)
    else:
        body = {"since": lo.isoformat(), "until": hi.isoformat(), "cross_trace": cross_trace}
        result = call("POST", server_url, "/api/detect/run", api_key(key, data_dir), body)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _print(result)


def _run_direct(dsn: str, project: str, lo: datetime, hi: datetime, cross_trace: bool) -> dict[str, Any]:
    from tracehouse.evals.detect.service import run_window
    from tracehouse.store import Store, StoreError

    try:
        store = Store(dsn)
        try:
            return run_window(store, project, lo, hi, cross_trace=cross_trace).to_json()
        finally:
            store.close()
    except StoreError as exc:
        raise CommandError(str(exc)) from None


def _print(result: dict[str, Any]) -> None:
    console = Console()
    findings = result.get("findings", [])
    table = Table(title=f"{len(findings)} findings in {result.get('traces', 0)} traces ({result.get('seconds', 0)} s)")
    for col in ("kind", "severity", "trace", "wasted $", "explanation"):
        table.add_column(col, overflow="fold")
    for f in findings:
        table.add_row(f["kind"], f["severity"], f["trace_id"][:12], f"{f['wasted_cost_usd']:.4f}", f["explanation"])
    console.print(table)
