"""`tracehouse detect run`: run the loop / duplicate-work / retry-storm detectors over a window now."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from tracehouse.errors import EXIT_USAGE, BadInput, TracehouseGroup
from tracehouse.evals.suite import parse_when
from tracehouse.output import echo_json, json_option, table
from tracehouse.settings import ClientSettings, client_options, direct_dsn_option


@click.group("detect", cls=TracehouseGroup, error_exit_code=EXIT_USAGE)
def detect_group() -> None:
    """Find loops, duplicate work and retry storms in stored traces."""


def parse_since(value: str, flag: str = "--since") -> datetime:
    """`1h`, `30m`, `2d` back from now, or an ISO 8601 time."""
    try:
        return parse_when(value)
    except ValueError as exc:
        raise BadInput(f"{flag}: {exc}, got {value!r}") from None


@detect_group.command("run")
@click.option("--since", default="1h", show_default=True, help="Window start: a duration back from now, or ISO time.")
@click.option("--until", default=None, help="Window end (default now).")
@click.option("--cross-trace", is_flag=True, help="Also find duplicate work across the window's traces.")
@json_option
@client_options()
@direct_dsn_option
def detect_run(
    since: str, until: str | None, cross_trace: bool, as_json: bool, client: ClientSettings, dsn: str | None
) -> None:
    """Detect over traces that ended in the window; findings are stored and printed."""
    from tracehouse.client import Client
    from tracehouse.evals.detect.api import DetectReport

    lo = parse_since(since)
    hi = parse_since(until, "--until") if until else datetime.now(UTC)
    if dsn:
        from tracehouse.evals.detect.service import run_window
        from tracehouse.store import Store

        store = Store(dsn)
        try:
            found = run_window(store, client.project or "default", lo, hi, cross_trace=cross_trace)
        finally:
            store.close()
        report = DetectReport.model_validate({"since": lo.isoformat(), "until": hi.isoformat(), **found.to_json()})
    else:
        with Client(client) as api:
            api.check_project()
            report = api.detect(lo, hi, cross_trace=cross_trace)
    if as_json:
        echo_json(report)
        return
    table(
        f"{len(report.findings)} findings in {report.traces} traces ({report.seconds} s)",
        ("kind", "severity", "trace", "wasted $", "explanation"),
        [(f.kind, f.severity, f.trace_id[:12], f"{f.wasted_cost_usd:.4f}", f.explanation) for f in report.findings],
    )
