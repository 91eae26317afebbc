"""Exporters send a child before its parent; a step stored before its agent's span arrived gets the agent later."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx

from tests.collector.test_receiver_answers import otlp_json, post


def span(trace_id: str, span_id: str, parent: str, name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    now = time.time_ns()
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 1000),
        "attributes": [
            {"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": v}} for k, v in attrs.items()
        ],
    }


def steps_by_name(server: Any, trace_id: str) -> dict[str, dict[str, Any]]:
    r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers)
    return {s["name"]: s for s in r.json()["steps"]} if r.status_code == 200 else {}


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def test_child_stored_before_its_agent_gets_the_agent_when_the_agent_arrives(server: Any) -> None:
    trace_id, agent_id, chat_id = os.urandom(16).hex(), os.urandom(8).hex(), os.urandom(8).hex()
    chat = span(
        trace_id,
        chat_id,
        agent_id,
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
        },
    )
    assert post(server, json.dumps(otlp_json([chat])).encode()).status_code == 200
    wait_for(lambda: "chat gpt-4o" in steps_by_name(server, trace_id))
    assert steps_by_name(server, trace_id)["chat gpt-4o"]["agent"] == ""  # its parent has not arrived yet

    agent = span(
        trace_id,
        agent_id,
        "",
        "invoke_agent planner",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
    )
    assert post(server, json.dumps(otlp_json([agent])).encode()).status_code == 200
    wait_for(lambda: steps_by_name(server, trace_id).get("chat gpt-4o", {}).get("agent") == "planner")

    steps = steps_by_name(server, trace_id)
    assert len(steps) == 2  # the corrected row replaced the first one
    summary = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers).json()["summary"]
    assert summary["spans"] == 2 and summary["input_tokens"] == 100  # counted once, not per row version
    stats = httpx.get(f"{server.url}/api/stats/agents", headers=server.headers).json()["agents"]
    planner = next(a for a in stats if a["key"] == "planner")
    assert planner["input_tokens"] == 100
