"""What the collector answered 200 for is never lost nor doubled: not on kill -9, not on a store outage."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from tests.collector.test_receiver_answers import json_span, otlp_json, post
from tests.conftest import free_port


def send_traces(server: Any, traces: int, spans_per_trace: int) -> dict[str, int]:
    """Send traces (one request each); return trace id -> spans accepted."""
    sent: dict[str, int] = {}
    for _ in range(traces):
        trace_id = os.urandom(16).hex()
        spans = [json_span(trace_id, os.urandom(8).hex(), f"s{i}") for i in range(spans_per_trace)]
        r = post(server, json.dumps(otlp_json(spans)).encode())
        if r.status_code == 200:
            sent[trace_id] = spans_per_trace
    return sent


def stored_spans(server: Any, trace_ids: list[str], timeout: float = 30.0) -> dict[str, int]:
    """Span counts per trace as the summary and the step list report them, once the writer caught up."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = {}
        for trace_id in trace_ids:
            r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers)
            if r.status_code == 200:
                body = r.json()
                assert body["summary"]["spans"] == len(body["steps"])  # the summary view and FINAL agree
                counts[trace_id] = len(body["steps"])
        if len(counts) == len(trace_ids):
            return counts
        time.sleep(0.3)
    return counts


def assert_grpc_unavailable_with_retry_info(port: int) -> None:
    """OTLP/gRPC's equivalent of 503 + Retry-After: UNAVAILABLE with a RetryInfo in the status details."""
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i in range(200):  # larger than the HTTP batch that was refused: it cannot fit either
        span = spans.add()
        span.trace_id, span.span_id, span.name = os.urandom(16), os.urandom(8), f"g{i}" * 20
        span.start_time_unix_nano = span.end_time_unix_nano = time.time_ns()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as failure:
        TraceServiceStub(channel).Export(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    details = dict(failure.value.trailing_metadata() or ())["grpc-status-details-bin"]
    status = Status.FromString(details)
    retry = RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds > 0


def test_kill_9_while_writer_is_behind_loses_and_doubles_nothing(make_server: Any, tmp_path: Any) -> None:
    data_dir = tmp_path / "crash"
    # A writer that waits up to a minute to fill its batch: accepted spans sit only in the spool.
    slow = make_server(data_dir=data_dir, env={"TRACEHOUSE_WRITER_FLUSH_MS": "60000"})
    sent = send_traces(slow, traces=20, spans_per_trace=5)
    assert len(sent) == 20
    slow.kill()

    again = make_server(data_dir=data_dir)
    counts = stored_spans(again, list(sent))
    assert counts == sent
    # A second restart replays nothing twice.
    again.stop()
    third = make_server(data_dir=data_dir)
    assert stored_spans(third, list(sent)) == sent
    listed = httpx.get(f"{third.url}/api/traces", params={"limit": 100}, headers=third.headers).json()["traces"]
    assert sorted(t["trace_id"] for t in listed) == sorted(sent)


def test_store_outage_spools_then_503_then_drains_when_store_returns(make_server: Any, tmp_path: Any) -> None:
    data_dir = tmp_path / "outage"
    dead = f"http://127.0.0.1:{free_port()}/tracehouse"  # nothing listens there
    down = make_server(
        data_dir=data_dir,
        extra_args=["--dsn", dead, "--no-auth"],
        env={"TRACEHOUSE_SPOOL_MAX_BYTES": str(1024 * 1024)},
    )
    accepted: dict[str, int] = {}
    refused = None
    for _ in range(400):
        trace_id = os.urandom(16).hex()
        spans = [json_span(trace_id, os.urandom(8).hex(), f"s{i}") for i in range(50)]
        r = post(down, json.dumps(otlp_json(spans)).encode())
        if r.status_code == 200:
            accepted[trace_id] = 50
        else:
            refused = r
            break
    assert refused is not None, "the spool limit was never reached"
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
    assert len(accepted) > 10
    assert_grpc_unavailable_with_retry_info(down.grpc_port)
    assert httpx.get(f"{down.url}/readyz").status_code == 503
    down.stop()

    # The store "returns": the same data directory, now on the embedded engine.
    up = make_server(data_dir=data_dir, extra_args=["--no-auth"])
    assert stored_spans(up, list(accepted), timeout=60) == accepted


def test_one_projects_spans_are_invisible_to_another_projects_key(server: Any) -> None:
    created = httpx.post(
        f"{server.url}/api/admin/keys",
        json={"project": "other-team"},
        headers={"x-tracehouse-admin": json.loads((server.data_dir / "admin").read_text())["token"]},
    )
    assert created.status_code == 201
    other = {"Authorization": f"Bearer {created.json()['key']}"}
    mine = send_traces(server, traces=1, spans_per_trace=2)
    (trace_id,) = mine
    assert stored_spans(server, [trace_id]) == mine

    assert httpx.get(f"{server.url}/api/traces/{trace_id}", headers=other).status_code == 404
    assert httpx.get(f"{server.url}/api/traces", headers=other).json()["traces"] == []
    assert httpx.get(f"{server.url}/api/stats/agents", headers=other).json()["agents"] == []
    theirs = httpx.get(f"{server.url}/api/traces", headers=server.headers).json()["traces"]
    assert [t["trace_id"] for t in theirs] == [trace_id]
