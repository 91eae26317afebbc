"""Online evals: run chosen suites on newly finished traces in the background, never in ingestion's way.

A poller thread asks the store every `interval_seconds` for traces whose last span ended at least `settle_seconds`
ago (so late children have arrived) and puts them on a bounded queue; when the queue is full the trace is dropped
and counted, so a slow scorer (an LLM judge) sheds eval work instead of slowing the collector. Worker threads score
each trace with every suite whose selection (agent, service, workflow, status, operation, sampling) it matches and
write the scores. The suites' time windows are ignored: online evals score what is new. Example::

    online = OnlineEvaluator(store, [load_suite("quality.yaml")], interval_seconds=30)
    online.start()
    ...
    online.stop()
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracehouse.evals.model import TraceData
from tracehouse.evals.runner import attach_expected, score_trace
from tracehouse.evals.sources import sampled
from tracehouse.evals.suite import Suite, load_suite
from tracehouse.store import Store, get_trace_steps, get_trace_summary
from tracehouse.store.findings import findings_as_dicts
from tracehouse.store.scope import ALL_PROJECTS
from tracehouse.store.scores import EvalRun, insert_scores, upsert_eval_run
from tracehouse.store.traces import TraceSummary, traces_ended

log = logging.getLogger("tracehouse.evals.online")


@dataclass
class OnlineStats:
    polls: int = 0
    queued: int = 0
    evaluated: int = 0
    scores: int = 0
    dropped: int = 0  # traces not evaluated because the queue was full
    errors: int = 0
    last_poll: datetime | None = None


def matches(suite: Suite, summary: TraceSummary) -> bool:
    """The trace-level parts of a suite's selection (operation is checked once steps are loaded)."""
    sel = suite.select
    checks = (
        sel.agent is None or sel.agent in summary.agents,
        sel.service is None or sel.service in summary.services,
        sel.workflow_matches(summary.root_name, summary.workflow),
        sel.status is None or (sel.status == "error") == (summary.errors > 0),
        sel.trace_ids is None or summary.trace_id in sel.trace_ids,
    )
    return all(checks) and sampled(summary.trace_id, sel.sample, sel.seed)


class OnlineEvaluator:
    """Background scoring of new traces with back-pressure (bounded queue, drop and count when behind).

    In `tracehouse serve` the poll is a cluster-wide job (`tracehouse.jobs`: `run_once()` on the lease holder only)
    and `poll_in_thread = False` makes `start()` run just the workers; alone, it polls on its own thread too."""

    name = "online-evals"

    def __init__(
        self,
        store: Store,
        suites: Sequence[Suite],
        *,
        interval_seconds: float = 30.0,
        settle_seconds: float = 30.0,
        queue_size: int = 1000,
        workers: int = 1,
        backfill_seconds: float = 0.0,
        max_per_poll: int = 5000,
    ) -> None:
        if not suites:
            raise ValueError("online evals need at least one suite")
        self.store = store
        self.suites = list(suites)
        self.interval = interval_seconds
        self.settle = timedelta(seconds=settle_seconds)
        self.workers = max(1, workers)
        self.max_per_poll = max_per_poll
        self.stats = OnlineStats()
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.poll_in_thread = True
        self._lock = threading.Lock()
        self._watermark = datetime.now(UTC) - self.settle - timedelta(seconds=backfill_seconds)

    @classmethod
    def from_files(cls, store: Store, paths: Sequence[str | Path], **options: float | int) -> OnlineEvaluator:
        """Load the suite files (one-line `SuiteError` on a bad one) and build the evaluator."""
        return cls(store, [load_suite(p) for p in paths], **options)  # type: ignore[arg-type]

    # -- lifecycle -------------------------------------------------------------------------------------------------
    @property
    def interval_s(self) -> float:
        return self.interval

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        poll = [threading.Thread(target=self._poll_loop, name="online-eval-poll", daemon=True)]
        self._threads = poll if self.poll_in_thread else []
        self._threads += [
            threading.Thread(target=self._work_loop, name=f"online-eval-{i}", daemon=True) for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling; workers finish the trace in hand (queued ones are left)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    # -- polling ---------------------------------------------------------------------------------------------------
    def poll_once(self, now: datetime | None = None) -> int:
        """Queue the traces that finished since the last poll; returns how many were queued."""
        now = now or datetime.now(UTC)
        until = now - self.settle
        if until <= self._watermark:
            return 0
        found = traces_ended(self.store, self._watermark, until, scope=ALL_PROJECTS, limit=self.max_per_poll)
        queued = 0
        for t in found:
            project_id, trace_id = t.project_id, t.trace_id
            try:
                self._queue.put_nowait((project_id, trace_id))
                queued += 1
            except queue.Full:
                with self._lock:
                    self.stats.dropped += 1
        # A full page means more may be waiting: advance only to the last trace taken, else to `until`.
        self._watermark = found[-1].end_time if len(found) >= self.max_per_poll else until
        with self._lock:
            self.stats.polls += 1
            self.stats.queued += queued
            self.stats.last_poll = now
        return queued

    def run_once(self) -> None:
        self.poll_once()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a store hiccup must not kill the service; try again next interval
                log.warning("online evals: poll failed", exc_info=True)
            self._stop.wait(self.interval)

    # -- scoring ---------------------------------------------------------------------------------------------------
    def drain(self) -> int:
        """Score everything queued, in this thread (used by tests and `stop`-less runs); returns traces scored."""
        done = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return done
            self._evaluate(*item)
            done += 1

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._evaluate(*item)

    def _evaluate(self, project_id: str, trace_id: str) -> None:
        try:
            summary = get_trace_summary(self.store, project_id, trace_id)
            chosen = [
                s
                for s in self.suites
                if summary is not None and self._for_project(s, project_id) and matches(s, summary)
            ]
            if summary is None or not chosen:
                return
            steps = get_trace_steps(self.store, project_id, trace_id, around=(summary.start_time, summary.end_time))
            findings = findings_as_dicts(self.store, project_id, trace_id)
            written = 0
            for suite in chosen:
                if suite.select.operation and not any(s.operation == suite.select.operation for s in steps):
                    continue
                data = TraceData(summary=summary, steps=steps, findings=findings)
                attach_expected(suite, [data])
                run_id = f"online-{suite.name}-{datetime.now(UTC):%Y%m%d}"
                scores, _ = score_trace(suite, data, eval_run_id=run_id)
                insert_scores(self.store, [replace(s, project_id=project_id, source="online") for s in scores])
                written += len(scores)
                self._touch_run(project_id, suite, run_id)
            with self._lock:
                self.stats.evaluated += 1
                self.stats.scores += written
        except Exception:  # one bad trace (or a store error) is counted, not fatal
            log.warning("online evals: scoring trace %s failed", trace_id, exc_info=True)
            with self._lock:
                self.stats.errors += 1

    @staticmethod
    def _for_project(suite: Suite, project_id: str) -> bool:
        return suite.select.project is None or suite.select.project == project_id

    def _touch_run(self, project_id: str, suite: Suite, run_id: str) -> None:
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        with self._lock:
            summary = {"online": True, "evaluated": self.stats.evaluated + 1, "dropped": self.stats.dropped}
        upsert_eval_run(
            self.store,
            EvalRun(
                project_id=project_id,
                eval_run_id=run_id,
                suite=suite.name,
                started_at=day,
                status="running",
                summary=summary,
            ),
        )
