"""`tracehouse alerts check | list | validate`: evaluate alert rules now, show their state, check a rules file."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tracehouse.evals.alerting.rules import RuleFileError, effective_file_rules, load_rules_file
from tracehouse.evals.detect._client import CommandError, api_key, call, server_options


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules: evaluate now, list state, validate a rules file."""


@alerts_group.command("check")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --dsn: the rules file to evaluate (default rules otherwise).",
)
@click.option("--fail-on-firing", is_flag=True, help="Exit 1 when any rule is firing.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON answer.")
@server_options
def alerts_check(
    rules_file: str | None,
    fail_on_firing: bool,
    as_json: bool,
    server_url: str,
    key: str | None,
    data_dir: str | None,
    dsn: str | None,
    project: str,
) -> None:
    """Evaluate every rule now (notifications are sent as on schedule) and print the rules' state."""
    result = (
        _check_direct(dsn, project, rules_file)
        if dsn
        else call("POST", server_url, "/api/alerts/check", api_key(key, data_dir))
    )
    _show(result, as_json)
    if fail_on_firing and any(r["state"] == "firing" for r in result["rules"]):
        sys.exit(1)


@alerts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON answer.")
@server_options
def alerts_list(
    as_json: bool, server_url: str, key: str | None, data_dir: str | None, dsn: str | None, project: str
) -> None:
    """Show every rule with its current state (no evaluation)."""
    if dsn:
        raise CommandError("alerts list needs the server (state lives in the running evaluator); use alerts check")
    _show(call("GET", server_url, "/api/alerts", api_key(key, data_dir)), as_json)


@alerts_group.command("validate")
@click.argument("rules_file", type=click.Path(dir_okay=False))
def alerts_validate(rules_file: str) -> None:
    """Check a rules file; prints one line naming the field on error (exit 2)."""
    try:
        config = load_rules_file(rules_file)
    except RuleFileError as exc:
        raise CommandError(str(exc)) from None
    rules = effective_file_rules(config)
    click.echo(f"{rules_file}: ok — {len(rules)} rules, {len(config.notifiers)} notifiers, every {config.interval:g}s")


def _check_direct(dsn: str, project: str, rules_file: str | None) -> dict[str, Any]:
    from tracehouse.evals.alerting.service import AlertService
    from tracehouse.store import Store, StoreError

    try:
        store = Store(dsn)
        try:
            service = AlertService(store, rules_file)
            transitions = service.check(project)
            service.engine.dispatcher.wait_idle(60)
            service.stop()
            return {
                "transitions": [t.__dict__ for t in transitions],
                "rules": service.engine.overview(project),
            }
        finally:
            store.close()
    except (StoreError, RuleFileError) as exc:
        raise CommandError(str(exc)) from None


def _show(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    table = Table(title="alert rules")
    for col in ("rule", "state", "severity", "expression", "value", "origin"):
        table.add_column(col, overflow="fold")
    for r in result["rules"]:
        values = [i["value"] for i in r.get("instances", []) if i.get("value") is not None]
        shown = ", ".join(f"{v:.4g}" for v in values[:3]) or "-"
        table.add_row(r["name"], r["state"], r["severity"], r["expression"], shown, r.get("origin", ""))
    Console().print(table)
    for t in result.get("transitions", []):
        click.echo(f"{t['rule']} {t['instance'] or ''}: {t['previous']} → {t['state']}")
