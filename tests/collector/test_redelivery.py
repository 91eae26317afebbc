"""A span re-sent with different content, in another request: the summary, the stats and the step list all show the
newest version of it once, exactly what `steps FINAL` holds."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

from tests.collector.test_late_parents import span, steps_by_name, wait_for
from tests.collector.test_receiver_answers import otlp_json, post


def _summary(server: Any, trace_id: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers)
    return r.json()["summary"] if r.status_code == 200 else {}


def test_span_resent_with_other_usage_counts_its_newest_version_once(server: Any) -> None:
    trace_id, agent_id, chat_id = os.urandom(16).hex(), os.urandom(8).hex(), os.urandom(8).hex()
    agent = span(
        trace_id,
        agent_id,
        "",
        "invoke_agent planner",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
    )
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "m"}
    first = span(
        trace_id,
        chat_id,
        agent_id,
        "chat gpt-4o-mini",
        {**chat, "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 7},
    )
    assert post(server, json.dumps(otlp_json([agent, first])).encode()).status_code == 200
    wait_for(lambda: _summary(server, trace_id).get("input_tokens") == 5000)

    again = {
        **first,
        "attributes": span(
            trace_id,
            chat_id,
            agent_id,
            "x",
            {**chat, "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 7},
        )["attributes"],
    }
    assert post(server, json.dumps(otlp_json([again])).encode()).status_code == 200
    wait_for(lambda: _summary(server, trace_id).get("input_tokens") == 1000)

    # The re-sent span came alone: its agent is settled by the finaliser once the trace is quiet.
    wait_for(lambda: steps_by_name(server, trace_id)["chat gpt-4o-mini"]["agent"] == "planner")
    summary = _summary(server, trace_id)
    assert (summary["spans"], summary["llm_calls"], summary["output_tokens"]) == (2, 1, 7)
    steps = steps_by_name(server, trace_id)
    assert len(steps) == 2 and steps["chat gpt-4o-mini"]["input_tokens"] == 1000
    stats = httpx.get(f"{server.url}/api/stats/agents", headers=server.headers).json()["agents"]
    assert next(a for a in stats if a["key"] == "planner")["input_tokens"] == 1000
