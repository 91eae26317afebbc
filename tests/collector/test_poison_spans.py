"""One span with a value no column can hold is refused in partial_success; the rest of its request is stored, and
the writer goes on writing (issue 12, "Accepted, then lost" items 1 and 5)."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.collector.otlp_builders import make_request, make_span
from tests.collector.test_receiver_answers import steps_of

_NOW = time.time_ns()
_YEAR_NS = 365 * 86_400 * 10**9


# (what is wrong, span keyword arguments, fragment of the partial_success reason)
TRIGGERS: list[tuple[str, dict[str, Any], str]] = [
    ("tokens 2**40", {"attrs": {"gen_ai.usage.input_tokens": 2**40}}, "exceeds 4294967295"),
    ("tokens 2**63-1", {"attrs": {"gen_ai.usage.output_tokens": 2**63 - 1}}, "exceeds 4294967295"),
    ("tokens 1e300", {"attrs": {"gen_ai.usage.input_tokens": 1e300}}, "exceeds 4294967295"),
    ("tokens inf", {"attrs": {"llm.token_count.prompt": float("inf")}}, "not a finite number"),
    ("tokens 40 digits", {"attrs": {"gen_ai.usage.prompt_tokens": "9" * 40}}, "exceeds 4294967295"),
    ("retry 10**6", {"attrs": {"tracehouse.retry.attempt": 10**6}}, "retry attempt"),
    ("cost nan", {"attrs": {"tracehouse.cost.usd": float("nan")}}, "cost"),
    ("start 2**63", {"start": 2**63, "end": 2**63 + 5}, "future"),
    ("event 2**64-1", {"events": [("boom", {})], "event_time": 2**64 - 1}, "event time"),
    ("dated 1970", {"start": 1_000, "end": 2_000}, "before 2000"),
    ("dated 2200", {"start": _NOW + 175 * _YEAR_NS, "end": _NOW + 175 * _YEAR_NS + 5}, "future"),
]


def _span(trace_id: bytes, name: str, **kwargs: Any) -> Any:
    event_time = kwargs.pop("event_time", None)
    kwargs.setdefault("start", time.time_ns())
    kwargs.setdefault("end", kwargs["start"] + 1_000_000)
    span = make_span(name, trace_id=trace_id, span_id=os.urandom(8), **kwargs)
    if event_time is not None:
        span.events[0].time_unix_nano = event_time
    return span


@pytest.mark.parametrize(("label", "kwargs", "reason"), TRIGGERS, ids=[t[0] for t in TRIGGERS])
def test_poison_value_is_refused_in_partial_success(label: str, kwargs: dict[str, Any], reason: str) -> None:
    """The receiver's rule, checked without a server for each trigger (the server test below sends them all)."""
    from tracehouse.collector.normalise import count_invalid_spans

    request = make_request(_span(os.urandom(16), "ok"), _span(os.urandom(16), label, **kwargs))
    for payload in (None, request.SerializeToString()):  # every attribute walked, or the raw-bytes scan first
        rejected, message = count_invalid_spans(request, payload)
        assert rejected == 1 and reason in message, message


def test_values_in_range_scan_agrees_with_the_attribute_walk() -> None:
    from tracehouse.collector.normalise._validate import values_in_range

    fine = {
        "gen_ai.usage.input_tokens": 2**32 - 1,
        "gen_ai.usage.prompt_tokens": "12",
        "tracehouse.cost.usd": 0.5,
        "tracehouse.retry.attempt": 65_535,
        "other": 2**63 - 1,
        "x" * 200: "9" * 40,
    }
    assert values_in_range(make_request(_span(os.urandom(16), "ok", attrs=fine)).SerializeToString())
    for bad in (
        {"gen_ai.usage.input_tokens": 2**32},
        {"tracehouse.retry.attempt": "65536"},
        {"llm.cost.total": float("-inf")},
        {"gen_ai.usage.output_tokens": "1" + "0" * 300},
    ):
        request = make_request(_span(os.urandom(16), "ok", attrs={**fine, **bad}))
        assert not values_in_range(request.SerializeToString()), bad


def test_poison_spans_never_stop_writing_and_their_neighbours_are_stored(server: Any) -> None:
    stored: dict[str, int] = {}
    for label, kwargs, reason in TRIGGERS:
        trace_id = os.urandom(16)
        request = make_request(_span(trace_id, "good a"), _span(trace_id, label, **kwargs), _span(trace_id, "good b"))
        r = httpx.post(
            f"{server.url}/v1/traces",
            content=request.SerializeToString(),
            headers={**server.headers, "content-type": "application/x-protobuf"},
            timeout=10,
        )
        assert r.status_code == 200, (label, r.text)
        partial = ExportTraceServiceResponse.FromString(r.content).partial_success
        assert partial.rejected_spans == 1 and reason in partial.error_message, (label, partial)
        stored[trace_id.hex()] = 2
    canary = os.urandom(16)
    request = make_request(_span(canary, "canary"))
    httpx.post(
        f"{server.url}/v1/traces",
        content=request.SerializeToString(),
        headers={**server.headers, "content-type": "application/x-protobuf"},
        timeout=10,
    )
    assert [s["name"] for s in steps_of(server, canary.hex(), 1)] == ["canary"]
    for hex_id, count in stored.items():
        assert sorted(s["name"] for s in steps_of(server, hex_id, count)) == ["good a", "good b"]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "tracehouse_write_errors_total 0.0" in metrics
