"""The writer: drains the spool into ClickHouse in large batches.

A batch is a run of spool records. Worker processes (collector.encoder) decode, normalise and serialise it while
this process inserts the previous one, so the cores share the work. Records are split between the workers by the
process that sent them, so the spans of one sender's traces meet their ancestors in one worker's batch.

Before inserting, the writer records the batch's bounds (the spool's intent file); the insert carries a
deduplication token made of those bounds, and the batch's last sequence number is the rows' `version`. After a crash
the same records form the same batch with the same token, so ClickHouse drops the replay if the first insert had
landed. A failing store is retried with backoff forever: the spool holds the data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tracehouse.collector.encoder import Encoded, EncodeError, EncoderProcess, RawRecord
from tracehouse.collector.metrics import CollectorMetrics
from tracehouse.collector.normalise import Limits
from tracehouse.collector.spool import Record, Spool
from tracehouse.collector.store import Store, StoreError
from tracehouse.collector.store.steps import STEP_COLUMNS
from tracehouse.collector.versions import batch_version

log = logging.getLogger(__name__)

_BYTES_PER_SPAN_GUESS = 400  # to size a batch in spool bytes before decoding it
_MAX_BACKOFF = 5.0


class _Router:
    """Sending process -> encoder: a new source goes to the encoder with the fewest sources, then stays there."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._assigned: dict[int, int] = {}
        self._load = [0] * workers

    def __call__(self, source: int) -> int:
        worker = self._assigned.get(source)
        if worker is None:
            worker = self._load.index(min(self._load))
            self._assigned[source] = worker
            self._load[worker] += 1
        return worker


class _Batch:
    def __init__(self, records: list[Record], route: _Router) -> None:
        self.first, self.last = records[0].seq, records[-1].seq
        self.parts: list[list[Record]] = [[] for _ in range(route.workers)]
        for record in records:
            self.parts[route(record.source)].append(record)
        self.encoded: list[Encoded] | None = None
        self.formed_ns = time.time_ns()

    @property
    def token(self) -> str:
        return f"spool-{self.first}-{self.last}"


class Writer:
    """Spool -> encoder process -> ClickHouse. `start()` runs it in a thread; `stop()` writes what it can first."""

    def __init__(
        self,
        spool: Spool,
        store: Store,
        metrics: CollectorMetrics,
        *,
        prices_path: Path | None = None,
        processes: int = 2,
        batch_spans: int = 50_000,
        flush_ms: int = 500,
        limits: Limits | None = None,
        ensure_schema: Callable[[], object] | None = None,
    ) -> None:
        self.spool = spool
        self.store = store
        self.metrics = metrics
        self.batch_bytes = max(batch_spans * _BYTES_PER_SPAN_GUESS, 64 * 1024)
        self.flush_seconds = flush_ms / 1000
        self._prices_path = prices_path
        self._limits = limits or Limits()
        self._ensure_schema = ensure_schema
        self._processes = processes
        self._route = _Router(processes)
        self._encoders: list[EncoderProcess] = []
        self._current: _Batch | None = None  # encoded (or being encoded), to be inserted next
        self._ahead: _Batch | None = None  # read ahead and submitted to the encoder
        self.healthy = True
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracehouse-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop, then write what the spool still holds (what cannot be written stays spooled)."""
        self._stop.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.drain(timeout)
            for encoder in self._encoders:
                encoder.close()

    # -- the loop --------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                wrote = self.step()
                backoff = 0.1
                self.healthy, self.last_error = True, ""
                if not wrote:
                    self.spool.wait(self.flush_seconds)
            except (StoreError, EncodeError) as exc:
                self.metrics.write_errors.inc()
                self.healthy, self.last_error = False, str(exc).splitlines()[-1]
                log.warning("writing a batch failed, retrying in %.1fs: %s", backoff, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            except Exception:  # a bug must not stop ingestion for good; the batch stays spooled and is retried
                self.metrics.write_errors.inc()
                log.exception("writer failed on a batch; retrying")
                self._current = self._ahead = None
                self._stop.wait(1.0)
            finally:
                self.metrics.spool_bytes.set(self.spool.pending_bytes())
                self.metrics.spool_lag.set(self.spool.last_seq - self.spool.checkpoint)

    def _encoder_processes(self) -> list[EncoderProcess]:
        if not self._encoders:
            if self._ensure_schema is not None:
                self._ensure_schema()  # the store was down when the server started
                self._ensure_schema = None
            types = self.store.column_types("steps")
            column_types = [types[c] for c in STEP_COLUMNS]
            self._encoders = [EncoderProcess(column_types, self._prices_path, self._limits)
                              for _ in range(self._processes)]  # fmt: skip
        return self._encoders

    def _read(self, after_seq: int, fill: bool) -> list[Record]:
        """Records after `after_seq`; with `fill`, wait up to flush_ms for a batch worth inserting."""
        records = self.spool.read(after_seq, 100_000, self.batch_bytes)
        deadline = time.monotonic() + self.flush_seconds
        while fill and records and sum(len(r.payload) for r in records) < self.batch_bytes // 4:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            self.spool.wait(min(remaining, 0.05))
            records.extend(self.spool.read(records[-1].seq, 100_000, self.batch_bytes))
        return records

    def _first_batch(self) -> _Batch | None:
        intent = self.spool.intent()
        if intent is not None:  # a crash interrupted this batch: re-form exactly it
            records = self.spool.read(intent.first_seq - 1, intent.last_seq - intent.first_seq + 1, 1 << 62)
            records = [r for r in records if r.seq <= intent.last_seq]
        else:
            records = self._read(self.spool.checkpoint, fill=True)
        return _Batch(records, self._route) if records else None

    def _submit(self, batch: _Batch) -> None:
        for index, (encoder, part) in enumerate(zip(self._encoder_processes(), batch.parts, strict=True)):
            if part:
                records = [RawRecord(r.seq, r.project_id, r.payload) for r in part]
                encoder.submit(records, batch_version(batch.formed_ns, index))

    def _results(self, batch: _Batch) -> list[Encoded]:
        encoded = []
        failed: EncodeError | None = None
        for encoder, part in zip(self._encoder_processes(), batch.parts, strict=True):
            if part:
                try:
                    encoded.append(encoder.result())
                except EncodeError as exc:
                    failed = exc
        if failed is not None:
            raise failed
        return encoded

    def step(self) -> int:
        """Insert one batch (while the encoder works on the next); the number of rows written, 0 when idle."""
        if self._current is None:
            self._current = self._first_batch()
            if self._current is None:
                return 0
            self._submit(self._current)
        batch = self._current
        if batch.encoded is None:
            try:
                batch.encoded = self._results(batch)
            except EncodeError:
                self._submit(batch)  # resubmit the same records; raise so the loop backs off
                raise
        if self._ahead is None:
            ahead = self._read(batch.last, fill=False)
            if ahead:
                self._ahead = _Batch(ahead, self._route)
                self._submit(self._ahead)
        encoded = batch.encoded
        block = b"".join(e.block for e in encoded)  # Native blocks concatenate into one stream: one insert
        self.spool.begin(batch.first, batch.last)
        if block:
            self.store.insert_native("steps", STEP_COLUMNS, block, dedup_token=batch.token)
        self.spool.commit(batch.last)
        steps = sum(e.steps for e in encoded)
        self.metrics.spans_written.inc(steps)
        self.metrics.attributes_dropped.inc(sum(e.dropped_attributes for e in encoded))
        self._current, self._ahead = self._ahead, None
        return steps or 1

    def drain(self, timeout: float) -> bool:
        """Write until the spool is empty or `timeout` passes (used on shutdown)."""
        deadline = time.monotonic() + timeout
        while self.spool.last_seq > self.spool.checkpoint and time.monotonic() < deadline:
            try:
                self.step()
            except (StoreError, EncodeError):
                return False
        return self.spool.last_seq <= self.spool.checkpoint
