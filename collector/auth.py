"""API keys -> projects. Keys are stored only as SHA-256 hashes (they are 190-bit random tokens, so a slow hash adds
nothing); the key ring caches the table and refreshes it, so a key created by another process is seen shortly."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tracehouse.collector.store.client import Store, StoreError, StoreUnavailable

KEY_PREFIX = "th_"
DEFAULT_PROJECT = "default"
_REFRESH_SECONDS = 5.0


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
    """Looks up the project of a presented key; creates, lists and revokes keys in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._by_hash: dict[str, KeyRecord] = {}
        self._loaded = False
        self._checked_at = 0.0

    def _refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._checked_at < _REFRESH_SECONDS:
            return
        self._checked_at = time.monotonic()  # also on failure: a store outage costs one attempt per interval
        rows = self._store.rows(
            "SELECT key_hash, project_id, name, prefix, created_at, revoked FROM {db}.api_keys FINAL"
        )
        records = {
            r["key_hash"]: KeyRecord(
                key_hash=r["key_hash"],
                project_id=r["project_id"],
                name=r["name"],
                prefix=r["prefix"],
                created_at=r["created_at"].replace(tzinfo=UTC),
                revoked=bool(r["revoked"]),
            )
            for r in rows
        }
        with self._lock:
            self._by_hash = records
            self._loaded = True

    def project_for(self, key: str | None) -> str | None:
        """The project of an active key, or None."""
        if not key:
            return None
        try:
            self._refresh()  # at most every few seconds: new and revoked keys take effect that soon
        except StoreError:
            if not self._loaded:
                raise StoreUnavailable("cannot check API keys: the store is unreachable") from None
        record = self._by_hash.get(hash_key(key))
        return record.project_id if record is not None and not record.revoked else None

    def create(self, project_id: str, name: str = "") -> tuple[str, KeyRecord]:
        """A new key for `project_id`; the plain key is returned once and never stored."""
        if not project_id or len(project_id) > 64 or not project_id.replace("-", "").replace("_", "").isalnum():
            raise ValueError("project: 1-64 letters, digits, '-' or '_'")
        key = new_key()
        now = datetime.now(UTC)
        record = KeyRecord(hash_key(key), project_id, name, key[:10], now, False)
        self._write(record, now)
        self._refresh(force=True)
        return key, record

    def revoke(self, prefix_or_key: str) -> KeyRecord:
        """Revoke the key with this prefix (as `keys list` shows it) or this whole key."""
        self._refresh(force=True)
        digest = hash_key(prefix_or_key)
        matches = [r for r in self._by_hash.values() if r.key_hash == digest or r.prefix == prefix_or_key]
        if len(matches) != 1:
            raise KeyError(f"no single key matches {prefix_or_key!r}")
        now = datetime.now(UTC)
        record = KeyRecord(**{**matches[0].__dict__, "revoked": True})
        self._write(record, now)
        self._refresh(force=True)
        return record

    def list(self) -> list[KeyRecord]:
        self._refresh(force=True)
        return sorted(self._by_hash.values(), key=lambda r: (r.project_id, r.created_at))

    def _write(self, record: KeyRecord, now: datetime) -> None:
        self._store.insert(
            "api_keys",
            [[record.key_hash], [record.project_id], [record.name], [record.prefix], [record.created_at],
             [int(record.revoked)], [now]],
            ["key_hash", "project_id", "name", "prefix", "created_at", "revoked", "updated_at"],
        )  # fmt: skip
