"""A real OpenTelemetry SDK exports a multi-agent GenAI trace to a real `tracehouse serve`, over OTLP/HTTP and gRPC;
the steps read back through the query layer (the JSON API) are right, field by field."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.collector.otel_helpers import emit_multi_agent_trace, provider_for


def wait_for_trace(server: Any, trace_id: str, spans: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers)
        if r.status_code == 200 and len(r.json()["steps"]) >= spans:
            return dict(r.json())
        time.sleep(0.2)
    raise AssertionError(f"trace {trace_id} did not arrive with {spans} steps:\n{server.log()[-3000:]}")


def by_name(steps: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        out.setdefault(s["name"], []).append(s)
    return out


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_multi_agent_trace_round_trips_field_by_field(server: Any, protocol: str) -> None:
    provider = provider_for(server.url, server.api_key, protocol=protocol, grpc_port=server.grpc_port)
    trace_id = emit_multi_agent_trace(provider)
    provider.shutdown()

    trace = wait_for_trace(server, trace_id, 8)
    steps = by_name(trace["steps"])
    ids = {s["span_id"]: s for s in trace["steps"]}

    root = steps["invoke_workflow trip"][0]
    assert root["step_type"] == "workflow" and root["parent_span_id"] == "" and root["agent"] == ""
    assert root["service"] == "travel-agents"

    planner = steps["invoke_agent planner"][0]
    assert (planner["step_type"], planner["agent"], planner["operation"]) == ("agent", "planner", "invoke_agent")
    assert planner["parent_span_id"] == root["span_id"]

    mini = steps["chat gpt-4o-mini"][0]
    assert mini["step_type"] == "llm" and mini["agent"] == "planner"  # inherited from its agent ancestor
    assert (mini["provider"], mini["request_model"], mini["response_model"]) == (
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
    assert (mini["input_tokens"], mini["output_tokens"]) == (1000, 200)
    assert mini["cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    assert mini["parent_span_id"] == planner["span_id"]

    handoff = steps["execute_tool transfer_to_researcher"][0]
    assert handoff["step_type"] == "handoff"
    assert (handoff["handoff_source"], handoff["handoff_target"]) == ("planner", "researcher")
    assert handoff["tool_name"] == "transfer_to_researcher"

    researcher = steps["invoke_agent researcher"][0]
    assert researcher["parent_span_id"] == handoff["span_id"]

    failed, retried = sorted(steps["chat gpt-4o"], key=lambda s: s["retry_attempt"])
    assert failed["status"] == "error" and failed["retry_attempt"] == 1
    assert failed["input_tokens"] is None and failed["cost_usd"] is None  # no usage is not zero usage
    assert retried["status"] != "error" and retried["retry_attempt"] == 2 and retried["agent"] == "researcher"
    # 1,000 of the 3,000 input tokens were cache reads: priced at the cache price, not on top.
    assert retried["cost_usd"] == pytest.approx(((3000 - 1000) * 2.5 + 1000 * 1.25 + 500 * 10.0) / 1e6)

    tool = steps["execute_tool search_flights"][0]
    assert (tool["step_type"], tool["tool_name"], tool["agent"]) == ("tool", "search_flights", "researcher")
    assert ids[tool["parent_span_id"]]["name"] == "invoke_agent researcher"
    for s in trace["steps"]:
        assert s["start_time"].endswith("Z") and s["duration_ms"] >= 0

    summary = trace["summary"]
    assert summary["spans"] == 8 and summary["errors"] == 1 and summary["llm_calls"] == 3
    assert summary["agents"] == ["planner", "researcher"]
    assert summary["input_tokens"] == 4000 and summary["output_tokens"] == 700
    assert summary["cost_usd"] == pytest.approx(mini["cost_usd"] + retried["cost_usd"])

    listed = httpx.get(f"{server.url}/api/traces", params={"agent": "researcher"}, headers=server.headers).json()
    assert [t["trace_id"] for t in listed["traces"]] == [trace_id]
    stats = httpx.get(f"{server.url}/api/stats/agents", headers=server.headers).json()["agents"]
    researcher_stats = next(a for a in stats if a["key"] == "researcher")
    assert researcher_stats["calls"] == 1 and researcher_stats["input_tokens"] == 3000
    assert researcher_stats["retries"] == 1


def test_unknown_trace_is_404_with_json_error(server: Any) -> None:
    r = httpx.get(f"{server.url}/api/traces/{'ab' * 16}", headers=server.headers)
    assert r.status_code == 404 and "no trace" in r.json()["error"]
    r = httpx.get(f"{server.url}/api/traces/not-a-trace", headers=server.headers)
    assert r.status_code == 400 and "trace id" in r.json()["error"]
