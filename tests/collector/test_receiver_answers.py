"""OTLP/HTTP answers as the specification says: JSON and gzip bodies, partial success, and every error status."""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import ParseDict
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def otlp_json(spans: list[dict[str, Any]], service: str = "json-svc") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "hand-written"}, "spans": spans}],
            }
        ]
    }


def json_span(trace_id: str, span_id: str, name: str, **extra: Any) -> dict[str, Any]:
    now = time.time_ns()
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 1_500_000),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 30}},
            {"key": "gen_ai.agent.name", "value": {"stringValue": "json-agent"}},
        ],
        **extra,
    }


def post(server: Any, body: bytes, content_type: str = "application/json", **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/traces",
        content=body,
        headers={**server.headers, "content-type": content_type, **headers},
        timeout=10,
    )


def steps_of(server: Any, trace_id: str, expected: int, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers)
        if r.status_code == 200 and len(r.json()["steps"]) >= expected:
            return list(r.json()["steps"])
        time.sleep(0.2)
    raise AssertionError(f"{trace_id}: fewer than {expected} steps arrived")


def test_json_body_with_hex_ids_and_string_int64s(server: Any) -> None:
    trace_id = os.urandom(16).hex()
    r = post(server, json.dumps(otlp_json([json_span(trace_id, os.urandom(8).hex(), "chat gpt-4o-mini")])).encode())
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "partialSuccess" not in r.json()
    (step,) = steps_of(server, trace_id, 1)
    assert (step["input_tokens"], step["output_tokens"], step["agent"]) == (120, 30, "json-agent")
    assert step["service"] == "json-svc" and step["trace_id"] == trace_id


def test_gzip_protobuf_body_gets_a_protobuf_answer(server: Any) -> None:
    trace_id = os.urandom(16).hex()
    request = ExportTraceServiceRequest()
    doc = otlp_json([json_span(trace_id, os.urandom(8).hex(), "chat")])
    for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        span["traceId"] = base64.b64encode(bytes.fromhex(span["traceId"])).decode()
        span["spanId"] = base64.b64encode(bytes.fromhex(span["spanId"])).decode()
    ParseDict(doc, request)
    body = gzip.compress(request.SerializeToString())
    r = post(server, body, "application/x-protobuf", **{"content-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 0
    assert len(steps_of(server, trace_id, 1)) == 1


def test_half_valid_batch_is_partial_success_and_keeps_the_valid_spans(server: Any) -> None:
    trace_id = os.urandom(16).hex()
    good = [json_span(trace_id, os.urandom(8).hex(), f"good {i}") for i in range(3)]
    bad = [
        json_span("00" * 16, os.urandom(8).hex(), "zero trace id"),
        json_span(trace_id, "not-hex!", "bad span id"),
    ]
    r = post(server, json.dumps(otlp_json(good + bad)).encode())
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 2 and "trace_id" in partial["errorMessage"]
    assert sorted(s["name"] for s in steps_of(server, trace_id, 3)) == ["good 0", "good 1", "good 2"]


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "fragment"),
    [
        (b"{not json", "application/json", {}, 400, "not valid JSON"),
        (b"\xff\xfe\x00garbage", "application/x-protobuf", {}, 400, "not a protobuf"),
        (b"hello", "text/plain", {}, 415, "unsupported content type"),
        (b"abc", "application/json", {"content-encoding": "br"}, 415, "content encoding"),
        (b"not gzip", "application/json", {"content-encoding": "gzip"}, 400, "not valid gzip"),
    ],
)
def test_bad_bodies_get_clear_4xx(
    server: Any, body: bytes, content_type: str, headers: dict[str, str], status: int, fragment: str
) -> None:
    r = post(server, body, content_type, **headers)
    assert r.status_code == status
    if r.headers["content-type"] == "application/x-protobuf":
        message = Status.FromString(r.content).message  # OTLP: a google.rpc.Status in the request's encoding
    else:
        message = r.json()["message"]
    assert fragment in message


def test_oversized_and_gzip_bomb_are_413(make_server: Any) -> None:
    server = make_server(env={"TRACEHOUSE_MAX_REQUEST_BYTES": str(64 * 1024)})
    r = post(server, b"{" + b" " * (65 * 1024) + b"}")
    assert r.status_code == 413
    bomb = gzip.compress(b"{" + b" " * (10 * 1024 * 1024) + b"}")  # ~10 KB on the wire, 10 MB inflated
    assert len(bomb) < 64 * 1024
    r = post(server, bomb, **{"content-encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in r.json()["message"]


def test_missing_or_wrong_key_is_401(server: Any) -> None:
    body = json.dumps(otlp_json([])).encode()
    r = httpx.post(f"{server.url}/v1/traces", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 401
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=body,
        headers={"content-type": "application/json", "x-tracehouse-key": "th_wrong"},
    )
    assert r.status_code == 401 and "API key" in r.json()["message"]


def test_health_readiness_and_metrics(server: Any) -> None:
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
    post(server, json.dumps(otlp_json([json_span(os.urandom(16).hex(), os.urandom(8).hex(), "m")])).encode())
    text = httpx.get(f"{server.url}/metrics").text
    for name in (
        "tracehouse_spans_accepted_total",
        "tracehouse_spans_rejected_total",
        "tracehouse_spool_bytes",
        "tracehouse_spans_written_total",
        "tracehouse_write_errors_total",
    ):
        assert name in text
