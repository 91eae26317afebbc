"""The one way into ClickHouse: a `Store` built from a DSN, with a client per thread and the migration runner.

`chdb:///dir` opens the embedded engine in this process, `http(s)://user:pass@host:port/db` a ClickHouse server;
both are clickhouse-connect clients, so the same SQL and the same Native-format inserts serve both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from clickhouse_connect.driver.query import QueryResult

from tracehouse.errors import ServerError, Unavailable
from tracehouse.store.schema import (
    DEFAULT_RETENTION_DAYS,
    SCHEMA_VERSION,
    SchemaOptions,
    single_node_ddl,
)

log = logging.getLogger(__name__)


class StoreError(ServerError, RuntimeError):
    """Base of the store's errors: a fault of the server's (its detail goes to the log, not to the HTTP answer)."""

    @property
    def public_message(self) -> str:
        return "the store could not answer this query"


class StoreUnavailable(StoreError, Unavailable):
    """ClickHouse cannot be reached (or the embedded store is owned by another process)."""

    http_status = 503

    @property
    def public_message(self) -> str:
        return "store unavailable: the store cannot be reached right now; try again shortly"


class BadDSN(StoreError, ValueError):
    """A DSN this store cannot use."""


@dataclass(frozen=True)
class DSN:
    """A parsed store address."""

    raw: str
    embedded: bool
    database: str

    @classmethod
    def parse(cls, raw: str, default_database: str = "tracehouse") -> DSN:
        parsed = urlparse(raw)
        if parsed.scheme == "chdb":
            if not parsed.path or parsed.path == "/":
                raise BadDSN(f"embedded DSN needs a directory, e.g. chdb:///var/lib/tracehouse (got {raw!r})")
            return cls(raw=f"chdb://{parsed.path}", embedded=True, database=default_database)
        if parsed.scheme in ("http", "https", "clickhouse"):
            if not parsed.hostname:
                raise BadDSN(f"ClickHouse DSN needs a host, e.g. http://user:pass@host:8123/db (got {raw!r})")
            database = parsed.path.strip("/") or default_database
            return cls(raw=raw.replace("clickhouse://", "http://", 1), embedded=False, database=database)
        raise BadDSN(f"unsupported DSN scheme {parsed.scheme or '(none)'!r}: use chdb:///dir or http(s)://host:8123/db")

    def redacted(self) -> str:
        parsed = urlparse(self.raw)
        if parsed.password:
            return self.raw.replace(f":{parsed.password}@", ":***@", 1)
        return self.raw


_TRANSIENT_SETTINGS = {
    # A replayed spool batch (same token) is dropped by the table and by the trace-summary view alike.
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}


class Store:
    """A connection to one tracehouse database; safe to share between threads (each thread gets its own client)."""

    def __init__(self, dsn: str | DSN, *, connect_timeout: float = 3.0, query_timeout: float = 30.0) -> None:
        self.dsn = dsn if isinstance(dsn, DSN) else DSN.parse(dsn)
        self.database = self.dsn.database
        self._connect_timeout = connect_timeout
        self._query_timeout = query_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[Client] = []

    # -- connections -------------------------------------------------------------------------------------------
    def client(self) -> Client:
        """This thread's client, created on first use."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._connect()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _connect(self) -> Client:
        try:
            if self.dsn.embedded:
                return clickhouse_connect.get_client(dsn=self.dsn.raw)
            return clickhouse_connect.get_client(
                dsn=self.dsn.raw,
                database="default",
                connect_timeout=self._connect_timeout,
                send_receive_timeout=self._query_timeout,
                autogenerate_session_id=False,
            )
        except Exception as exc:  # clickhouse-connect raises several types for "cannot reach"
            raise StoreUnavailable(f"cannot open store {self.dsn.redacted()}: {_first_line(exc)}") from exc

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                try:
                    client.close()
                except Exception:  # closing a dead connection must not mask the caller's own error
                    log.debug("closing a store client failed", exc_info=True)
            self._clients.clear()
        self._local = threading.local()

    # -- statements ----------------------------------------------------------------------------------------------
    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a SELECT with bound parameters; `{db}` in the text names this store's database."""
        try:
            return self.client().query(sql.replace("{db}", self.database), parameters=dict(parameters or {}))
        except ClickHouseError as exc:
            raise _wrap(exc) from exc

    def rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """A SELECT's rows as dicts keyed by column name."""
        result = self.query(sql, parameters)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.client().command(sql.replace("{db}", self.database), parameters=dict(parameters or {}))
        except ClickHouseError as exc:
            raise _wrap(exc) from exc

    def insert(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """A column-oriented Native insert; `dedup_token` makes a re-sent block a no-op."""
        settings: dict[str, Any] = dict(_TRANSIENT_SETTINGS)
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        try:
            self.client().insert(
                f"{self.database}.{table}",
                list(columns),
                column_names=list(column_names),
                column_oriented=True,
                settings=settings,
            )
        except ClickHouseError as exc:
            raise _wrap(exc) from exc

    def insert_native(
        self, table: str, column_names: Sequence[str], block: bytes, *, dedup_token: str | None = None
    ) -> None:
        """Insert rows already serialised in ClickHouse's Native format (built off-thread, e.g. by the encoder)."""
        settings: dict[str, Any] = dict(_TRANSIENT_SETTINGS)
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        try:
            self.client().raw_insert(f"{self.database}.{table}", list(column_names), block, settings, fmt="Native")
        except ClickHouseError as exc:
            raise _wrap(exc) from exc

    def column_types(self, table: str) -> dict[str, str]:
        """Column name -> ClickHouse type of one table, as the server reports it."""
        rows = self.rows(
            "SELECT name, type FROM system.columns WHERE database = {d:String} AND table = {t:String}",
            {"d": self.database, "t": table},
        )
        return {r["name"]: r["type"] for r in rows}

    def ping(self) -> bool:
        try:
            self.command("SELECT 1")
            return True
        except StoreError:
            return False

    # -- schema --------------------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self.command(
            "SELECT count() FROM system.tables WHERE database = {d:String} AND name = 'schema_migrations'",
            {"d": self.database},
        )
        if not int(exists):
            return 0
        return int(self.command("SELECT max(version) FROM {db}.schema_migrations"))

    def migrate(self, retention_days: int | None = None) -> int:
        """Bring the schema to SCHEMA_VERSION; safe to run on every start and concurrently from replicas."""
        options = SchemaOptions(database=self.database, retention_days=retention_days or DEFAULT_RETENTION_DAYS)
        current = self.schema_version()
        for statement in single_node_ddl(options, since_version=current):
            self.command(statement)
        self.command(
            "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, applied_at DateTime DEFAULT now())"
            " ENGINE = ReplacingMergeTree ORDER BY version"
        )
        if current < SCHEMA_VERSION:
            self.insert("schema_migrations", [[SCHEMA_VERSION]], ["version"])
        if retention_days is not None:  # only when asked: a bare migrate() must not reset every TTL to the default
            from tracehouse.store.migrations import apply_retention  # it imports this module

            apply_retention(self, retention_days)
        return SCHEMA_VERSION


_UNAVAILABLE_HINTS = ("connection refused", "timed out", "max retries", "cannot lock file", "name or service")


def as_utc(value: datetime) -> datetime:
    """A time read back from the store, as an aware UTC datetime (chDB may hand DateTime64 back without its zone).
    Any naive time in tracehouse means UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """A time as the JSON API spells it: RFC 3339 in UTC, "Z" for the zone."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _wrap(exc: ClickHouseError) -> StoreError:
    message = _first_line(exc)
    lowered = str(exc).lower()
    if any(s in lowered for s in _UNAVAILABLE_HINTS):
        return StoreUnavailable(message)
    return StoreError(message)
