"""The `tracehouse` command: serve, keys, schema — and the commands other parts contribute (demo, eval, alerts)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click

from tracehouse._version import __version__
from tracehouse.errors import TracehouseGroup, fail

if TYPE_CHECKING:
    from tracehouse.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def settings_from(**flags: Any) -> Settings:
    """Settings from a command's flags; a bad one ends the command with one line (exit 2)."""
    from tracehouse.settings import load_settings

    config = flags.pop("config", None)
    return load_settings(config, **flags)


def store_options(fn: F) -> F:
    """Where the data is: shared by every command that reaches the store."""
    for option in reversed(
        [
            click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file."),
            click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory."),
            click.option("--dsn", help="ClickHouse DSN (chdb:///dir or http(s)://user:pass@host:8123/db)."),
        ]
    ):
        fn = option(fn)
    return fn


class LazyGroup(TracehouseGroup):
    """Commands the other parts contribute, imported only when run (click's documented lazy-loading pattern), so
    `pip install tracehouse` without the server extra still runs `tracehouse demo`."""

    lazy: ClassVar[dict[str, str]] = {
        "serve": "tracehouse.serve_cli:serve",
        "keys": "tracehouse.keys_cli:keys_group",
        "demo": "tracehouse.orchestrator.cli:demo",
        "eval": "tracehouse.evals.cli:eval_group",
        "alerts": "tracehouse.evals.alerting.cli:alerts_group",
        "detect": "tracehouse.evals.detect.cli:detect_group",
        "spool": "tracehouse.spool_cli:spool_group",
        "runs": "tracehouse.orchestrator.cli:runs_group",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module_name, attr = self.lazy[cmd_name].split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            return _needs_server_extra(cmd_name, exc.name or "a module")
        command: click.Command = getattr(module, attr)
        return command


def _needs_server_extra(name: str, missing: str) -> click.Command:
    """A stand-in for a command the light install cannot run: `--help` still lists it, running it says why."""
    message = f"'{name}' needs the server extra: pip install 'tracehouse[server]' ({missing} is missing)"

    def run(**_: Any) -> None:
        fail(message)

    return click.Command(
        name,
        callback=run,
        help=f"(needs the server extra) {message}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracehouse")
def main() -> None:
    """tracehouse: observability and evaluation for multi-agent LLM systems."""


@main.command()
@store_options
@click.option("--apply", "apply_", is_flag=True, help="Run the DDL against the store instead of printing it.")
@click.option("--retention-days", type=int, help="Days of data kept [30].")
@click.option("--cluster", help="Render the sharded, replicated DDL for this ClickHouse cluster.")
def schema(apply_: bool, cluster: str | None, **flags: Any) -> None:
    """Print (or apply) the ClickHouse schema."""
    from tracehouse.store import DSN, Store
    from tracehouse.store.cluster import apply_cluster_schema, cluster_ddl, statements_text
    from tracehouse.store.schema import SchemaOptions, single_node_ddl

    settings = settings_from(**flags)
    options = SchemaOptions(database=settings.database, retention_days=settings.retention_days, cluster=cluster)
    if not apply_:
        click.echo(statements_text(cluster_ddl(options) if cluster else single_node_ddl(options)))
        return
    store = Store(DSN.parse(settings.store_dsn, default_database=settings.database))
    if cluster:
        version = apply_cluster_schema(store, options)
        click.echo(f"schema at version {version} on cluster {cluster} in {store.dsn.redacted()}")
    else:
        version = store.migrate(settings.retention_days)
        click.echo(f"schema at version {version} in {store.dsn.redacted()}")
