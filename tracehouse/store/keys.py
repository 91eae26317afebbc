"""API keys -> projects. Keys are stored only as SHA-256 hashes (they are 190-bit random tokens, so a slow hash adds
nothing). The key ring keeps a snapshot of the table that a background thread refreshes, so a key created or revoked
by another process takes effect within a few seconds, and a request never waits for the store: with a remote store
down, a lookup on the OTLP/HTTP event loop would otherwise stall ingest, `/healthz` and `/readyz` together."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from tracehouse.store.client import Store, StoreError, StoreUnavailable, as_utc

KEY_PREFIX = "th_"
DEFAULT_PROJECT = "default"
_REFRESH_SECONDS = 5.0

log = logging.getLogger(__name__)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class KeyRecord:
    key_hash: str
    project_id: str
    name: str
    prefix: str  # the first characters of the key, to recognise it in a list
    created_at: datetime
    revoked: bool


class KeyRing:
    """Looks up the project of a presented key in a snapshot; creates, lists and revokes keys in the store.

    `start()` runs the refresher thread (the server does); without it the snapshot changes only through this ring's
    own `create`, `revoke`, `list` and `refresh` calls, which read the table straight away.
    """

    def __init__(self, store: Store, refresh_seconds: float = _REFRESH_SECONDS) -> None:
        self._store = store
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._by_hash: dict[str, KeyRecord] | None = None  # replaced whole, never mutated: readers need no lock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tracehouse-keyring", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.refresh()
                failing = False
            except StoreError as exc:
                if not failing:  # once per outage, not every few seconds
                    log.warning("cannot refresh API keys (using the last snapshot): %s", exc)
                failing = True
            self._stop.wait(self._refresh_seconds)

    def refresh(self) -> None:
        """Read the key table now and replace the snapshot."""
        rows = self._store.rows(
            "SELECT key_hash, project_id, name, prefix, created_at, revoked FROM {db}.api_keys FINAL"
        )
        records = {
            r["key_hash"]: KeyRecord(
                key_hash=r["key_hash"],
                project_id=r["project_id"],
                name=r["name"],
                prefix=r["prefix"],
                created_at=as_utc(r["created_at"]),
                revoked=bool(r["revoked"]),
            )
            for r in rows
        }
        with self._lock:
            self._by_hash = records

    def project_for(self, key: str | None) -> str | None:
        """The project of an active key, or None; never queries the store (StoreUnavailable before a first load)."""
        if not key:
            return None
        snapshot = self._by_hash
        if snapshot is None:
            raise StoreUnavailable("cannot check API keys: the store has not answered since this server started")
        record = snapshot.get(hash_key(key))
        return record.project_id if record is not None and not record.revoked else None

    def create(self, project_id: str, name: str = "") -> tuple[str, KeyRecord]:
        """A new key for `project_id`; the plain key is returned once and never stored."""
        if not project_id or len(project_id) > 64 or not project_id.replace("-", "").replace("_", "").isalnum():
            raise ValueError("project: 1-64 letters, digits, '-' or '_'")
        key = new_key()
        now = datetime.now(UTC)
        record = KeyRecord(hash_key(key), project_id, name, key[:10], now, False)
        self._write(record, now)
        self.refresh()
        return key, record

    def revoke(self, prefix_or_key: str) -> KeyRecord:
        """Revoke the key with this prefix (as `keys list` shows it) or this whole key."""
        self.refresh()
        digest = hash_key(prefix_or_key)
        matches = [r for r in (self._by_hash or {}).values() if r.key_hash == digest or r.prefix == prefix_or_key]
        if len(matches) != 1:
            raise KeyError(f"no single key matches {prefix_or_key!r}")
        now = datetime.now(UTC)
        record = KeyRecord(**{**matches[0].__dict__, "revoked": True})
        self._write(record, now)
        self.refresh()
        return record

    def list(self) -> list[KeyRecord]:
        self.refresh()
        return sorted((self._by_hash or {}).values(), key=lambda r: (r.project_id, r.created_at))

    def _write(self, record: KeyRecord, now: datetime) -> None:
        self._store.insert(
            "api_keys",
            [
                [record.key_hash],
                [record.project_id],
                [record.name],
                [record.prefix],
                [record.created_at],
                [int(record.revoked)],
                [now],
            ],
            ["key_hash", "project_id", "name", "prefix", "created_at", "revoked", "updated_at"],
        )
