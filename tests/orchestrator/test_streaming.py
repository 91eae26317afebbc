"""Streamed runs yield typed step events as they happen (issue 14, piece 7)."""

from __future__ import annotations

from typing import Any

from tests.orchestrator.fake_openai import FakeOpenAI, Reply
from tracehouse.orchestrator import (
    Agent,
    AgentFinished,
    AgentStarted,
    HandedOff,
    Handoff,
    Interrupted,
    Limits,
    ModelCalled,
    ModelTokens,
    OpenAICompatibleProvider,
    Orchestrator,
    Result,
    RunFinished,
    ToolCalled,
    tool,
)


@tool
def lookup(order_id: int) -> str:
    """Find an order."""
    return f"order {order_id}: shipped"


def test_run_streamed_yields_agent_model_and_tool_events_in_order() -> None:
    flow = Agent(
        "support", lambda ctx: {"a": ctx.chat("where is 5?", tools=[lookup])}, writes=["a"], model="gpt-4o-mini"
    )
    with FakeOpenAI([Reply(tool_calls=[("lookup", {"order_id": 5})]), Reply("It shipped.")]) as llm:
        events = list(Orchestrator("t.stream", flow, provider=OpenAICompatibleProvider(llm.url)).run_streamed({}))
    assert all(body.get("stream") for body in llm.requests)  # the provider streamed each call
    tokens = [e for e in events if isinstance(e, ModelTokens)]
    assert "".join(t.delta for t in tokens) == "It shipped." and len(tokens) == 3  # as the server sent them
    assert events.index(tokens[-1]) == len(events) - 4  # just before the model call that carried them ends
    events = [e for e in events if not isinstance(e, ModelTokens)]
    assert [type(e) for e in events] == [AgentStarted, ModelCalled, ToolCalled, ModelCalled, AgentFinished, RunFinished]
    first_call, tool_call, answer = events[1], events[2], events[3]
    assert isinstance(first_call, ModelCalled) and first_call.tool_calls == ("lookup",)
    assert isinstance(tool_call, ToolCalled) and (tool_call.tool, tool_call.output) == ("lookup", "order 5: shipped")
    assert isinstance(answer, ModelCalled) and answer.text == "It shipped." and answer.input_tokens > 0
    final = events[-1]
    assert isinstance(final, RunFinished) and final.result.ok and final.result.state["a"] == "It shipped."


async def test_astream_shows_hand_offs_and_pauses() -> None:
    async def billing(ctx: Any) -> dict[str, Any]:
        ok = ctx.interrupt("Refund 30 EUR?")
        return {"done": bool(ok)}

    async def triage(ctx: Any) -> Result:
        label = (await ctx.allm("classify: refund please")).text
        return Result(writes={"label": label}, handoff=Handoff("billing", None, reason="refund"))

    flow = Agent(
        "triage", triage, writes=["label"], model="gpt-4o-mini", handoffs=[Agent("billing", billing, writes=["done"])]
    )
    with FakeOpenAI(["billing"]) as llm:
        orch = Orchestrator(
            "t.astream", flow, provider=OpenAICompatibleProvider(llm.url), limits=Limits(max_handoff_hops=2)
        )
        events = [e async for e in orch.astream({})]
    events = [e for e in events if not isinstance(e, ModelTokens)]  # "billing", streamed
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "AgentStarted",
        "ModelCalled",
        "AgentFinished",
        "HandedOff",
        "AgentStarted",
        "Interrupted",
        "RunFinished",
    ]
    handed = events[3]
    assert isinstance(handed, HandedOff) and (handed.source, handed.target, handed.reason) == (
        "triage",
        "billing",
        "refund",
    )
    paused = events[5]
    assert isinstance(paused, Interrupted) and paused.kind == "question"
    final = events[-1]
    assert isinstance(final, RunFinished) and final.result.status == "interrupted"
