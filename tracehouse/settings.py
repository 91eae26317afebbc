"""Server settings, declared once: name, type, default and help. Flags override `TRACEHOUSE_*` environment
variables, which override the TOML file (`--config` or $TRACEHOUSE_CONFIG), which overrides the defaults."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from tracehouse.errors import BadInput
from tracehouse.sdk.local import default_data_dir, local_key

CONFIG_ENV = "TRACEHOUSE_CONFIG"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class SettingsError(BadInput, ValueError):
    """A setting that cannot be used; the message is one line naming it."""


class Settings(BaseSettings):
    """Everything `tracehouse serve` can be told."""

    model_config = SettingsConfigDict(env_prefix="TRACEHOUSE_", extra="forbid", validate_default=True)

    host: str = Field("127.0.0.1", description="Address to listen on (OTLP/HTTP, API and dashboard).")
    port: int = Field(4318, ge=0, le=65535, description="OTLP/HTTP, JSON API and dashboard port.")
    grpc_port: int = Field(4317, ge=0, le=65535, description="OTLP/gRPC port (0 picks a free port; -1 is not allowed).")
    data_dir: Path = Field(default_factory=default_data_dir, description="Embedded store, spool and admin token.")
    dsn: str | None = Field(
        None,
        description="ClickHouse DSN: chdb:///dir (embedded, default: <data-dir>/clickhouse) or http(s)://host:8123/db.",
    )
    database: str = Field("tracehouse", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="Database name.")
    no_auth: bool = Field(False, description="Accept requests without a key (loopback addresses only).")
    public_metrics: bool | None = Field(
        None,
        description="Serve /metrics, /docs and /openapi.json without a key (default: yes when host is a loopback "
        "address, no otherwise: then any valid API key opens them).",
    )
    retention_days: int = Field(30, ge=1, le=3650, description="Days of data kept (TTL on every table).")
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Largest OTLP request, after decompression.")
    spool_max_bytes: int = Field(1024 * 1024 * 1024, ge=1024 * 1024, description="Spool size at which ingest says 503.")
    spool_segment_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024, description="Spool segment size before rolling.")
    spool_min_free_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Free disk the spool leaves untouched; below it ingest says 503."
    )
    writer_max_attempts: int = Field(
        3, ge=1, le=100, description="Failures (not outages) before a batch is split and a record quarantined."
    )
    writer_processes: int = Field(2, ge=1, le=32, description="Encoder worker processes (normalise + serialise).")
    writer_batch_spans: int = Field(50_000, ge=1, description="Most spans in one ClickHouse insert.")
    writer_flush_ms: int = Field(500, ge=10, description="Longest a span waits in the spool before an insert.")
    prices: Path | None = Field(None, description="TOML price file that extends/overrides the shipped price table.")
    detect: bool = Field(True, description="Run the loop / duplicate / retry-storm detectors on new traces.")
    finalise_quiet_s: float = Field(
        3.0, gt=0, le=3600, description="Settle a trace written by several batches once it is quiet this long."
    )
    finalise_max_delay_s: float = Field(
        30.0, gt=0, le=86400, description="Settle a trace that keeps growing at least this often."
    )
    alerts_file: Path | None = Field(None, description="Alert rules file (TOML or YAML); default rules otherwise.")
    online_suites: list[Path] = Field(
        default_factory=list, description="Eval suite files run continuously on newly arrived traces."
    )
    online_interval_s: float = Field(30.0, gt=0, description="How often online evals look for new traces.")
    log_level: str = Field("info", pattern=r"^(debug|info|warning|error)$", description="Server log level.")

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.no_auth and self.host not in LOOPBACK_HOSTS:
            raise ValueError("no_auth: only allowed when host is a loopback address (127.0.0.1, localhost, ::1)")
        if self.dsn is not None and not self.dsn.startswith(("chdb://", "http://", "https://")):
            raise ValueError("dsn: must start with chdb://, http:// or https://")
        return self

    @property
    def ops_public(self) -> bool:
        """Whether /metrics, /docs and /openapi.json answer without a key (see `public_metrics`)."""
        return self.public_metrics if self.public_metrics is not None else self.host in LOOPBACK_HOSTS

    @property
    def store_dsn(self) -> str:
        return self.dsn or f"chdb://{self.data_dir / 'clickhouse'}"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = os.environ.get(CONFIG_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)


DEFAULT_URL = "http://127.0.0.1:4318"


class ClientSettings(BaseSettings):
    """What every command that talks to a running server is told: where it is, with which key, for which project.

    Flags (`client_options`) override `TRACEHOUSE_URL`, `TRACEHOUSE_API_KEY`, `TRACEHOUSE_PROJECT` and
    `TRACEHOUSE_DATA_DIR`. Without a key, the key a local server made at its first start is used.
    """

    model_config = SettingsConfigDict(env_prefix="TRACEHOUSE_", extra="ignore")

    url: str | None = Field(
        None, pattern=r"^https?://", description=f"The tracehouse server (TRACEHOUSE_URL) [{DEFAULT_URL}]."
    )
    api_key: str | None = Field(
        None, description="Project API key (TRACEHOUSE_API_KEY) [the local server's: <data-dir>/default-key]."
    )
    project: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Project (TRACEHOUSE_PROJECT): the one --dsn reads and writes, or that keys are made for; over a "
        "server the key decides, and a different --project is refused.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="The local server's data directory: its first key and admin token (TRACEHOUSE_DATA_DIR).",
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def server_url(self) -> str:
        return (self.url or DEFAULT_URL).rstrip("/")

    @property
    def key(self) -> str | None:
        return self.api_key or local_key(self.data_dir)


# The flag of each client setting; an old flag name stays as a hidden alias for one release (0.x -> 0.y).
CLIENT_FLAGS = {"url": "--server", "api_key": "--api-key", "project": "--project", "data_dir": "--data-dir"}
CLIENT_ALIASES = {"url": ("--endpoint",)}


def client_options(*names: str) -> Callable[[Any], Any]:
    """The flags every client command shares, made from `ClientSettings` (all of them unless `names` says which);
    the command receives them as one `client: ClientSettings` argument."""
    chosen = names or tuple(CLIENT_FLAGS)

    def decorate(fn: Any) -> Any:
        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name, None) for name in CLIENT_FLAGS}
            for name, aliases in CLIENT_ALIASES.items():
                for alias in aliases:
                    old = kwargs.pop(_dest(alias), None)
                    given[name] = given[name] or old
            kwargs["client"] = load_client_settings(**given)
            return fn(*args, **kwargs)

        for name in reversed(chosen):
            info = ClientSettings.model_fields[name]
            kind = click.Path(file_okay=False, path_type=Path) if name == "data_dir" else str
            command = click.option(CLIENT_FLAGS[name], name, type=kind, default=None, help=info.description)(command)
            for alias in CLIENT_ALIASES.get(name, ()):
                command = click.option(alias, _dest(alias), type=kind, default=None, hidden=True)(command)
        return command

    return decorate


direct_dsn_option = click.option(
    "--dsn",
    envvar="TRACEHOUSE_DSN",
    default=None,
    help="Read and write ClickHouse directly (http(s)://user:pass@host:8123/db) instead of a server (TRACEHOUSE_DSN).",
)


def _dest(alias: str) -> str:
    return "alias_" + alias.removeprefix("--").replace("-", "_")


def load_client_settings(**given: Any) -> ClientSettings:
    """Client settings from flags (None meaning "not given") over the environment; one-line errors."""
    try:
        return ClientSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        raise SettingsError(f"{CLIENT_FLAGS.get(name, name)}: {first['msg']}") from None


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from flags (`overrides`, None meaning "not given"), environment and config file; one-line errors."""
    given = {k: v for k, v in overrides.items() if v is not None}
    previous = os.environ.get(CONFIG_ENV)
    try:
        if config_file is not None:
            if not Path(config_file).is_file():
                raise SettingsError(f"config: no such file {config_file}")
            os.environ[CONFIG_ENV] = str(config_file)
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise SettingsError(f"{where}: {first['msg']}") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"config: {exc}") from None
    finally:
        if config_file is not None:
            if previous is None:
                os.environ.pop(CONFIG_ENV, None)
            else:
                os.environ[CONFIG_ENV] = previous
