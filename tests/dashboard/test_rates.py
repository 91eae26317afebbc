"""One definition of each rate: the Agents page's JSON and the alert engine read the same error and retry rate for
the same agent and data, the detectors' retry rate agrees, and the pages show each definition on hover."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from html import escape

import pytest
from fastapi.testclient import TestClient

from tracehouse.domain.model import Status, StepType
from tracehouse.domain.rates import ERROR_RATE, RETRY_RATE
from tracehouse.store import Store
from tracehouse.store.findings import retry_rates

from .conftest import TraceBuilder, multi_agent_trace

SAME_ORIGIN = {"Origin": "http://testserver"}


def _failing_agent_trace(project_id: str, t0_ns: int, *, calls: int, failed: int) -> TraceBuilder:
    """One run of `flaky` with `calls` tool calls, the first `failed` of them failed and retried, and the agent step
    itself failed: the old Agents page counted that wrapper as an error too (61.5% against the engine's 1.9%)."""
    tb = TraceBuilder(project_id, t0_ns)
    run = tb.add(
        "invoke_agent flaky",
        0,
        1000,
        agent="flaky",
        step_type=StepType.AGENT,
        operation="invoke_agent",
        status=Status.ERROR,
        error_type="ToolFailed",
    )
    for i in range(calls):
        bad = i < failed
        tb.add(
            f"execute_tool lookup {i}",
            10 + i,
            11 + i,
            run,
            step_type=StepType.TOOL,
            operation="execute_tool",
            tool_name="lookup",
            status=Status.ERROR if bad else Status.OK,
            error_type="Timeout" if bad else "",
            retry_attempt=2 if bad else 1,
        )
    return tb


def test_agents_page_and_alert_engine_give_the_same_rates(client: TestClient, store: Store, project_id: str) -> None:
    t0 = time.time_ns() - 60 * 10**9
    for n in range(3):
        _failing_agent_trace(project_id, t0 + n * 2 * 10**9, calls=8, failed=1 + n).save(store)
    multi_agent_trace(project_id, t0, error=True).save(store)
    # 24 tool calls of flaky: 6 failed and retried; its 3 agent steps failed too but are not calls.
    agents = {a["key"]: a for a in client.get("/api/agents?range=1h").json()["agents"]}
    flaky = agents["flaky"]
    assert (flaky["call_steps"], flaky["errors"], flaky["retries"]) == (24, 6, 6)
    assert flaky["error_rate"] == pytest.approx(6 / 24) and flaky["retry_rate"] == pytest.approx(6 / 24)

    for metric in ("error_rate", "retry_rate"):
        rule = {"metric": metric, "threshold": 0.01, "window": "1h", "group_by": "agent"}
        created = client.post("/api/alerts/rules", json={"name": f"by-agent-{metric}", **rule}, headers=SAME_ORIGIN)
        assert created.status_code == 201, created.text
    checked = client.post("/api/alerts/check", json={}, headers=SAME_ORIGIN).json()
    engine = {
        (r["metric"], i["instance"]): i["value"]
        for r in checked["rules"]
        if r["name"].startswith("by-agent-")
        for i in r["instances"]
    }
    for name in ("flaky", "researcher", "planner"):
        instance = f"agent={name}"
        assert engine[("error_rate", instance)] == pytest.approx(agents[name]["error_rate"]), name
        assert engine[("retry_rate", instance)] == pytest.approx(agents[name]["retry_rate"]), name

    # The detectors' window retry rate counts the same calls, read FINAL as the engine does (re-delivery included).
    _failing_agent_trace(project_id, t0 + 9 * 10**9, calls=4, failed=4).save(store)
    now = datetime.now(UTC)
    (detector,) = [
        r for r in retry_rates(store, now - timedelta(hours=1), now, "agent", scope=project_id) if r.key == "flaky"
    ]
    agents = {a["key"]: a for a in client.get("/api/agents?range=1h").json()["agents"]}
    assert (detector.calls, detector.retries) == (agents["flaky"]["call_steps"], agents["flaky"]["retries"])
    assert detector.rate == pytest.approx(agents["flaky"]["retry_rate"])


def test_a_redelivered_span_counts_once_in_every_rate(store: Store, project_id: str) -> None:
    tb = _failing_agent_trace(project_id, time.time_ns() - 10**9, calls=4, failed=2)
    tb.save(store)
    tb.save(store)  # the same spans again, as a re-delivery writes them
    now = datetime.now(UTC)
    (r,) = retry_rates(store, now - timedelta(minutes=5), now, "agent", scope=project_id)
    assert (r.calls, r.retries) == (4, 2)
    assert RETRY_RATE.of(tb.steps) == r.rate and ERROR_RATE.of(tb.steps) == pytest.approx(0.5)


def test_pages_show_each_rate_definition_on_hover(client: TestClient, store: Store, project_id: str) -> None:
    multi_agent_trace(project_id, time.time_ns() - 10**9).save(store)
    agents = client.get("/agents?range=1h").text
    assert f'<abbr title="{escape(ERROR_RATE.definition)}">Error rate</abbr>' in agents
    assert f'<abbr title="{escape(RETRY_RATE.definition)}">Retry rate</abbr>' in agents
    assert f'<abbr title="{escape(ERROR_RATE.definition)}">Error rate</abbr>' in client.get("/models?range=1h").text
