"""Span conformance (design §4: 20), asyncio runs, composition, and bad configuration failing at build time."""

from __future__ import annotations

from typing import Any

import pytest

from tracehouse.orchestrator import (
    Agent,
    FakeProvider,
    FanOut,
    GraphConfigError,
    HandoffContract,
    Limits,
    Orchestrator,
    Result,
    Sequential,
    StateMachine,
    Supervisor,
    Swarm,
    Task,
)
from tracehouse.orchestrator.demo import WORKFLOWS
from tracehouse.sdk import semconv as sc

ALLOWED = {sc.OP_INVOKE_WORKFLOW, sc.OP_INVOKE_AGENT, sc.OP_CHAT, sc.OP_EXECUTE_TOOL}


@pytest.mark.parametrize("index", range(len(WORKFLOWS)))
def test_span_conformance_on_every_demo_workflow(index: int, spans: Any) -> None:
    build, inputs, _ = WORKFLOWS[index]
    orch = build()
    result = orch.run(inputs)
    mine = [s for s in spans.all() if format(s.context.trace_id, "032x") == result.trace_id]
    by_id = {s.context.span_id: s for s in mine}
    ops = {s.context.span_id: (s.attributes or {})[sc.GEN_AI_OPERATION_NAME] for s in mine}
    assert set(ops.values()) <= ALLOWED
    roots = [s for s in mine if s.parent is None]
    assert len(roots) == 1 and ops[roots[0].context.span_id] == sc.OP_INVOKE_WORKFLOW
    for s in mine:
        if s.parent is None:
            continue
        parent_op = ops[s.parent.span_id]
        op = ops[s.context.span_id]
        if op in (sc.OP_CHAT, sc.OP_EXECUTE_TOOL) and not s.name.startswith("execute_tool transfer_to_"):
            assert parent_op == sc.OP_INVOKE_AGENT, s.name
        if op == sc.OP_INVOKE_AGENT:
            parent = by_id[s.parent.span_id]
            assert parent_op == sc.OP_INVOKE_WORKFLOW or parent.name.startswith("execute_tool transfer_to_"), s.name
    chat = [s for s in mine if ops[s.context.span_id] == sc.OP_CHAT]
    ok_chat = [s for s in chat if (s.attributes or {}).get(sc.GEN_AI_USAGE_INPUT_TOKENS) is not None]
    assert sum((s.attributes or {})[sc.GEN_AI_USAGE_INPUT_TOKENS] for s in ok_chat) == result.usage.input_tokens
    assert sum((s.attributes or {})[sc.GEN_AI_USAGE_OUTPUT_TOKENS] for s in ok_chat) == result.usage.output_tokens
    assert abs(sum((s.attributes or {})[sc.COST_USD] for s in ok_chat) - result.spent_usd) < 1e-12
    journal = orch.store._branch_rows(result.trace_id, "main", None)
    agent_spans = [
        s for s in mine if ops[s.context.span_id] == sc.OP_INVOKE_AGENT and (s.attributes or {}).get(sc.STEP_KEY)
    ]
    assert {(s.attributes or {})[sc.STEP_KEY] for s in agent_spans if s.status.is_ok} <= {
        r.step_key for r in journal if r.kind in ("agent", "arbiter")
    }
    assert len(chat) == result.usage.model_calls  # one span per provider attempt


async def test_async_run_with_composed_patterns(spans: Any) -> None:
    provider = FakeProvider(default=lambda req: f"{req.agent} done")

    async def draft(ctx: Any) -> dict[str, Any]:
        reply = await ctx.allm(f"draft {ctx.state.get('round', 0)}")
        return {"draft": reply.text, "round": ctx.state.get("round", 0) + 1}

    def review(ctx: Any) -> dict[str, Any]:
        return {"ok": ctx.state["round"] >= 2}

    machine = StateMachine(
        "editing",
        {
            "draft": Agent("drafter", draft, reads=["round"], writes=["draft", "round"]),
            "review": Agent("reviewer", review, reads=["round"], writes=["ok"]),
        },
        {"draft": ["review"], "review": ["draft", None]},
        lambda s, cur, out: "review" if cur == "draft" else (None if s["ok"] else "draft"),
        start="draft",
        max_steps=10,
    )

    async def scout(ctx: Any) -> dict[str, Any]:
        return {"facts": (await ctx.allm(f"scout {ctx.input['topic']}")).text}

    lead = Supervisor(
        "lead",
        lambda ctx: [Task("editing", {"n": 1}), Task("scout", {"topic": "tides"})],
        [machine, Agent("scout", scout, writes=["facts"])],
        synthesize=lambda ctx, res: Result(writes={"report": "ok"}, output=len(res)),
        writes=["report"],
    )
    flow = Sequential("pipeline", [FanOut("warmup", [Agent("w1", lambda ctx: {}), Agent("w2", lambda ctx: {})]), lead])
    result = await Orchestrator("test.async", flow, provider=provider).arun({})
    assert result.ok, result.error
    assert result.state["round"] == 2 and result.state["report"] == "ok" and result.output == 2
    transfers = spans.named("execute_tool transfer_to_editing")
    drafts = spans.named("invoke_agent drafter")
    assert transfers and drafts
    chain = {s.context.span_id: s for s in spans.all()}
    parent = chain[drafts[0].parent.span_id]
    assert parent.name == "execute_tool transfer_to_editing"


def test_edge_to_unknown_agent_fails_at_build_time() -> None:
    with pytest.raises(GraphConfigError, match="unknown agent 'bilingg'"):
        Orchestrator("bad", Swarm("s", [Agent("triage", lambda ctx: None, handoffs=["bilingg"])], start="triage"))
    with pytest.raises(GraphConfigError, match="contract triage->nobody: unknown target agent 'nobody'"):
        Orchestrator("bad", Agent("triage", lambda ctx: None), contracts=[HandoffContract("triage", "nobody")])
    with pytest.raises(GraphConfigError, match="unknown state 'publsh'"):
        StateMachine("m", {"a": Agent("a", lambda ctx: None)}, {"a": ["publsh"]}, lambda *a: None, start="a")


def test_cycle_without_cap_fails_at_build_time() -> None:
    a = Agent("a", lambda ctx: None, handoffs=["b"])
    b = Agent("b", lambda ctx: None, handoffs=["a"])
    with pytest.raises(GraphConfigError, match=r"cycle a -> b -> a has no cap"):
        Orchestrator("loop", Swarm("pair", [a, b], start="a"))
    Orchestrator("capped", Swarm("pair", [a, b], start="a"), limits=Limits(max_handoff_hops=6), provider=FakeProvider())
    machine = StateMachine(
        "m",
        {"x": Agent("x", lambda ctx: None), "y": Agent("y", lambda ctx: None)},
        {"x": ["y"], "y": ["x"]},
        lambda *a: None,
        start="x",
    )
    with pytest.raises(GraphConfigError, match=r"cycle .* has no cap: set max_steps"):
        Orchestrator("m", machine)


def test_negative_budget_and_duplicate_names_fail_at_build_time() -> None:
    with pytest.raises(GraphConfigError, match="max_cost_usd must be a number >= 0, got -1"):
        Limits(max_cost_usd=-1)
    with pytest.raises(GraphConfigError, match="two different nodes are named 'a'"):
        Orchestrator("dup", Sequential("s", [Agent("a", lambda ctx: None), Agent("a", lambda ctx: None)]))
    with pytest.raises(GraphConfigError, match="unknown role 'planner'"):
        Orchestrator("role", Agent("a", lambda ctx: None, role="planner"))
