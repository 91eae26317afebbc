"""`tracehouse serve`: its flags are made from `Settings` (name, type, default, help), so they cannot disagree with
the setting they set. Imported only when run: it needs the server extra."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_origin

import click
from pydantic.fields import FieldInfo

from tracehouse.cli import settings_from
from tracehouse.settings import Settings

# The settings `serve` takes as flags; every other one is a TRACEHOUSE_* variable or a TOML key (same names).
SERVE_FLAGS = (
    "host",
    "port",
    "grpc_port",
    "data_dir",
    "dsn",
    "database",
    "no_auth",
    "public_metrics",
    "retention_days",
    "alerts_file",
    "online_suites",
    "prices",
    "detect",
    "finalise_quiet_s",
    "log_level",
)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        return "" if value == [] else f" [{value}]"
    return "" if info.default in (None, False) else f" [{info.default}]"


def settings_option(name: str) -> Callable[[Any], Any]:
    """One click option for one setting, its help and default taken from the setting's declaration."""
    info = Settings.model_fields[name]
    flag = "--" + name.replace("_", "-")
    help_text = (info.description or "") + _default(info)
    if get_origin(info.annotation) is list:
        return click.option(
            flag.removesuffix("s"),
            name,
            multiple=True,
            type=click.Path(path_type=Path),
            help=help_text + " (repeatable)",
        )
    kinds = set(get_args(info.annotation)) or {info.annotation}
    if kinds <= {bool, type(None)}:
        if info.default is False:  # an opt-in: a plain flag
            return click.option(flag, name, is_flag=True, default=None, help=help_text)
        return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
    kind = next((k for k in kinds if k is not type(None)), str)
    click_type = click.Path(path_type=Path) if kind is Path else kind
    return click.option(flag, name, type=click_type, default=None, help=help_text)


def settings_options(names: tuple[str, ...]) -> Callable[[Any], Any]:
    def decorate(fn: Any) -> Any:
        for name in reversed(names):
            fn = settings_option(name)(fn)
        return click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")(fn)

    return decorate


@click.command()
@settings_options(SERVE_FLAGS)
def serve(**flags: Any) -> None:
    """Run the collector, API and dashboard (embedded ClickHouse unless --dsn says otherwise)."""
    import logging

    import uvicorn

    from tracehouse.collector.spool import check_unlocked
    from tracehouse.server import build_app

    flags["online_suites"] = list(flags["online_suites"]) or None
    settings = settings_from(**flags)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A bad rules file, suite or price table, or a spool in use, ends here with one line (tracehouse.errors).
    check_unlocked(settings.spool_dir)
    app = build_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)
