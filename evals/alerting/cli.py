"""`tracehouse alerts check | list | validate`: evaluate alert rules now, show their state, check a rules file."""

from __future__ import annotations

import sys

import click

from tracehouse.errors import EXIT_USAGE, BadInput, TracehouseGroup
from tracehouse.evals.alerting.api_models import AlertsCheck, AlertsOverview
from tracehouse.evals.alerting.rules import effective_file_rules, load_rules_file
from tracehouse.output import echo_json, json_option, table
from tracehouse.settings import ClientSettings, client_options, direct_dsn_option


@click.group("alerts", cls=TracehouseGroup, error_exit_code=EXIT_USAGE)
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
@json_option
@client_options()
@direct_dsn_option
def alerts_check(
    rules_file: str | None, fail_on_firing: bool, as_json: bool, client: ClientSettings, dsn: str | None
) -> None:
    """Evaluate every rule now (notifications are sent as on schedule) and print the rules' state."""
    if dsn:
        result = _check_direct(dsn, client.project or "default", rules_file)
    else:
        from tracehouse.client import Client

        with Client(client) as api:
            api.check_project()
            result = api.check_alerts()
    _show(result, as_json)
    if fail_on_firing and any(r.state == "firing" for r in result.rules):
        sys.exit(1)


@alerts_group.command("list")
@json_option
@client_options()
@direct_dsn_option
def alerts_list(as_json: bool, client: ClientSettings, dsn: str | None) -> None:
    """Show every rule with its current state (no evaluation)."""
    from tracehouse.client import Client

    if dsn:
        raise BadInput("alerts list needs the server (state lives in the running evaluator); use alerts check")
    with Client(client) as api:
        api.check_project()
        _show(api.alerts(), as_json)


@alerts_group.command("validate")
@click.argument("rules_file", type=click.Path(dir_okay=False))
def alerts_validate(rules_file: str) -> None:
    """Check a rules file; prints one line naming the field on error (exit 2)."""
    config = load_rules_file(rules_file)
    rules = effective_file_rules(config)
    click.echo(f"{rules_file}: ok — {len(rules)} rules, {len(config.notifiers)} notifiers, every {config.interval:g}s")


def _check_direct(dsn: str, project: str, rules_file: str | None) -> AlertsCheck:
    from tracehouse.evals.alerting.service import AlertService
    from tracehouse.store import Store

    store = Store(dsn)
    try:
        service = AlertService(store, rules_file)
        transitions = service.check(project)
        service.engine.dispatcher.wait_idle(60)
        service.stop()
        return AlertsCheck.model_validate(
            {"transitions": [t.__dict__ for t in transitions], **service.overview(project)}
        )
    finally:
        store.close()


def _show(result: AlertsOverview, as_json: bool) -> None:
    if as_json:
        echo_json(result)
        return
    rows = []
    for r in result.rules:
        values = [i.value for i in r.instances if i.value is not None]
        shown = ", ".join(f"{v:.4g}" for v in values[:3]) or "-"
        rows.append((r.name, r.state, r.severity, r.expression, shown, r.origin))
    table("alert rules", ("rule", "state", "severity", "expression", "value", "origin"), rows)
    for t in result.transitions if isinstance(result, AlertsCheck) else []:
        click.echo(f"{t.rule} {t.instance or ''}: {t.previous} → {t.state}")
