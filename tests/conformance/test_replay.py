"""Every fixture of the conformance corpus, replayed into a real `tracehouse serve` the ways the real world delivers
spans: as captured, one span per request with children first, shuffled one span at a time, across a `kill -9`, and
through two collectors writing one store. Each time, what the API serves must equal `expected.json` (the fake model
server's log and the scenario's structure), key by key."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conformance.replay import (
    Fixture,
    actual,
    differences,
    fixtures,
    one_span_per_request,
    retrace,
    trace_ids,
)
from tests.conftest import ServerProcess, free_port
from tracehouse.collector.finaliser import Finaliser
from tracehouse.collector.metrics import CollectorMetrics
from tracehouse.collector.spool import Spool
from tracehouse.collector.writer import Writer
from tracehouse.dashboard.api.traces import step_json
from tracehouse.domain.attribution import attribute
from tracehouse.evals.detect import detect_trace
from tracehouse.store import Store, get_trace_steps

FIXTURES = fixtures()
# The finaliser settles a trace written by several batches once it is quiet this long (default 3 s).
FAST = {"TRACEHOUSE_FINALISE_QUIET_S": "0.5", "TRACEHOUSE_WRITER_FLUSH_MS": "50"}


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("replay") / "data", free_port(), free_port(), env=FAST)
    server.start()
    yield server
    server.stop()


def _post(server: ServerProcess, request: ExportTraceServiceRequest) -> None:
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=request.SerializeToString(),
        timeout=10,
        headers={**server.headers, "content-type": "application/x-protobuf"},
    )
    assert r.status_code == 200, r.text


def _served(server: ServerProcess, ids: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The steps of these traces as the API serves them, and the linked trace ids it reports."""
    steps: list[dict[str, Any]] = []
    linked: list[str] = []
    for trace_id in sorted(ids):
        r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers, timeout=10)
        if r.status_code != 200:
            return [], []
        body = r.json()
        steps.extend(body["steps"])
        linked.extend(body["linked_trace_ids"])
    return steps, linked


def _settled(server: ServerProcess, sent: dict[str, tuple[Fixture, set[str]]], timeout: float = 60) -> list[str]:
    """Wait until every fixture comes out right (or the time is up); the differences left, one line each."""
    deadline = time.monotonic() + timeout
    problems: list[str] = []
    while time.monotonic() < deadline:
        problems = []
        for name, (fixture, ids) in sent.items():
            steps, linked = _served(server, ids)
            if not steps:
                problems.append(f"{name}: not all of its {len(ids)} traces are readable")
                continue
            problems.extend(f"{name}: {d}" for d in differences(fixture.expected, actual(steps)))
            if len(ids) != fixture.expected["traces"]:
                problems.append(f"{name}: {len(ids)} traces, expected {fixture.expected['traces']}")
            if any(t not in ids for t in linked):
                problems.append(f"{name}: linked to a trace outside the run: {sorted(set(linked) - ids)}")
        if not problems:
            return []
        time.sleep(0.5)
    return problems


def _deliveries(mode: str, requests: list[ExportTraceServiceRequest]) -> list[ExportTraceServiceRequest]:
    if mode == "as_captured":
        return requests
    if mode == "children_first":
        return one_span_per_request(requests)
    return one_span_per_request(requests, shuffle=random.Random(mode))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["as_captured", "children_first", "shuffled"])
def test_every_fixture_comes_out_exact(replay_server: ServerProcess, mode: str) -> None:
    sent: dict[str, tuple[Fixture, set[str]]] = {}
    for fixture in FIXTURES:
        requests = retrace(fixture.requests(), salt=mode)
        sent[fixture.name] = (fixture, trace_ids(requests))
        for request in _deliveries(mode, requests):
            _post(replay_server, request)
    assert _settled(replay_server, sent) == []


@pytest.mark.slow
def test_every_fixture_comes_out_exact_across_a_kill_9(tmp_path: Path) -> None:
    """Half of every fixture's spans (children first), kill -9, restart on the same data, the other half."""
    server = ServerProcess(tmp_path / "data", free_port(), free_port(), env=FAST).start()
    sent: dict[str, tuple[Fixture, set[str]]] = {}
    halves: list[list[ExportTraceServiceRequest]] = [[], []]
    for fixture in FIXTURES:
        singles = one_span_per_request(retrace(fixture.requests(), salt="kill"))
        sent[fixture.name] = (fixture, trace_ids(singles))
        halves[0].extend(singles[: len(singles) // 2])
        halves[1].extend(singles[len(singles) // 2 :])
    try:
        for request in halves[0]:
            _post(server, request)
        server.kill()
        server.start()
        for request in halves[1]:
            _post(server, request)
        assert _settled(server, sent) == []
    finally:
        server.stop()


def test_every_fixture_comes_out_exact_through_two_collectors(store: Store, tmp_path: Path) -> None:
    """Two collectors (two spools, two writers) share one store; spans of one trace reach either, one at a time."""
    writers = [
        Writer(Spool(tmp_path / f"spool{i}", max_bytes=1 << 30), store, CollectorMetrics(), processes=1, flush_ms=10)
        for i in range(2)
    ]
    project = "two" + str(random.Random().randrange(10**9))
    sent: dict[str, tuple[Fixture, set[str]]] = {}
    for writer in writers:
        writer.start()
    try:
        for fixture in FIXTURES:
            singles = one_span_per_request(retrace(fixture.requests(), salt=project), shuffle=random.Random(7))
            sent[fixture.name] = (fixture, trace_ids(singles))
            for i, request in enumerate(singles):
                writers[i % 2].spool.append(project, request.SerializeToString())
        deadline = time.monotonic() + 60
        while any(w.spool.last_seq > w.spool.checkpoint for w in writers) and time.monotonic() < deadline:
            time.sleep(0.1)
        Finaliser(store, quiet_s=0.0).settle(now_ns=time.time_ns() + 10**9)
        problems = []
        for name, (fixture, ids) in sent.items():
            steps = [step_json(s) for t in sorted(ids) for s in get_trace_steps(store, project, t)]
            problems.extend(f"{name}: {d}" for d in differences(fixture.expected, actual(steps)))
        assert problems == []
    finally:
        for writer in writers:
            writer.stop(timeout=5)
            writer.spool.close()


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_planted_faults_are_found_and_clean_runs_have_no_finding(fixture: Fixture) -> None:
    from tracehouse.collector.normalise import normalise_request
    from tracehouse.sdk.pricing import default_prices

    steps = [s for r in fixture.requests() for s in normalise_request(r, "p", default_prices()).steps]
    by_trace: dict[str, list[Any]] = {}
    for step in steps:
        by_trace.setdefault(step.trace_id, []).append(step)
    kinds = {str(f.kind) for group in by_trace.values() for f in detect_trace(attribute(group).steps)}
    planted = {"loop" if k == "loop" else k for k, v in fixture.expected.get("planted", {}).items() if v}
    assert kinds == planted
