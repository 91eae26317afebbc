"""The trace rules: the same answer whatever the order and grouping the spans arrive in."""

from __future__ import annotations

import itertools
import random

from tracehouse.domain.attribution import attribute, handoffs, restore_own
from tracehouse.domain.model import Status, Step, StepType, ToolCall
from tracehouse.domain.tree import TraceTree

_ids = itertools.count(1)


def st(name: str, parent: Step | None = None, *, t: int = 0, **fields: object) -> Step:
    return Step("p", "t" * 32, f"{next(_ids):016x}", parent.span_id if parent else "", t, t + 10, name, **fields)


def _final(steps: list[Step]) -> dict[str, tuple[object, ...]]:
    return {
        s.name: (s.agent, s.step_type, s.input_tokens, s.output_tokens, s.cost_usd, s.handoff_source, s.handoff_target)
        for s in steps
    }


def _in_batches(steps: list[Step], cuts: list[int]) -> list[Step]:
    """Attribute each batch alone (what the writer does), then the whole stored trace (what the finaliser does)."""
    stored: dict[str, Step] = {}
    bounds = [0, *cuts, len(steps)]
    for lo, hi in itertools.pairwise(bounds):
        for s in attribute(steps[lo:hi]).steps:
            stored[s.span_id] = s
    return attribute(list(stored.values())).steps


def _strands_like() -> list[Step]:
    """invoke_agent carries the sum of its calls' usage; a chain sits between; usage also on a wrapper."""
    agent = st("invoke_agent a", step_type=StepType.AGENT, agent="a", input_tokens=100, output_tokens=20)
    chain = st("cycle", agent, t=1)
    wrapper = st("wrap", chain, t=2, step_type=StepType.LLM, input_tokens=100, output_tokens=20, response_model="m")
    call = st("chat", wrapper, t=3, step_type=StepType.LLM, input_tokens=100, output_tokens=20, response_model="m")
    tool = st("tool", chain, t=4, step_type=StepType.TOOL, tool_name="x")
    return [call, tool, wrapper, chain, agent]  # children first, as exporters send


def test_usage_counts_once_on_the_innermost_call_however_the_trace_was_split() -> None:
    steps = _strands_like()
    whole = _final(attribute([_copy(s) for s in steps]).steps)
    for cuts in ([1], [2], [4], [1, 3], [1, 2, 3, 4]):
        split = _final(_in_batches([_copy(s) for s in steps], cuts))
        assert split == whole, cuts
    final = attribute([_copy(s) for s in steps]).steps
    assert sum(s.input_tokens or 0 for s in final) == 100
    by = {s.name: s for s in final}
    assert by["chat"].step_type is StepType.LLM and by["wrap"].step_type is StepType.OTHER
    assert by["tool"].agent == "a" and by["chat"].agent == "a"


def test_rules_applied_again_change_nothing_and_own_values_restore_the_span() -> None:
    steps = attribute(_strands_like()).steps
    assert attribute(steps).changed == []
    agent = next(s for s in steps if s.name == "invoke_agent a")
    assert agent.input_tokens is None and agent.own["input_tokens"] == "100"
    restore_own(agent)
    assert agent.input_tokens == 100


def test_one_handoff_with_three_kinds_of_evidence_counts_once_with_the_agents_real_name() -> None:
    triage = st("triage", step_type=StepType.AGENT, agent="Triage")
    ask = st(
        "response",
        triage,
        t=1,
        step_type=StepType.LLM,
        response_model="m",
        input_tokens=5,
        tool_calls=[ToolCall("c1", "transfer_to_weather_specialist")],
    )
    tool = st(
        "transfer_to_weather_specialist",
        triage,
        t=2,
        step_type=StepType.HANDOFF,
        tool_name="transfer_to_weather_specialist",
        tool_call_id="c1",
    )
    span = st("handoff", triage, t=3, step_type=StepType.HANDOFF, handoff_target="Weather specialist")
    target = st("weather", step_type=StepType.AGENT, agent="Weather specialist", t=4)
    steps = attribute([ask, tool, span, target, triage]).steps
    [h] = handoffs(steps)
    assert (h.name, h.handoff_source, h.handoff_target) == ("handoff", "Triage", "Weather specialist")
    assert {s.agent for s in steps} == {"Triage", "Weather specialist"}


def test_a_handoff_loop_keeps_every_handoff() -> None:
    steps: list[Step] = []
    for i in range(3):
        a = st("a", step_type=StepType.AGENT, agent="a", t=i * 100)
        ask = st(
            "ask",
            a,
            t=i * 100 + 1,
            step_type=StepType.LLM,
            response_model="m",
            tool_calls=[ToolCall(f"c{i}", "transfer_to_b")],
        )
        steps += [a, ask, st("transfer_to_b", a, t=i * 100 + 2, step_type=StepType.HANDOFF, tool_name="transfer_to_b")]
        steps.append(st("b", step_type=StepType.AGENT, agent="b", t=i * 100 + 50))
    assert [(h.handoff_source, h.handoff_target) for h in handoffs(attribute(steps).steps)] == [("a", "b")] * 3


def test_a_preparation_step_tagged_llm_beside_the_real_call_is_not_a_call() -> None:
    agent = st("agent", step_type=StepType.AGENT, agent="a")
    prep = st("OpenAI._prepare_chat_with_tools", agent, t=1, step_type=StepType.LLM, request_model="m")
    call = st("OpenAI.chat", agent, t=2, step_type=StepType.LLM, request_model="m", response_model="m", input_tokens=3)
    by = {s.name: s for s in attribute([agent, prep, call]).steps}
    assert by["OpenAI._prepare_chat_with_tools"].step_type is StepType.OTHER
    assert by["OpenAI.chat"].step_type is StepType.LLM


def test_a_lone_call_without_usage_is_still_a_call() -> None:
    call = st("chat", step_type=StepType.LLM, request_model="m", status=Status.UNSET)
    assert attribute([call]).steps[0].step_type is StepType.LLM


def test_agent_inheritance_is_the_same_in_any_arrival_order() -> None:
    rng = random.Random(7)
    agent = st("planner", step_type=StepType.AGENT, agent="planner")
    mid = st("mid", agent, t=1)
    leaf = st("leaf", mid, t=2, step_type=StepType.TOOL, tool_name="x")
    for _ in range(10):
        order = [_copy(s) for s in (agent, mid, leaf)]
        rng.shuffle(order)
        final = _in_batches(order, [1, 2])
        assert {s.name: s.agent for s in final} == {"planner": "planner", "mid": "planner", "leaf": "planner"}


def test_a_parent_cycle_is_broken_and_every_walk_ends() -> None:
    a, b, c = (Step("p", "t" * 32, f"{i:016x}", "", i, i + 1, n) for i, n in ((1, "a"), (2, "b"), (3, "c")))
    a.parent_span_id, b.parent_span_id, c.parent_span_id = c.span_id, a.span_id, b.span_id
    tree = TraceTree([a, b, c])
    assert tree.roots == [a.span_id]
    assert [s.name for s in tree.steps] == ["a", "b", "c"]
    assert [s.name for s in tree.ancestors(c)] == ["b", "a"]
    attribute([a, b, c])  # terminates


def _copy(s: Step) -> Step:
    from dataclasses import replace

    return replace(s, own=dict(s.own), tool_calls=list(s.tool_calls))
