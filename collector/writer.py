"""The writer: drains the spool into ClickHouse in large batches, in a thread of its own.

A batch is a run of spool records. Before inserting, the writer records the batch's bounds (the spool's intent
file); the insert carries a deduplication token made of those bounds, and the batch's last sequence number is the
rows' `version`. After a crash the same records form the same batch with the same token, so ClickHouse drops the
replay if the first insert had landed. A failing store is retried with backoff forever: the spool holds the data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tracehouse.collector.lineage import Lineage
from tracehouse.collector.metrics import CollectorMetrics
from tracehouse.collector.model import Step
from tracehouse.collector.normalise import Limits, normalise_request
from tracehouse.collector.spool import Record, Spool
from tracehouse.collector.store import Store, StoreError, insert_steps
from tracehouse.sdk.pricing import PriceTable

log = logging.getLogger(__name__)

_BYTES_PER_SPAN_GUESS = 400  # to size a batch in spool bytes before decoding it
_MAX_BACKOFF = 5.0


class Writer:
    """Spool -> normalise -> ClickHouse. `start()` runs it in a daemon thread; `stop()` drains what it can."""

    def __init__(
        self,
        spool: Spool,
        store: Store,
        prices: PriceTable,
        metrics: CollectorMetrics,
        *,
        batch_spans: int = 50_000,
        flush_ms: int = 500,
        limits: Limits | None = None,
        ensure_schema: Callable[[], object] | None = None,
    ) -> None:
        self.spool = spool
        self.store = store
        self.prices = prices
        self.metrics = metrics
        self.batch_bytes = max(batch_spans * _BYTES_PER_SPAN_GUESS, 64 * 1024)
        self.flush_seconds = flush_ms / 1000
        self.limits = limits or Limits()
        self.lineage = Lineage()
        self._ensure_schema = ensure_schema
        self._schema_ready = ensure_schema is None
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
            except StoreError as exc:
                self.metrics.write_errors.inc()
                self.healthy, self.last_error = False, str(exc)
                log.warning("store write failed, retrying in %.1fs: %s", backoff, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            except Exception:  # a bug must not stop ingestion for good; the batch is retried
                self.metrics.write_errors.inc()
                log.exception("writer failed on a batch; retrying")
                self._stop.wait(1.0)
            finally:
                self._update_gauges()

    def _update_gauges(self) -> None:
        self.metrics.spool_bytes.set(self.spool.pending_bytes())
        self.metrics.spool_lag.set(self.spool.last_seq - self.spool.checkpoint)

    def _next_batch(self) -> list[Record]:
        intent = self.spool.intent()
        if intent is not None:  # a crash interrupted this batch: re-form exactly it
            records = self.spool.read(intent.first_seq - 1, intent.last_seq - intent.first_seq + 1, 1 << 62)
            return [r for r in records if r.seq <= intent.last_seq]
        records = self.spool.read(self.spool.checkpoint, 100_000, self.batch_bytes)
        # Few spans waiting: give senders up to flush_ms to fill the batch, so inserts stay large and rare.
        deadline = time.monotonic() + self.flush_seconds
        while records and sum(len(r.payload) for r in records) < self.batch_bytes // 4:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            self.spool.wait(min(remaining, 0.05))
            more = self.spool.read(records[-1].seq, 100_000, self.batch_bytes)
            if not more:
                continue
            records.extend(more)
        return records

    def step(self) -> int:
        """Write one batch; the number of steps written (0 when the spool had nothing)."""
        records = self._next_batch()
        if not records:
            return 0
        if not self._schema_ready and self._ensure_schema is not None:
            self._ensure_schema()  # the store was down when the server started
            self._schema_ready = True
        first, last = records[0].seq, records[-1].seq
        self.spool.begin(first, last)
        steps = self._normalise(records)
        corrections = self.lineage.process(steps)
        insert_steps(self.store, steps + corrections, version=last, dedup_token=f"spool-{first}-{last}")
        self.spool.commit(last)
        self.metrics.spans_written.inc(len(steps))
        self.metrics.corrections_written.inc(len(corrections))
        return len(steps) + len(corrections)

    def _normalise(self, records: list[Record]) -> list[Step]:
        steps: list[Step] = []
        for record in records:
            request = ExportTraceServiceRequest()
            request.ParseFromString(record.payload)
            result = normalise_request(request, record.project_id, self.prices, self.limits)
            self.metrics.attributes_dropped.inc(result.dropped_attributes)
            steps.extend(result.steps)
        return steps

    def drain(self, timeout: float) -> bool:
        """Write until the spool is empty or `timeout` passes (used on shutdown)."""
        deadline = time.monotonic() + timeout
        while self.spool.last_seq > self.spool.checkpoint and time.monotonic() < deadline:
            try:
                self.step()
            except StoreError:
                return False
        return self.spool.last_seq <= self.spool.checkpoint
