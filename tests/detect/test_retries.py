"""Retry-storm detector on crafted traces: amplification from explicit attempts and from unmarked retries,
cascades through layers — and the single retry after a 429 that is just good behaviour."""

from __future__ import annotations

from tracehouse.domain.model import StepType
from tracehouse.evals.detect import Kind, detect_retry_storms

from .traces import TraceBuilder


def test_many_explicit_attempts_are_a_storm_with_amplification_and_waste() -> None:
    b = TraceBuilder()
    agent = b.agent("worker", duration=10_000_000_000)
    for call in range(2):
        for attempt in range(1, 5):
            b.llm("worker", agent, content_hash=f"c{call}", attempt=attempt, error=attempt < 4, tokens=10, cost=0.001)
    [f] = detect_retry_storms(b.steps)
    assert f.kind == Kind.RETRY_STORM
    assert f.details["attempts"] == 8 and f.details["logical_calls"] == 2 and f.details["amplification"] == 4.0
    assert f.wasted_tokens == 60  # the six attempts that were retried
    assert f.agents == ["worker"] and len(f.span_ids) == 8


def test_a_single_retry_after_a_429_is_not_a_storm() -> None:
    b = TraceBuilder()
    agent = b.agent("worker", duration=10_000_000_000)
    b.llm("worker", agent, content_hash="c", attempt=1, error=True)
    b.llm("worker", agent, content_hash="c", attempt=2)
    for i in range(3):
        b.llm("worker", agent, content_hash=f"other{i}", attempt=1)
    assert detect_retry_storms(b.steps) == []


def test_unmarked_retries_are_recognised_from_identical_calls_after_errors() -> None:
    b = TraceBuilder()
    agent = b.agent("worker", duration=10_000_000_000)
    for _ in range(4):
        b.step(StepType.TOOL, "worker", agent, tool="fetch", content_hash="same", error=True)
    b.step(StepType.TOOL, "worker", agent, tool="fetch", content_hash="same")
    [f] = detect_retry_storms(b.steps)
    assert f.details["attempts"] == 5 and f.details["logical_calls"] == 1


def test_identical_successful_calls_are_not_retries() -> None:
    b = TraceBuilder()
    agent = b.agent("worker", duration=10_000_000_000)
    for _ in range(5):
        b.step(StepType.TOOL, "worker", agent, tool="ping", content_hash="same")
    assert detect_retry_storms(b.steps) == []


def test_a_retry_inside_a_retried_call_is_a_cascade() -> None:
    b = TraceBuilder()
    root = b.agent("supervisor", duration=10_000_000_000)
    for outer in (1, 2):
        task = b.step(
            StepType.TOOL,
            "supervisor",
            root,
            tool="delegate",
            content_hash="t",
            attempt=outer,
            error=outer == 1,
            duration=1_000_000_000,
        )
        b.llm("worker", task, content_hash="inner", attempt=1, error=True)
        b.llm("worker", task, content_hash="inner", attempt=2, error=outer == 1)
    [f] = detect_retry_storms(b.steps)
    assert f.details["cascades"] and f.severity == "critical"
    assert "cascade" in f.explanation


def test_a_failing_tool_retried_in_the_agents_next_steps_is_a_storm_whatever_the_parent() -> None:
    """Agent frameworks retry a failing tool in the agent's next turn, under a new parent span each time."""
    b = TraceBuilder()
    agent = b.agent("worker", duration=60_000_000_000)
    for _ in range(9):
        turn = b.step(StepType.OTHER, "worker", agent, name="turn")
        b.llm("worker", turn, tokens=10, cost=0.001)
        b.step(StepType.TOOL, "worker", turn, tool="lookup", content_hash="same-args", error=True)
    [f] = detect_retry_storms(b.steps)
    assert f.details["attempts"] - f.details["logical_calls"] >= 8
