"""The trace finaliser: applies the trace rules (`tracehouse.domain.attribution`) to a whole stored trace once its
spans have stopped arriving, and writes the rows whose rule-decided fields change.

The writer already applies the rules to each batch, so a trace that arrived in one batch is right as written. A trace
written by more than one batch (spans split over export requests, a restart, another collector, a re-delivery) may
not be: a model call stored before its agent's span, an agent's summed usage stored after its calls. Such a trace
(`batches >= 2` in the summary) is settled here when no batch has touched it for `quiet_s`, or every `max_delay_s`
while it keeps growing. A correction carries a correction version (`tracehouse/store/versions.py`), newer than every row
it replaces, and is not itself a batch, so it never makes its trace a candidate again.

Where it got to is kept in the store (`job_cursors`), so a restart resumes. It is a cluster-wide job
(`tracehouse.jobs`): the replica holding the jobs lease runs it, and a new holder resumes from the stored cursor.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tracehouse.domain.attribution import attribute
from tracehouse.domain.model import Step
from tracehouse.store import Store
from tracehouse.store.cursors import read_cursor, write_cursor
from tracehouse.store.steps import STEP_COLUMNS, step_columns, trace_steps_since
from tracehouse.store.versions import batch_version, correction_version

CURSOR = "finaliser"
_LOOKBACK_DAYS = 2  # a trace whose first span started earlier than this is not re-read
_SLACK_NS = 120 * 10**9  # a batch formed before the cursor may be inserted after it: look back this far
_REMEMBER = 200_000
_SCAN_FACTOR = 40  # candidates read per pass, in units of max_traces (most are settled already)


@dataclass(frozen=True)
class Candidate:
    project_id: str
    trace_id: str
    first_day: Any  # date
    last_batch: int


@dataclass
class PassResult:
    traces: int = 0
    corrected: int = 0


class Finaliser:
    """`settle()` settles what is ready; as a job (`name`, `interval_s`, `run_once()`) the jobs runner calls it."""

    name = "finaliser"

    def __init__(
        self,
        store: Store,
        *,
        quiet_s: float = 3.0,
        max_delay_s: float = 30.0,
        interval_s: float = 1.0,
        max_traces: int = 500,
        on_corrected: Any = None,
    ) -> None:
        self.store = store
        self.quiet_ns = int(quiet_s * 1e9)
        self.max_delay_ns = int(max_delay_s * 1e9)
        self.interval_s = interval_s
        self.max_traces = max_traces
        self._on_corrected = on_corrected
        self._done: OrderedDict[tuple[str, str], int] = OrderedDict()  # trace -> last batch settled
        self._waiting_since: dict[tuple[str, str], int] = {}  # trace -> when first seen unsettled
        self._cursor: int | None = None

    def take_over(self) -> None:
        """This replica now holds the jobs lease: resume from the cursor the last holder stored."""
        self._cursor = None
        self._done.clear()
        self._waiting_since.clear()

    def run_once(self) -> None:
        self.settle()

    def settle(self, now_ns: int | None = None) -> PassResult:
        now_ns = time.time_ns() if now_ns is None else now_ns
        if self._cursor is None:
            self._cursor = read_cursor(self.store, CURSOR) or batch_version(now_ns - 3600 * 10**9)
        candidates = self._candidates(now_ns)
        ready, oldest_waiting = self._ready(candidates, now_ns)
        if len(candidates) >= self.max_traces * _SCAN_FACTOR:  # more than one read: resume after the last one seen
            last = candidates[-1].last_batch
            oldest_waiting = last if oldest_waiting is None else min(oldest_waiting, last)
        result = PassResult()
        by_project: dict[str, list[Candidate]] = {}
        for c in ready:
            by_project.setdefault(c.project_id, []).append(c)
        for project_id, group in by_project.items():
            result.corrected += self._settle(project_id, group)
            result.traces += len(group)
            for c in group:
                self._remember(c)
        # Everything formed before the cursor, less the slack, is settled or still waiting (and then re-read).
        settled_up_to = batch_version(now_ns - self.quiet_ns)
        if oldest_waiting is not None:
            settled_up_to = min(settled_up_to, oldest_waiting - 1)
        if settled_up_to > self._cursor:
            self._cursor = settled_up_to
            write_cursor(self.store, CURSOR, settled_up_to)
        return result

    def _candidates(self, now_ns: int) -> list[Candidate]:
        """Traces written by two or more batches, one of them formed after the cursor (less the slack)."""
        assert self._cursor is not None
        since = max(self._cursor - batch_version(_SLACK_NS), 0)
        day = (datetime.fromtimestamp(now_ns / 1e9, UTC) - timedelta(days=_LOOKBACK_DAYS)).date()
        rows = self.store.rows(
            """
            SELECT project_id, trace_id, min(day) AS first_day, max(last_batch) AS last
            FROM {db}.traces
            WHERE day >= {d:Date} AND (project_id, trace_id) IN (
                SELECT project_id, trace_id FROM {db}.traces WHERE day >= {d:Date} AND last_batch > {since:UInt64}
            )
            GROUP BY project_id, trace_id
            HAVING uniqExactIfMerge(batches) >= 2
            ORDER BY last
            LIMIT {limit:UInt32}
            """,
            {"d": day, "since": since, "limit": self.max_traces * _SCAN_FACTOR},
        )
        return [Candidate(r["project_id"], r["trace_id"], r["first_day"], int(r["last"])) for r in rows]

    def _ready(self, candidates: list[Candidate], now_ns: int) -> tuple[list[Candidate], int | None]:
        """The candidates to settle now, and the oldest last batch of those left waiting."""
        quiet_before = batch_version(now_ns - self.quiet_ns)
        ready: list[Candidate] = []
        oldest_waiting: int | None = None
        for c in candidates:
            key = (c.project_id, c.trace_id)
            if self._done.get(key, -1) >= c.last_batch:
                continue
            waiting_since = self._waiting_since.setdefault(key, now_ns)
            if (c.last_batch <= quiet_before or now_ns - waiting_since >= self.max_delay_ns) and len(
                ready
            ) < self.max_traces:
                ready.append(c)
            elif oldest_waiting is None or c.last_batch < oldest_waiting:
                oldest_waiting = c.last_batch
        return ready, oldest_waiting

    def _settle(self, project_id: str, group: list[Candidate]) -> int:
        """Apply the trace rules to each trace of `group`; write what changed. Returns the rows written."""
        since = datetime.combine(min(c.first_day for c in group), datetime.min.time(), UTC)
        steps = trace_steps_since(self.store, project_id, [c.trace_id for c in group], since)
        by_trace: dict[str, list[Step]] = {}
        for step in steps:
            by_trace.setdefault(step.trace_id, []).append(step)
        changed: list[Step] = []
        for trace_steps in by_trace.values():
            changed.extend(attribute(trace_steps).changed)
        if changed:
            self.store.insert("steps", step_columns(changed, correction_version()), STEP_COLUMNS)
            if self._on_corrected is not None:
                self._on_corrected(len(changed))
        return len(changed)

    def _remember(self, c: Candidate) -> None:
        key = (c.project_id, c.trace_id)
        self._done[key] = c.last_batch
        self._done.move_to_end(key)
        self._waiting_since.pop(key, None)
        while len(self._done) > _REMEMBER:
            self._done.popitem(last=False)
