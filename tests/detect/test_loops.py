"""Loop detector on crafted traces: hand-off ping-pong, repeated identical actions, nesting depth — and the
near-misses a human would not call a loop."""

from __future__ import annotations

from tracehouse.domain.model import StepType
from tracehouse.evals.detect import DetectConfig, Kind, detect_loops
from tracehouse.sdk import semconv

from .traces import TraceBuilder


def _ping_pong(b: TraceBuilder, hops: list[tuple[str, str]]) -> None:
    root = b.step(StepType.WORKFLOW, "", name="invoke_workflow demo", duration=10_000_000_000)
    current = b.agent(hops[0][0], root)
    b.llm(hops[0][0], current)
    for source, target in hops:
        h = b.step(StepType.HANDOFF, source, current, handoff=(source, target), duration=400_000_000)
        current = b.agent(target, h, duration=300_000_000)
        b.llm(target, current, tokens=200, cost=0.002)


def test_handoff_ping_pong_is_a_loop_naming_agents_cycle_and_cost() -> None:
    b = TraceBuilder()
    _ping_pong(b, [("triage", "billing"), ("billing", "triage"), ("triage", "billing"), ("billing", "triage")])
    [f] = detect_loops(b.steps)
    assert f.kind == Kind.LOOP
    assert f.agents == ["billing", "triage"]
    assert f.details["cycle"] == ["triage", "billing", "triage"]
    assert f.details["repeats"] == 2
    assert f.wasted_tokens == 4 * 200 and abs(f.wasted_cost_usd - 0.008) < 1e-9
    assert "triage → billing → triage" in f.explanation
    assert all(s in {x.span_id for x in b.steps} for s in f.span_ids)


def test_a_single_revisit_is_not_a_loop() -> None:
    b = TraceBuilder()
    _ping_pong(b, [("triage", "billing"), ("billing", "triage")])
    assert detect_loops(b.steps) == []


def test_a_chain_through_distinct_agents_is_not_a_loop() -> None:
    b = TraceBuilder()
    _ping_pong(b, [("a", "b"), ("b", "c"), ("c", "a"), ("a", "d")])
    assert detect_loops(b.steps) == []


def test_redetection_gives_the_same_id() -> None:
    b = TraceBuilder()
    _ping_pong(b, [("a", "b"), ("b", "a"), ("a", "b")])
    first = detect_loops(b.steps)
    b.llm("b", tokens=10)  # the trace grew after the first scan
    again = detect_loops(list(reversed(b.steps)))
    assert [f.id for f in first] == [f.id for f in again] and len(first) == 1


def test_same_tool_same_input_repeated_without_new_results_is_a_loop() -> None:
    b = TraceBuilder()
    agent = b.agent("researcher", duration=10_000_000_000)
    for _ in range(4):
        b.llm("researcher", agent, tokens=50, cost=0.0005)
        b.step(StepType.TOOL, "researcher", agent, tool="search", content_hash="h-search", output="no results")
    [f] = detect_loops(b.steps)
    assert f.details["pattern"] == "repeated_action" and f.details["repeats"] == 4
    assert f.agents == ["researcher"]
    assert "search" in f.explanation


def test_repeated_calls_that_keep_returning_new_results_are_progress() -> None:
    b = TraceBuilder()
    agent = b.agent("pager", duration=10_000_000_000)
    for i in range(4):
        b.step(StepType.TOOL, "pager", agent, tool="next_page", content_hash="h-page", output=f"page {i}")
    assert detect_loops(b.steps) == []


def test_two_identical_calls_are_not_yet_a_loop_and_retries_after_errors_are_not_loops() -> None:
    b = TraceBuilder()
    agent = b.agent("a", duration=10_000_000_000)
    b.step(StepType.TOOL, "a", agent, tool="fetch", content_hash="h1")
    b.step(StepType.TOOL, "a", agent, tool="fetch", content_hash="h1")
    for _ in range(3):
        b.step(StepType.TOOL, "a", agent, tool="flaky", content_hash="h2", error=True)
    b.step(StepType.TOOL, "a", agent, tool="flaky", content_hash="h2")
    assert detect_loops(b.steps) == []


def test_nesting_beyond_the_depth_limit_is_a_loop() -> None:
    b = TraceBuilder()
    parent = None
    for i in range(6):
        parent = b.agent(f"agent{i % 2}", parent, duration=10_000_000_000 - i)
    b.llm("agent1", parent, tokens=30, cost=0.01)
    [f] = detect_loops(b.steps, DetectConfig(max_agent_depth=4))
    assert f.details == {"pattern": "depth", "depth": 6, "limit": 4}
    assert f.agents == ["agent0", "agent1"]
    assert detect_loops(b.steps, DetectConfig(max_agent_depth=6)) == []


def test_the_orchestrator_guard_report_is_a_loop_when_nothing_else_explains_it() -> None:
    b = TraceBuilder()
    agent = b.agent("writer", duration=10_000_000_000)
    b.llm("writer", agent, tokens=80, cost=0.004, attributes={semconv.LOOP_DETECTED: "action_observation"})
    [f] = detect_loops(b.steps)
    assert f.details["pattern"] == "guard" and f.wasted_tokens == 80
