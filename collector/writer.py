"""The writer: drains the spool into ClickHouse in large batches.

A batch is a run of spool records. Worker processes (collector.encoder) decode, normalise and serialise it while
this process inserts the previous one, so the cores share the work. Records are split between the workers by the
process that sent them, so the spans of one sender's traces meet their ancestors in one worker's batch.

Identity: a batch is fixed when it is formed. Its rows' `version` is `versions.batch_version(formed_at, part)`
(time-ordered across collectors; `part` is the encoder worker), and its insert carries the deduplication token
`spool-{spool id}-{first seq}-{last seq}`, unique across spools. Before inserting, the writer records the batch's
bounds and formed-at time (the spool's intent file); after a crash the same records form the same batch with the same
version and token, so ClickHouse drops the replay if the first insert had landed.

Failures come in two kinds:

- an outage (the store unreachable, a full disk, the spool's own files failing): the same batch is retried with
  backoff, forever; the spool holds the data and ingest answers 503 once the spool is full;
- anything else (a batch that fails to encode, the store refusing its rows, a bug): counted against the batch.
  After `max_attempts` failures the batch is bisected (its halves become batches of their own), and a single record
  that still fails is moved to the quarantine (`collector.quarantine`) and the checkpoint passes it, so a poison
  record never blocks the batches behind it.

After a start the writer reads in bounded slices (the first batch is at most `_FIRST_SLICE_BYTES`, doubling after
each insert up to the batch size), so a collector that crashes quickly still makes progress through its backlog.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tracehouse.collector.encoder import Encoded, EncoderProcess, RawRecord
from tracehouse.collector.metrics import CollectorMetrics
from tracehouse.collector.normalise import Limits
from tracehouse.collector.quarantine import Quarantine
from tracehouse.collector.spool import Intent, Record, Spool
from tracehouse.store import Store, StoreError, StoreUnavailable
from tracehouse.store.steps import STEP_COLUMNS
from tracehouse.store.versions import batch_version

log = logging.getLogger(__name__)

_BYTES_PER_SPAN_GUESS = 400  # to size a batch in spool bytes before decoding it
_MAX_BACKOFF = 5.0
_FIRST_SLICE_BYTES = 1024 * 1024
_MAX_RECORDS = 100_000
# Store errors that say "not now" rather than "not these rows": retried like an outage, never quarantined.
_OUTAGE_HINTS = (
    "no space left",
    "not enough space",
    "too many parts",
    "timeout",
    "timed out",
    "connection",
    "reset by peer",
    "broken pipe",
    "network",
    "unavailable",
    "readonly",
    "keeper",
    "shutdown",
)


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says the store or the disk cannot work now, not that this batch is bad."""
    if isinstance(exc, StoreUnavailable | OSError):
        return True
    return isinstance(exc, StoreError) and any(hint in str(exc).lower() for hint in _OUTAGE_HINTS)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


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
    def __init__(self, records: list[Record], route: _Router, formed_at_ns: int, spool_id: str) -> None:
        self.records = records
        self.first, self.last = records[0].seq, records[-1].seq
        self.formed_at_ns = formed_at_ns
        self.token = f"spool-{spool_id}-{self.first}-{self.last}"
        self.parts: list[list[Record]] = [[] for _ in range(route.workers)]
        for record in records:
            self.parts[route(record.source)].append(record)
        self.encoded: list[Encoded] | None = None

    @property
    def intent(self) -> Intent:
        return Intent(self.first, self.last, self.formed_at_ns)


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
        max_attempts: int = 3,
        stall_seconds: float = 120.0,
    ) -> None:
        self.spool = spool
        self.store = store
        self.metrics = metrics
        self.quarantine = Quarantine(spool.directory)
        self.batch_bytes = max(batch_spans * _BYTES_PER_SPAN_GUESS, 64 * 1024)
        self.flush_seconds = flush_ms / 1000
        self.max_attempts = max_attempts
        self.stall_seconds = stall_seconds
        self._prices_path = prices_path
        self._limits = limits or Limits()
        self._ensure_schema = ensure_schema
        self._processes = processes
        self._route = _Router(processes)
        self._encoders: list[EncoderProcess] = []
        self._current: _Batch | None = None  # encoded (or being encoded), to be inserted next
        self._ahead: _Batch | None = None  # read ahead and submitted to the encoder
        self._slice_bytes = min(_FIRST_SLICE_BYTES, self.batch_bytes)
        self._limit_records: int | None = None  # while bisecting a failing batch: most records in one batch
        self._suspect_until = 0  # last seq of the batch that failed; bisecting ends past it
        self._failures = (0, 0)  # (first seq of the failing batch, failures so far)
        self._last_formed_ns = 0
        self._last_progress = time.monotonic()
        self._outage = False
        self.healthy = True
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracehouse-writer", daemon=True)
        metrics.quarantine_records.set(self.quarantine.count())

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

    def problems(self) -> tuple[bool, list[str]]:
        """(whether the writer keeps up its side of "ready", the problems to show on /readyz)."""
        problems: list[str] = []
        ok = True
        if self._thread.ident is not None and not self._thread.is_alive() and not self._stop.is_set():
            ok = False
            problems.append("writer thread is not running")
        behind = self.spool.last_seq > self.spool.checkpoint
        idle_for = time.monotonic() - self._last_progress
        if behind and not self._outage and idle_for > self.stall_seconds:
            ok = False
            problems.append(f"writer stuck: nothing written for {idle_for:.0f}s ({self.last_error or 'no error'})")
        elif not self.healthy:
            problems.append(f"writer retrying: {self.last_error}")
        quarantined = self.quarantine.count()
        if quarantined:
            problems.append(f"{quarantined} spool records in quarantine: see `tracehouse spool list`")
        return ok, problems

    # -- the loop --------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                wrote = self.step()
                backoff = 0.1
                self.healthy, self.last_error, self._outage = True, "", False
                if not wrote:
                    self._last_progress = time.monotonic()  # idle is not stuck
                    self.spool.wait(self.flush_seconds)
            except Exception as exc:  # every failure is handled here: the batch stays spooled
                self.metrics.write_errors.inc()
                self._outage = self._failed(exc)
                self.healthy, self.last_error = False, _one_line(exc)
                if self._outage:
                    log.warning("writing a batch failed, retrying in %.1fs: %s", backoff, self.last_error)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                else:  # counted against the batch: retried soon, then split or quarantined
                    log.warning("a batch failed (attempt %d): %s", self._failures[1], exc)
                    self._stop.wait(0.1 * max(self._failures[1], 1))
            finally:
                self.metrics.spool_bytes.set(self.spool.pending_bytes())
                self.metrics.spool_lag.set(self.spool.last_seq - self.spool.checkpoint)

    def _failed(self, exc: Exception) -> bool:
        """Account a failure; True when it is an outage (the same batch is retried as it is)."""
        if is_outage(exc):
            return True
        batch = self._current
        self._reset_pipeline()
        if batch is None:
            return False
        first, count = self._failures
        count = count + 1 if first == batch.first else 1
        self._failures = (batch.first, count)
        self._suspect_until = max(self._suspect_until, batch.last)
        self._limit_records = len(batch.records)  # re-form exactly this batch (no read-ahead while bisecting)
        if count < self.max_attempts:
            return False
        self._failures = (0, 0)
        if len(batch.records) > 1:
            self._limit_records = len(batch.records) // 2
            log.warning("batch %s failed %d times: splitting it in two", batch.token, count)
            return False
        record = batch.records[0]
        try:
            self.quarantine.put(record, _one_line(exc) if isinstance(exc, StoreError) else str(exc))
            self.spool.commit(record.seq)
        except OSError as disk:  # the disk is full: retry the record later, as an outage
            log.warning("could not quarantine spool record %d: %s", record.seq, disk)
            return True
        self.metrics.quarantined.inc()
        self.metrics.quarantine_records.set(self.quarantine.count())
        log.error("spool record %d failed %d times: moved to %s", record.seq, count, self.quarantine.directory)
        return False

    def _reset_pipeline(self) -> None:
        """Forget the batches in flight, and stop any encoder still holding one (so no answer is left unread)."""
        for encoder in self._encoders:
            encoder.abandon()
        self._current = self._ahead = None

    def _encoder_processes(self) -> list[EncoderProcess]:
        if not self._encoders:
            if self._ensure_schema is not None:
                self._ensure_schema()  # the store was down when the server started
                self._ensure_schema = None
            types = self.store.column_types("steps")
            column_types = [types[c] for c in STEP_COLUMNS]
            self._encoders = [
                EncoderProcess(column_types, self._prices_path, self._limits) for _ in range(self._processes)
            ]
        return self._encoders

    def _read(self, after_seq: int, fill: bool) -> list[Record]:
        """Records after `after_seq` within the current slice; with `fill`, wait up to flush_ms for a batch worth
        inserting."""
        max_records = self._limit_records or _MAX_RECORDS
        max_bytes = self._slice_bytes
        records = self.spool.read(after_seq, max_records, max_bytes)
        deadline = time.monotonic() + self.flush_seconds
        while fill and records and sum(len(r.payload) for r in records) < max_bytes // 4:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set() or len(records) >= max_records:
                break
            self.spool.wait(min(remaining, 0.05))
            size = sum(len(r.payload) for r in records)
            records.extend(self.spool.read(records[-1].seq, max_records - len(records), max_bytes - size))
        return records

    def _form(self, records: list[Record], formed_at_ns: int | None = None) -> _Batch:
        if formed_at_ns is None:  # strictly later than the last batch, even if the clock steps back
            formed_at_ns = max(time.time_ns(), self._last_formed_ns + 1000)
        self._last_formed_ns = max(self._last_formed_ns, formed_at_ns)
        return _Batch(records, self._route, formed_at_ns, self.spool.id)

    def _first_batch(self) -> _Batch | None:
        intent = self.spool.intent()
        if intent is not None and intent.last_seq > self.spool.checkpoint:
            size = intent.last_seq - intent.first_seq + 1
            if self._limit_records is None or size <= self._limit_records:
                # A crash interrupted this batch: re-form exactly it, with its version and token.
                records = self.spool.read(intent.first_seq - 1, size, 1 << 62)
                records = [r for r in records if r.seq <= intent.last_seq]
                return self._form(records, intent.formed_at_ns) if records else None
        records = self._read(self.spool.checkpoint, fill=self._limit_records is None)
        return self._form(records) if records else None

    def _submit(self, batch: _Batch) -> None:
        for part, (encoder, records) in enumerate(zip(self._encoder_processes(), batch.parts, strict=True)):
            if records:
                raw = [RawRecord(r.seq, r.project_id, r.payload) for r in records]
                encoder.submit(raw, batch_version(batch.formed_at_ns, part))

    def _results(self, batch: _Batch) -> list[Encoded]:
        encoded = []
        failed: Exception | None = None
        for encoder, part in zip(self._encoder_processes(), batch.parts, strict=True):
            if part:
                try:
                    encoded.append(encoder.result())
                except Exception as exc:  # collect every part's answer first, so no encoder is left holding one
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
            batch.encoded = self._results(batch)
        if self._ahead is None and self._limit_records is None:
            ahead = self._read(batch.last, fill=False)
            if ahead:
                self._ahead = self._form(ahead)
                self._submit(self._ahead)
        encoded = batch.encoded
        block = b"".join(e.block for e in encoded)  # Native blocks concatenate into one stream: one insert
        self.spool.begin(batch.intent)
        if block:
            self.store.insert_native("steps", STEP_COLUMNS, block, dedup_token=batch.token)
        self.spool.commit(batch.last)
        self._written(batch)
        self._current, self._ahead = self._ahead, None
        steps = sum(e.steps for e in encoded)
        self.metrics.spans_written.inc(steps)
        self.metrics.attributes_dropped.inc(sum(e.dropped_attributes for e in encoded))
        return steps or 1

    def _written(self, batch: _Batch) -> None:
        """After an insert: widen the slice, and end bisecting once past the batch that failed."""
        self._last_progress = time.monotonic()
        self._slice_bytes = min(self._slice_bytes * 2, self.batch_bytes)
        if self._failures[0] == batch.first:
            self._failures = (0, 0)
        if self._limit_records is not None:
            remaining = self._suspect_until - batch.last
            self._limit_records = None if remaining <= 0 else min(self._limit_records * 2, remaining)

    def drain(self, timeout: float) -> bool:
        """Write until the spool is empty or `timeout` passes (used on shutdown)."""
        deadline = time.monotonic() + timeout
        while self.spool.last_seq > self.spool.checkpoint and time.monotonic() < deadline:
            try:
                self.step()
            except Exception:  # the batch stays spooled for the next start
                return False
        return self.spool.last_seq <= self.spool.checkpoint
