"""Where a background job got to (`job_cursors`): one number per job, so a restart resumes instead of re-scanning."""

from __future__ import annotations

from datetime import UTC, datetime

from tracehouse.store.client import Store


def read_cursor(store: Store, name: str) -> int | None:
    rows = store.rows("SELECT value FROM {db}.job_cursors FINAL WHERE name = {n:String}", {"n": name})
    return int(rows[0]["value"]) if rows else None


def write_cursor(store: Store, name: str, value: int) -> None:
    store.insert("job_cursors", [[name], [value], [datetime.now(UTC)]], ["name", "value", "updated_at"])
