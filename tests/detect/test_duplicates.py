"""Duplicate-work detector on crafted traces: the same input done twice by different agents or concurrent branches
is waste sized by the duplicates; dedup hits, different inputs and sequential re-use are not."""

from __future__ import annotations

from tracehouse.domain.model import StepType
from tracehouse.evals.detect import Kind, detect_cross_trace_duplicates, detect_duplicate_work
from tracehouse.sdk import semconv

from .traces import TraceBuilder


def test_same_operation_and_input_by_two_agents_is_duplicate_work_sized_by_the_duplicate() -> None:
    b = TraceBuilder()
    root = b.step(StepType.WORKFLOW, "", duration=10_000_000_000)
    a = b.agent("analyst", root)
    b.llm("analyst", a, content_hash="same", tokens=291, cost=0.03)
    c = b.agent("critic", root)
    dup = b.llm("critic", c, content_hash="same", tokens=290, cost=0.029)  # same prompt (145 in), other answer
    [f] = detect_duplicate_work(b.steps)
    assert f.kind == Kind.DUPLICATE_WORK
    assert f.agents == ["analyst", "critic"]
    assert f.wasted_tokens == 290 and abs(f.wasted_cost_usd - 0.029) < 1e-12
    assert f.span_ids[1] == dup.span_id and len(f.span_ids) == 2


def test_two_agents_calling_the_same_tool_with_different_inputs_is_not_duplicate_work() -> None:
    b = TraceBuilder()
    b.step(StepType.TOOL, "a", tool="search", content_hash="q1")
    b.step(StepType.TOOL, "b", tool="search", content_hash="q2")
    assert detect_duplicate_work(b.steps) == []


def test_a_dedup_hit_is_not_waste() -> None:
    b = TraceBuilder()
    b.llm("a", content_hash="x", tokens=100, cost=0.01)
    b.llm("b", content_hash="x", tokens=0, cost=0.0, attributes={semconv.DEDUP_HIT: "true"})
    assert detect_duplicate_work(b.steps) == []


def test_concurrent_branches_of_one_agent_doing_the_same_work_are_duplicates() -> None:
    b = TraceBuilder()
    root = b.agent("worker", duration=10_000_000_000)
    t = b.t
    br1 = b.step(StepType.TOOL, "worker", root, tool="map", content_hash="m1", start=t, duration=5_000_000)
    b.llm("worker", br1, content_hash="inner", start=t + 10, tokens=40, cost=0.004)
    br2 = b.step(StepType.TOOL, "worker", root, tool="map", content_hash="m1", start=t + 5, duration=5_000_000)
    b.llm("worker", br2, content_hash="inner", start=t + 20, tokens=40, cost=0.004)
    [f] = detect_duplicate_work(b.steps)
    # the inner LLM call is counted once, as part of the duplicated tool call
    assert f.details["action"] == "execute_tool:map" and f.wasted_tokens == 40


def test_sequential_reuse_by_the_same_agent_is_not_duplicate_work() -> None:
    b = TraceBuilder()
    agent = b.agent("a", duration=10_000_000_000)
    b.step(StepType.TOOL, "a", agent, tool="lookup", content_hash="k")
    b.step(StepType.TOOL, "a", agent, tool="lookup", content_hash="k")
    assert detect_duplicate_work(b.steps) == []


def test_steps_without_a_content_hash_are_never_compared() -> None:
    b = TraceBuilder()
    b.llm("a", tokens=100)
    b.llm("b", tokens=100)
    assert detect_duplicate_work(b.steps) == []


def test_cross_trace_duplicates_in_a_window() -> None:
    one, two = TraceBuilder(), TraceBuilder()
    one.llm("a", content_hash="shared", tokens=100, cost=0.01)
    two.llm("b", content_hash="shared", tokens=90, cost=0.009)
    [f] = detect_cross_trace_duplicates({one.trace_id: one.steps, two.trace_id: two.steps})
    assert f.trace_id == one.trace_id and f.wasted_tokens == 90
    assert detect_cross_trace_duplicates({one.trace_id: one.steps}) == []


def test_calls_whose_prompts_differ_in_size_are_not_duplicates_whatever_input_was_recorded() -> None:
    """Some instrumentations record only the first user message, so every call of a conversation hashes alike."""
    b = TraceBuilder()
    root = b.step(StepType.WORKFLOW, "", duration=10_000_000_000)
    for agent, tokens in (("triage", 70), ("specialist", 146), ("specialist", 257)):
        b.llm(agent, b.agent(agent, root), content_hash="first-user-message", tokens=tokens)
    assert detect_duplicate_work(b.steps) == []
