"""Running the detectors: on one trace, over a window on demand, and continuously in `tracehouse serve` on traces
that went quiet (a cluster-wide job paging through the traces in the order they were written)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tracehouse.domain.model import Step
from tracehouse.evals.detect.duplicates import detect_cross_trace_duplicates, detect_duplicate_work
from tracehouse.evals.detect.loops import detect_loops
from tracehouse.evals.detect.model import DetectConfig, Finding, Kind, Severity, finding_id
from tracehouse.evals.detect.retries import detect_retry_storms
from tracehouse.store.client import Store, StoreError
from tracehouse.store.cursors import read_cursor, write_cursor
from tracehouse.store.findings import retry_rates, steps_for_traces, write_findings
from tracehouse.store.scope import ALL_PROJECTS, Scope
from tracehouse.store.traces import EndedTrace, WrittenPosition, traces_ended, traces_written_between

log = logging.getLogger(__name__)

BATCH_TRACES = 500
CURSOR = "detect"


def detect_trace(steps: Sequence[Step], config: DetectConfig | None = None) -> list[Finding]:
    """Every detector over one trace's steps."""
    config = config or DetectConfig()
    return [*detect_loops(steps, config), *detect_duplicate_work(steps, config), *detect_retry_storms(steps, config)]


@dataclass
class RunReport:
    """What one detection pass did."""

    traces: int = 0
    steps: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        by_kind: dict[str, int] = {}
        for f in self.findings:
            by_kind[str(f.kind)] = by_kind.get(str(f.kind), 0) + 1
        return {
            "traces": self.traces,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "by_kind": by_kind,
            "findings": [f.to_json() for f in self.findings],
        }


def scan_traces(
    store: Store, project_id: str, traces: Sequence[EndedTrace], config: DetectConfig | None = None
) -> RunReport:
    """Load the traces' steps in batches, detect, write the findings; returns what was found."""
    config = config or DetectConfig()
    report = RunReport()
    started = time.perf_counter()
    for i in range(0, len(traces), BATCH_TRACES):
        batch = traces[i : i + BATCH_TRACES]
        lo = min(t.start_time for t in batch) - timedelta(seconds=1)
        hi = max(t.end_time for t in batch) + timedelta(seconds=1)
        by_trace = steps_for_traces(store, project_id, [t.trace_id for t in batch], lo, hi)
        found: list[Finding] = []
        for steps in by_trace.values():
            found.extend(detect_trace(steps, config))
            report.steps += len(steps)
        write_findings(store, project_id, found)
        report.traces += len(by_trace)
        report.findings.extend(found)
    report.seconds = time.perf_counter() - started
    return report


def run_window(
    store: Store,
    project_id: str,
    since: datetime,
    until: datetime | None = None,
    config: DetectConfig | None = None,
    *,
    cross_trace: bool = False,
) -> RunReport:
    """On demand: every trace of the project that ended in [since, until), plus (optionally) duplicate work across
    those traces and the window's retry-rate spikes."""
    config = config or DetectConfig()
    until = until or datetime.now(UTC)
    started = time.perf_counter()
    traces: list[EndedTrace] = []
    taken: set[str] = set()
    lo = since
    while True:
        page = traces_ended(store, lo, until, scope=project_id, limit=5000)
        traces.extend(t for t in page if t.trace_id not in taken)
        taken.update(t.trace_id for t in page)
        if len(page) < 5000 or page[-1].end_time == lo:
            break
        lo = page[-1].end_time  # the next page starts where this one ended; a trace seen twice is taken once
    report = scan_traces(store, project_id, traces, config)
    extra: list[Finding] = []
    if cross_trace and traces:
        lo_t = min(t.start_time for t in traces) - timedelta(seconds=1)
        by_trace = steps_for_traces(store, project_id, [t.trace_id for t in traces][:BATCH_TRACES], lo_t, until)
        extra.extend(detect_cross_trace_duplicates(by_trace, config))
    extra.extend(detect_retry_rate_spikes(store, until, config, scope=project_id).get(project_id, []))
    write_findings(store, project_id, extra)
    report.findings.extend(extra)
    report.seconds = time.perf_counter() - started
    return report


def detect_retry_rate_spikes(
    store: Store, now: datetime, config: DetectConfig | None = None, *, scope: Scope
) -> dict[str, list[Finding]]:
    """Per project, agent and provider: the retry rate of the last `rate_window_s` against the `rate_baseline_s`
    before it. Fires when the window has enough calls, its rate is at least `rate_min` and at least `rate_factor`
    times the baseline (a baseline with too few calls to say anything does not count as zero)."""
    config = config or DetectConfig()
    window_start = now - timedelta(seconds=config.rate_window_s)
    baseline_start = window_start - timedelta(seconds=config.rate_baseline_s)
    out: dict[str, list[Finding]] = {}
    bucket = int(window_start.timestamp()) // config.rate_window_s
    for group_by in ("project", "agent", "provider"):
        current = retry_rates(store, window_start, now, group_by, scope=scope)
        if not current:
            continue
        base = {
            (r.project_id, r.key): r for r in retry_rates(store, baseline_start, window_start, group_by, scope=scope)
        }
        for r in current:
            if group_by != "project" and not r.key:
                continue
            b = base.get((r.project_id, r.key))
            if r.calls < config.rate_min_calls or r.rate < config.rate_min:
                continue
            if b is None or b.calls < config.rate_min_calls or r.rate < config.rate_factor * b.rate:
                continue
            subject = "project" if group_by == "project" else f"{group_by} {r.key}"
            out.setdefault(r.project_id, []).append(
                Finding(
                    id=finding_id(Kind.RETRY_STORM, "", "window", group_by, r.key, str(bucket)),
                    kind=Kind.RETRY_STORM,
                    severity=Severity.CRITICAL if r.rate >= 0.5 else Severity.WARNING,
                    trace_id="",
                    span_ids=[],
                    agents=[r.key] if group_by == "agent" else [],
                    wasted_tokens=0,
                    wasted_cost_usd=0.0,
                    explanation=(
                        f"retry rate of {subject} is {r.rate:.0%} over the last {config.rate_window_s // 60 or 1} min "
                        f"({r.retries} of {r.calls} calls), baseline {b.rate:.0%}"
                    ),
                    details={
                        "scope": "window",
                        "group_by": group_by,
                        "key": r.key,
                        "rate": round(r.rate, 4),
                        "calls": r.calls,
                        "retries": r.retries,
                        "baseline_rate": round(b.rate, 4),
                        "baseline_calls": b.calls,
                        "window_start": window_start.isoformat(),
                    },
                    detected_at=now,
                )
            )
    return out


class DetectionService:
    """Background detection for `tracehouse serve`.

    Every `interval_s` it reads, in the order they were last written, the traces written since its cursor and quiet
    for `quiet_s` (`traces_written_between`), scans them in batches until it has caught up (or `max_pass_s` passed),
    and stores the cursor (`job_cursors`). A trace written again — a late span, a replayed batch, the finaliser's
    correction — moves to its new place in that order and is scanned again (finding ids are deterministic, so that
    replaces its findings); nothing is re-read by time window, so the pass keeps up with any rate it can scan. Every
    `rate_interval_s` it runs the window-level retry-rate detector. Errors are logged and retried on the next tick.
    In `tracehouse serve` it is a cluster-wide job (`tracehouse.jobs`: `run_once()` on the lease holder only;
    `take_over()` resumes from the stored cursor, re-scanning at most the traces written at that very instant).
    The cursor is the engine's insert clock; on a cluster, node clocks must agree to well within `quiet_s`.
    """

    name = "detect"

    def __init__(
        self,
        store: Store,
        config: DetectConfig | None = None,
        *,
        interval_s: float = 2.0,
        quiet_s: float = 5.0,
        lookback_s: float = 900.0,
        rate_interval_s: float = 60.0,
        max_pass_s: float = 10.0,
        page_traces: int = 2000,
    ) -> None:
        self.store = store
        self.config = config or DetectConfig()
        self.interval_s = interval_s
        self.quiet_s = quiet_s
        self.lookback_s = lookback_s  # where a store without a stored cursor starts
        self.rate_interval_s = rate_interval_s
        self.max_pass_s = max_pass_s
        self.page_traces = page_traces
        self._position: WrittenPosition | None = None
        self._last_rate_check = 0.0
        self.traces_scanned = 0
        self.findings_written = 0
        self.last_error: str | None = None

    def run_once(self) -> None:
        """One tick: a scan, and the retry-rate detector when it is due; errors are kept in `last_error`."""
        try:
            self.scan_once()
            if time.monotonic() - self._last_rate_check >= self.rate_interval_s:
                self._last_rate_check = time.monotonic()
                spikes = detect_retry_rate_spikes(self.store, datetime.now(UTC), self.config, scope=ALL_PROJECTS)
                for project, found in spikes.items():
                    write_findings(self.store, project, found)
                    self.findings_written += len(found)
            self.last_error = None
        except StoreError as exc:
            self.last_error = str(exc)
            log.warning("detection pass failed (retrying next tick): %s", exc)
        except Exception as exc:  # a detector bug must not kill the thread; it is logged with its trace
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("detection pass failed")

    def take_over(self) -> None:
        self._position = None
        self._last_rate_check = 0.0

    def scan_once(self, now: datetime | None = None) -> RunReport:
        """One pass: scan every trace written since the cursor and quiet for `quiet_s`, page by page."""
        now = now or datetime.now(UTC)
        upto = now - timedelta(seconds=self.quiet_s)
        if self._position is None:
            stored = read_cursor(self.store, CURSOR)
            start = datetime.fromtimestamp(stored / 1e6, UTC) if stored else now - timedelta(seconds=self.lookback_s)
            self._position = WrittenPosition(start)
        report = RunReport()
        deadline = time.monotonic() + self.max_pass_s
        while True:
            page = traces_written_between(self.store, self._position, upto, scope=ALL_PROJECTS, limit=self.page_traces)
            by_project: dict[str, list[EndedTrace]] = {}
            for t in page:
                by_project.setdefault(t.project_id, []).append(t)
            for project, traces in by_project.items():
                part = scan_traces(self.store, project, traces, self.config)
                report.traces += part.traces
                report.steps += part.steps
                report.findings.extend(part.findings)
            if page:
                last = page[-1]
                assert last.written_at is not None
                self._position = WrittenPosition(last.written_at, last.project_id, last.trace_id)
                write_cursor(self.store, CURSOR, int(last.written_at.timestamp() * 1e6))
            if len(page) < self.page_traces or time.monotonic() > deadline:
                break
        self.traces_scanned += report.traces
        self.findings_written += len(report.findings)
        return report
