"""Streamed runs yield typed step events as they happen (issue 14, piece 7)."""

from __future__ import annotations

from typing import Any

import pytest

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
    ProviderError,
    Result,
    RunFinished,
    ToolCalled,
    tool,
)
from tracehouse.orchestrator.providers.wire import ResponsesStream


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


def _responses_flow() -> Agent:
    return Agent(
        "support", lambda ctx: {"a": ctx.chat("where is 5?", tools=[lookup])}, writes=["a"], model="gpt-4o-mini"
    )


_SCRIPT = [Reply(tool_calls=[("lookup", {"order_id": 5})]), Reply("It shipped.")]


def test_the_responses_api_streams_too() -> None:
    """Over the Responses API a streamed run gets its text as typed `response.output_text.delta` events, the tool
    call assembled from its argument fragments, and the usage the final event carries."""
    with FakeOpenAI(_SCRIPT) as llm:
        provider = OpenAICompatibleProvider(llm.url, api="responses")
        events = list(Orchestrator("t.rstream", _responses_flow(), provider=provider).run_streamed({}))
    assert [r.get("stream") for r in llm.requests] == [True, True] and all("input" in r for r in llm.requests)
    tokens = [e for e in events if isinstance(e, ModelTokens)]
    assert [t.delta for t in tokens] == ["It s", "hipp", "ed."]
    calls = [e for e in events if isinstance(e, ModelCalled)]
    assert calls[0].tool_calls == ("lookup",) and calls[1].text == "It shipped."
    assert all(c.input_tokens > 0 and c.output_tokens > 0 for c in calls)  # the server's usage, not an estimate
    [tool_call] = [e for e in events if isinstance(e, ToolCalled)]
    assert tool_call.args == {"order_id": 5} and tool_call.output == "order 5: shipped"
    final = events[-1]
    assert isinstance(final, RunFinished) and final.result.ok and final.result.state["a"] == "It shipped."


async def test_the_responses_api_streams_on_the_async_client() -> None:
    async def support(ctx: Any) -> dict[str, Any]:
        return {"a": (await ctx.allm("where is 5?")).text}

    with FakeOpenAI(["It shipped."]) as llm:
        provider = OpenAICompatibleProvider(llm.url, api="responses")
        orch = Orchestrator(
            "t.rastream", Agent("support", support, writes=["a"], model="gpt-4o-mini"), provider=provider
        )
        events = [e async for e in orch.astream({})]
    assert llm.requests[0]["stream"] is True
    assert "".join(e.delta for e in events if isinstance(e, ModelTokens)) == "It shipped."
    final = events[-1]
    assert isinstance(final, RunFinished) and final.result.ok and final.result.state["a"] == "It shipped."


def test_a_responses_stream_cut_before_its_final_event_keeps_what_arrived() -> None:
    """A dropped stream still yields its text and tool calls; without the final event there is no usage, so the
    call is charged as the reserved worst case (and its span says the usage is estimated), never as free."""
    with FakeOpenAI(_SCRIPT, cut_stream=True) as llm:
        provider = OpenAICompatibleProvider(llm.url, api="responses")
        events = list(Orchestrator("t.rcut", _responses_flow(), provider=provider).run_streamed({}))
    calls = [e for e in events if isinstance(e, ModelCalled)]
    assert calls[0].tool_calls == ("lookup",) and calls[1].text == "It shipped."
    assert all(c.output_tokens == 256 for c in calls)  # max_tokens (the default): the worst case, no usage came
    final = events[-1]
    assert isinstance(final, RunFinished) and final.result.ok and final.result.state["a"] == "It shipped."


def test_a_failed_responses_stream_raises_a_classified_provider_error() -> None:
    stream = ResponsesStream()
    assert stream.feed({"type": "response.output_text.delta", "delta": "Hal"}) == "Hal"
    failed = {"type": "response.failed", "response": {"error": {"code": "server_error", "message": "overloaded"}}}
    with pytest.raises(ProviderError, match="server_error: overloaded") as busy:
        stream.feed(failed)
    assert busy.value.retryable  # the breaker and the retry layer treat it as a 5xx
    with pytest.raises(ProviderError) as bad:
        ResponsesStream().feed({"type": "error", "code": "invalid_prompt", "message": "no"})
    assert not bad.value.retryable
