"""Batch identity and poison batches, through the real writer, encoder processes and embedded store.

Two spools writing to one store lose nothing; an insert that landed before its checkpoint was written counts once on
replay; a record that cannot be encoded is quarantined after N tries and never blocks the records behind it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector.otlp_builders import make_request, make_span
from tracehouse.collector.metrics import CollectorMetrics
from tracehouse.collector.quarantine import Quarantine
from tracehouse.collector.spool import Spool
from tracehouse.collector.writer import Writer
from tracehouse.store import Store, StoreError


def _payload(trace_id: bytes, spans: int) -> bytes:
    now = time.time_ns()
    return make_request(
        *(make_span(f"s{i}", trace_id=trace_id, span_id=os.urandom(8), start=now, end=now + 1000) for i in range(spans))
    ).SerializeToString()


def _counts(store: Store, project_id: str) -> dict[str, int]:
    """Rows as inserted (no FINAL: a replayed batch that was not dropped would show here) and distinct spans."""
    (row,) = store.rows(
        "SELECT count() AS rows, uniqExact(span_id) AS spans, uniqExact(version) AS versions"
        " FROM {db}.steps WHERE project_id = {p:String}",
        {"p": project_id},
    )
    return {k: int(v) for k, v in row.items()}


def _summary_spans(store: Store, project_id: str) -> int:
    rows = store.rows(
        "SELECT uniqExactMerge(spans) AS n FROM {db}.traces WHERE project_id = {p:String}", {"p": project_id}
    )
    return int(rows[0]["n"]) if rows else 0


def _drain(writer: Writer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while writer.spool.last_seq > writer.spool.checkpoint:
        assert time.monotonic() < deadline, f"writer stuck at {writer.spool.checkpoint}: {writer.last_error}"
        try:
            writer.step()
        except Exception as exc:  # what the writer's loop does with a failure
            writer._failed(exc)


@pytest.fixture
def writers(store: Store) -> Iterator[list[Writer]]:
    made: list[Writer] = []
    yield made
    for writer in made:
        for encoder in writer._encoders:
            encoder.close()
        writer.spool.close()


def _writer(store: Store, directory: Path, made: list[Writer], **kwargs: Any) -> Writer:
    spool = Spool(directory, max_bytes=64 * 1024 * 1024)
    writer = Writer(spool, store, CollectorMetrics(), processes=1, flush_ms=10, **kwargs)
    made.append(writer)
    return writer


def test_two_spools_writing_to_one_store_lose_nothing(
    store: Store, project_id: str, tmp_path: Path, writers: list[Writer]
) -> None:
    a = _writer(store, tmp_path / "a", writers)
    b = _writer(store, tmp_path / "b", writers)
    assert a.spool.id != b.spool.id
    for writer in (a, b):  # the same sequence numbers (1..5) in both spools
        for _ in range(5):
            writer.spool.append(project_id, _payload(os.urandom(16), 10))
    _drain(a)
    _drain(b)
    assert _counts(store, project_id)["rows"] == 100
    assert _counts(store, project_id)["spans"] == 100


def test_insert_landed_checkpoint_lost_replays_once(
    store: Store, project_id: str, tmp_path: Path, writers: list[Writer]
) -> None:
    directory = tmp_path / "spool"
    first = _writer(store, directory, writers)
    for _ in range(4):
        first.spool.append(project_id, _payload(os.urandom(16), 25))

    def crash(last_seq: int) -> None:  # the process dies after the insert, before the checkpoint
        raise SystemExit("crash after insert")

    first.spool.commit = crash
    with pytest.raises(SystemExit):
        first.step()
    landed = _counts(store, project_id)
    assert landed["rows"] == 100 and first.spool.intent() is not None
    writers.remove(first)
    for encoder in first._encoders:
        encoder.close()
    first.spool.close()

    again = _writer(store, directory, writers)
    _drain(again)
    assert again.spool.checkpoint == 4 and again.spool.intent() is None
    after = _counts(store, project_id)
    assert after == landed  # same rows, same version: the replay was dropped by its token
    assert _summary_spans(store, project_id) == 100


def test_poison_record_is_quarantined_and_the_records_behind_it_are_written(
    store: Store, project_id: str, tmp_path: Path, writers: list[Writer]
) -> None:
    writer = _writer(store, tmp_path / "spool", writers, max_attempts=2)
    writer.spool.append(project_id, _payload(os.urandom(16), 3))
    poison = writer.spool.append(project_id, b"\x0a\xff\xff\xff\xff\x0f not a protobuf")
    for _ in range(6):
        writer.spool.append(project_id, _payload(os.urandom(16), 3))
    _drain(writer)
    assert _counts(store, project_id)["rows"] == 21
    quarantine = Quarantine(tmp_path / "spool")
    assert quarantine.seqs() == [poison]
    held = quarantine.get(poison)
    assert held.record.project_id == project_id and "DecodeError" in held.reason
    assert writer.metrics.quarantined._value.get() == 1
    ok, problems = writer.problems()
    assert ok and any("quarantine" in p for p in problems)


def test_a_failed_insert_with_a_batch_in_flight_never_leaves_the_writer_waiting(
    store: Store, project_id: str, tmp_path: Path, writers: list[Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refuses one insert while the next batch is in an encoder: the writer drops both batches, stops the
    encoder that holds one, and goes on (before, the next submit blocked forever on a pipe no one read)."""
    writer = _writer(store, tmp_path / "spool", writers, max_attempts=5)
    writer._slice_bytes = 256 * 1024  # small batches, so a second one is read ahead while the first is inserted
    for _ in range(12):
        writer.spool.append(project_id, _payload(os.urandom(16), 300))  # ~100 KB each: more than a pipe buffer
    real_insert = store.insert_native
    refused: list[str] = []

    def refuse_once(*args: Any, **kwargs: Any) -> None:
        if not refused:
            refused.append(kwargs["dedup_token"])
            raise StoreError("Code: 27. DB::Exception: Cannot parse input")
        real_insert(*args, **kwargs)

    monkeypatch.setattr(store, "insert_native", refuse_once)
    done = threading.Thread(target=_drain, args=(writer,), daemon=True)
    done.start()
    done.join(90)
    assert not done.is_alive(), "the writer is waiting on a batch no encoder holds"
    assert refused and writer._ahead is None
    assert _counts(store, project_id)["rows"] == 12 * 300


def test_a_writer_that_cannot_get_past_a_batch_reports_itself_stuck(
    store: Store, project_id: str, tmp_path: Path, writers: list[Writer]
) -> None:
    writer = _writer(store, tmp_path / "spool", writers, max_attempts=10**9, stall_seconds=0.5)
    writer.spool.append(project_id, b"\x0a\xff\xff\xff\xff\x0f not a protobuf")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            writer.step()
        except Exception as exc:
            writer._failed(exc)
            writer.last_error = str(exc).splitlines()[-1]
    ok, problems = writer.problems()
    assert not ok and any("writer stuck" in p for p in problems), problems
