"""Detection on a real embedded store: the background service scans quiet traces once, re-detection replaces
findings instead of duplicating them, `GET /api/findings` serves them, and the window retry-rate detector compares
with its baseline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracehouse.domain.model import StepType
from tracehouse.evals.detect import DetectConfig, DetectionService, detect_retry_rate_spikes, run_window
from tracehouse.evals.detect.api import router
from tracehouse.evals.detect.service import RunReport
from tracehouse.store import Store, insert_steps
from tracehouse.store.findings import list_findings

from .traces import TraceBuilder


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


def _loop_trace(project: str, at: datetime) -> TraceBuilder:
    b = TraceBuilder(project_id=project, t0_ns=_ns(at))
    root = b.step(StepType.WORKFLOW, "", duration=2_000_000_000)
    current = b.agent("a", root)
    for source, target in [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]:
        h = b.step(StepType.HANDOFF, source, current, handoff=(source, target), duration=100_000_000)
        current = b.agent(target, h, duration=50_000_000)
        b.llm(target, current, tokens=100, cost=0.01)
    return b


def _clean_trace(project: str, at: datetime) -> TraceBuilder:
    b = TraceBuilder(project_id=project, t0_ns=_ns(at))
    root = b.agent("solo", duration=1_000_000_000)
    for i in range(3):
        b.llm("solo", root, content_hash=f"h{i}")
    return b


def test_service_scans_quiet_traces_once_and_redetection_replaces(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    loop, clean = (
        _loop_trace(project_id, now - timedelta(seconds=30)),
        _clean_trace(project_id, now - timedelta(seconds=30)),
    )
    insert_steps(store, loop.steps + clean.steps, version=1, dedup_token=uuid.uuid4().hex)
    service = DetectionService(store, quiet_s=5.0)
    assert loop.trace_id not in _scanned(service.scan_once(now))  # written just now: not quiet yet
    first = service.scan_once(now + timedelta(seconds=6))
    mine = [f for f in first.findings if f.trace_id in (loop.trace_id, clean.trace_id)]
    assert [f.trace_id for f in mine] == [loop.trace_id]
    assert service.scan_once(now + timedelta(seconds=8)).traces == 0  # nothing new: nothing rescanned
    run_window(store, project_id, now - timedelta(minutes=5), now)  # on-demand re-detection of the same trace
    stored = list_findings(store, project_id)
    assert len(stored) == 1 and stored[0].kind == "loop" and stored[0].details["repeats"] == 2


def test_a_tick_runs_clean(store: Store) -> None:
    service = DetectionService(store, interval_s=0.05, quiet_s=0.0, lookback_s=60, rate_interval_s=0.0)
    service.run_once()
    assert service.last_error is None


def test_findings_endpoint_filters_by_kind_trace_and_since(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    loop = _loop_trace(project_id, now - timedelta(seconds=30))
    insert_steps(store, loop.steps, version=1, dedup_token=uuid.uuid4().hex)
    run_window(store, project_id, now - timedelta(minutes=5), now)
    app = FastAPI()
    app.include_router(router)
    app.state.store = store
    app.state.settings = type("S", (), {"no_auth": True})()
    client = TestClient(app)
    # the API's project is "default" under --no-auth: scope the check through run on that project
    run = client.post("/api/detect/run", json={"since": (now - timedelta(minutes=5)).isoformat()})
    assert run.status_code == 200
    rows = list_findings(store, project_id, kind="loop", trace_id=loop.trace_id, since=now - timedelta(minutes=1))
    assert len(rows) == 1
    assert list_findings(store, project_id, kind="retry_storm") == []
    body = client.get("/api/findings", params={"kind": "loop"}).json()
    assert set(body) == {"findings"}
    assert client.get("/api/findings", params={"kind": "nope"}).status_code == 422


def test_window_retry_rate_against_baseline(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    steps = []
    for minutes_ago, retries in ((30, 2), (2, 15)):  # baseline 2/40 = 5 %, window 15/40 = 38 %
        b = TraceBuilder(project_id=project_id, t0_ns=_ns(now - timedelta(minutes=minutes_ago)))
        root = b.agent("caller", duration=1_000_000_000)
        for i in range(40):
            b.llm("caller", root, content_hash=f"x{i}", attempt=2 if i < retries else 1)
        steps += b.steps
    insert_steps(store, steps, version=1, dedup_token=uuid.uuid4().hex)
    found = detect_retry_rate_spikes(store, now, DetectConfig(), scope=project_id)[project_id]
    scopes = {(f.details["group_by"], f.details["key"]) for f in found}
    assert ("agent", "caller") in scopes and ("project", "") in scopes
    assert all(f.kind == "retry_storm" and f.trace_id == "" for f in found)
    calm = detect_retry_rate_spikes(store, now - timedelta(minutes=20), DetectConfig(), scope=project_id)
    assert calm == {}


def _scanned(report: RunReport) -> set[str]:
    return {f.trace_id for f in report.findings}


def test_a_trace_written_again_is_scanned_again_and_a_restart_resumes_from_the_stored_cursor(
    store: Store, project_id: str
) -> None:
    now = datetime.now(UTC)
    loop = _loop_trace(project_id, now - timedelta(seconds=30))
    insert_steps(store, loop.steps[:7], version=1, dedup_token=uuid.uuid4().hex)
    service = DetectionService(store, quiet_s=0.0)
    service.scan_once()
    assert loop.trace_id not in _scanned(service.scan_once())  # one repeat is not a loop yet
    insert_steps(store, loop.steps[7:], version=2, dedup_token=uuid.uuid4().hex)  # the late spans
    assert loop.trace_id in _scanned(service.scan_once())
    restarted = DetectionService(store, quiet_s=0.0)  # another replica takes over: it reads the stored cursor
    assert restarted.scan_once().traces <= 1  # at most the traces written at the cursor's very instant


def test_a_pass_pages_through_more_traces_than_a_page_holds(store: Store, project_id: str) -> None:
    """The old scan re-read a fixed window capped at 20,000 traces and fell behind above that; paging by the
    write cursor reaches every trace however many were written."""
    service = DetectionService(store, quiet_s=0.0, page_traces=40, max_pass_s=120)
    service.scan_once()  # caught up with whatever other tests wrote
    now = datetime.now(UTC)
    traces = [_loop_trace(project_id, now - timedelta(seconds=60 - i / 10)) for i in range(130)]
    for t in traces:  # one insert each: 130 distinct write times
        insert_steps(store, t.steps, version=1, dedup_token=uuid.uuid4().hex)
    report = service.scan_once()
    assert {t.trace_id for t in traces} <= _scanned(report)
