"""Model-chosen tools and structured output against a real OpenAI-compatible HTTP endpoint (issue 14, piece 3)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Literal

from pydantic import BaseModel

from tests.orchestrator.fake_openai import FakeOpenAI, Reply
from tracehouse.orchestrator import (
    Agent,
    AnthropicCompatibleProvider,
    FakeClock,
    FanOut,
    Key,
    LoopDetected,
    OpenAICompatibleProvider,
    Orchestrator,
    OutputInvalid,
    RetryBudgetConfig,
    SQLiteStateStore,
    StateSchema,
    tool,
)
from tracehouse.sdk import semconv as sc


class Shop:
    """The tools' world: orders, refunds made, and calls seen (thread-safe: the model's calls run in parallel)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.refunds: list[tuple[int, float, str]] = []

    def tools(self) -> list[Any]:
        shop = self

        @tool
        def get_order(order_id: int) -> dict[str, Any]:
            """Look up an order.

            Args:
                order_id: The order number printed on the receipt.
            """
            with shop.lock:
                shop.calls.append(f"get_order {order_id}")
            return {"order_id": order_id, "total": 12.5, "status": "charged twice"}

        @tool(side_effect=True, idempotent=True)
        def refund(order_id: int, amount: float, effect_key: str) -> str:
            """Refund part of an order to the card it was paid with."""
            with shop.lock:
                shop.calls.append(f"refund {order_id}")
                if all(k != effect_key for _, _, k in shop.refunds):
                    shop.refunds.append((order_id, amount, effect_key))
            return f"refunded {amount} on order {order_id}"

        return [get_order, refund]


def _support(shop: Shop) -> Agent:
    tools = shop.tools()
    return Agent(
        "support",
        lambda ctx: {"answer": ctx.chat(ctx.input["message"], tools=tools)},
        writes=["answer"],
        model="gpt-4o-mini",
    )


SCRIPT = [
    Reply(tool_calls=[("get_order", {"order_id": 42})]),
    Reply(tool_calls=[("refund", {"order_id": 42, "amount": 12.5})]),
    Reply("I refunded the duplicate charge of 12.50."),
]


def test_the_model_chooses_tools_and_every_call_is_traced_and_journalled(tmp_path: Any, spans: Any) -> None:
    shop = Shop()
    with FakeOpenAI(SCRIPT) as llm:
        orch = Orchestrator(
            "t.tools",
            _support(shop),
            provider=OpenAICompatibleProvider(llm.url),
            store=SQLiteStateStore(tmp_path / "runs.db"),
        )
        result = orch.run({"message": "I was charged twice for order 42"})
    assert result.ok, result.error
    assert result.state["answer"] == "I refunded the duplicate charge of 12.50."
    assert shop.calls == ["get_order 42", "refund 42"] and len(shop.refunds) == 1

    offered = {t["function"]["name"]: t["function"] for t in llm.requests[0]["tools"]}
    assert offered["get_order"]["description"] == "Look up an order."
    props = offered["get_order"]["parameters"]["properties"]
    assert props["order_id"]["type"] == "integer"
    assert props["order_id"]["description"] == "The order number printed on the receipt."
    assert "effect_key" not in offered["refund"]["parameters"]["properties"]

    second = llm.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "get_order"
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == second[-2]["tool_calls"][0]["id"]
    assert json.loads(second[-1]["content"])["status"] == "charged twice"

    agent = spans.by_op("invoke_agent")[0]
    tool_spans = spans.by_op("execute_tool")
    assert sorted(s.name for s in tool_spans) == ["execute_tool get_order", "execute_tool refund"]
    assert all(s.parent is not None and s.parent.span_id == agent.context.span_id for s in tool_spans)
    refund_span = next(s for s in tool_spans if s.name == "execute_tool refund")
    assert (refund_span.attributes or {}).get(sc.EFFECT_KEY)  # went through the effect journal

    with FakeOpenAI(["must not be asked"]) as again:
        replay = Orchestrator(
            "t.tools",
            _support(shop),
            provider=OpenAICompatibleProvider(again.url),
            store=SQLiteStateStore(tmp_path / "runs.db"),
        ).run(trace_id=result.trace_id)
    assert replay.ok and replay.state == result.state
    assert again.requests == [] and shop.calls == ["get_order 42", "refund 42"]


def test_parallel_tool_calls_run_concurrently() -> None:
    @tool
    def slow_lookup(city: str) -> str:
        """Weather for a city (slow)."""
        time.sleep(0.4)
        return f"sunny in {city}"

    calls = [("slow_lookup", {"city": c}) for c in ("Brest", "Oslo", "Lima")]
    flow = Agent(
        "weather", lambda ctx: {"a": ctx.chat("weather?", tools=[slow_lookup])}, writes=["a"], model="gpt-4o-mini"
    )
    with FakeOpenAI([Reply(tool_calls=calls), Reply("all sunny")]) as llm:
        started = time.perf_counter()
        result = Orchestrator("t.parallel", flow, provider=OpenAICompatibleProvider(llm.url)).run({})
        elapsed = time.perf_counter() - started
    assert result.ok, result.error
    assert elapsed < 1.0  # three 0.4 s tools, not 1.2 s
    tool_msgs = [m for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_msgs] == ["sunny in Brest", "sunny in Oslo", "sunny in Lima"]


def test_bad_arguments_and_unknown_tools_are_fed_back_to_the_model() -> None:
    shop = Shop()
    script = [
        Reply(tool_calls=[("get_order", {"order_id": "forty-two"}), ("cancel_order", {"order_id": 42})]),
        Reply(tool_calls=[("get_order", {"order_id": 42})]),
        Reply("Found it."),
    ]
    with FakeOpenAI(script) as llm:
        result = Orchestrator("t.badargs", _support(shop), provider=OpenAICompatibleProvider(llm.url)).run(
            {"message": "order 42?"}
        )
    assert result.ok, result.error
    errors = [json.loads(m["content"])["error"] for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert "order_id" in errors[0] and "integer" in errors[0]
    assert "no tool 'cancel_order'" in errors[1]
    assert shop.calls == ["get_order 42"]


def test_a_transient_tool_failure_is_retried_by_the_one_retry_layer(spans: Any) -> None:
    attempts: list[int] = []

    @tool
    def flaky_search(query: str) -> str:
        """Search the knowledge base."""
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("reset by peer")
        return f"3 articles on {query}"

    flow = Agent("kb", lambda ctx: {"a": ctx.chat("refunds?", tools=[flaky_search])}, writes=["a"], model="gpt-4o-mini")
    script = [Reply(tool_calls=[("flaky_search", {"query": "refunds"})]), Reply("See the 3 articles.")]
    with FakeOpenAI(script) as llm:
        result = Orchestrator("t.flaky", flow, provider=OpenAICompatibleProvider(llm.url), clock=FakeClock()).run({})
    assert result.ok, result.error
    assert len(attempts) == 2 and result.usage.retries == 1
    assert [(s.attributes or {}).get(sc.RETRY_ATTEMPT) for s in spans.named("execute_tool")] == [1, 2]


def test_a_model_repeating_one_tool_call_is_stopped_by_the_loop_guard() -> None:
    shop = Shop()
    with FakeOpenAI([Reply(tool_calls=[("get_order", {"order_id": 7})])]) as llm:
        result = Orchestrator("t.toolloop", _support(shop), provider=OpenAICompatibleProvider(llm.url)).run(
            {"message": "where is order 7?"}
        )
    assert isinstance(result.error, LoopDetected)
    assert shop.calls == ["get_order 7"] * 4


class Verdict(BaseModel):
    label: Literal["refund", "deny"]
    confidence: float


def _judge() -> Agent:
    return Agent(
        "judge",
        lambda ctx: {"verdict": ctx.chat("Refund order 42?", output_type=Verdict).model_dump()},
        writes=["verdict"],
        model="gpt-4o-mini",
    )


def test_structured_output_feeds_validation_errors_back(spans: Any) -> None:
    script = ['{"label": "maybe", "confidence": 0.4}', '```json\n{"label": "refund", "confidence": 0.9}\n```']
    with FakeOpenAI(script) as llm:
        result = Orchestrator("t.structured", _judge(), provider=OpenAICompatibleProvider(llm.url)).run({})
    assert result.ok, result.error
    assert result.state["verdict"] == {"label": "refund", "confidence": 0.9}
    assert llm.requests[0]["response_format"]["json_schema"]["name"] == "Verdict"
    feedback = llm.requests[1]["messages"][-1]["content"]
    assert "not a valid Verdict" in feedback and "label" in feedback
    assert result.usage.retries == 1
    events = [e for s in spans.by_op("invoke_agent") for e in s.events if e.name == sc.EVENT_OUTPUT_INVALID]
    assert len(events) == 1


def test_structured_output_stops_when_the_retry_budget_is_spent() -> None:
    with FakeOpenAI(['{"label": "maybe", "confidence": 0.4}']) as llm:
        result = Orchestrator(
            "t.structured2",
            _judge(),
            provider=OpenAICompatibleProvider(llm.url),
            retry_budget=RetryBudgetConfig(min_retries=0, ratio=0.0),
        ).run({})
    assert isinstance(result.error, OutputInvalid) and result.status == "failed"
    assert len(llm.requests) == 1


async def test_48_async_branches_take_about_one_model_call() -> None:
    async def branch(ctx: Any) -> dict[str, Any]:
        return {"parts": [(await ctx.allm(f"part {ctx.input}", max_tokens=5)).text]}

    agents = [Agent(f"b{i}", branch, writes=["parts"], model="gpt-4o-mini") for i in range(48)]
    flow = FanOut("fan", agents)
    with FakeOpenAI(["done"], latency_s=0.5) as llm:
        orch = Orchestrator(
            "t.async48", flow, provider=OpenAICompatibleProvider(llm.url), schema=StateSchema({"parts": Key("extend")})
        )
        started = time.perf_counter()
        result = await orch.arun({})
        elapsed = time.perf_counter() - started
    assert result.ok, result.error
    assert len(result.state["parts"]) == 48 and len(llm.requests) == 48
    assert elapsed < 1.5, f"48 concurrent 0.5 s calls took {elapsed:.2f}s"


def test_the_responses_api_carries_tools_and_structured_output() -> None:
    shop = Shop()
    tools = shop.tools()

    def agent(ctx: Any) -> dict[str, Any]:
        looked = ctx.chat("order 42?", tools=tools)
        verdict = ctx.chat(f"Judge: {looked}", output_type=Verdict)
        return {"answer": looked, "verdict": verdict.model_dump()}

    script = [
        Reply(tool_calls=[("get_order", {"order_id": 42})]),
        Reply("Order 42 was charged twice."),
        Reply('{"label": "refund", "confidence": 0.8}'),
    ]
    with FakeOpenAI(script) as llm:
        provider = OpenAICompatibleProvider(llm.url, api="responses")
        result = Orchestrator(
            "t.responses", Agent("desk", agent, writes=["answer", "verdict"], model="gpt-4o-mini"), provider=provider
        ).run({})
    assert result.ok, result.error
    assert result.state == {"answer": "Order 42 was charged twice.", "verdict": {"label": "refund", "confidence": 0.8}}
    first, second, third = llm.requests
    assert first["tools"][0]["name"] == "get_order" and "input" in first and "messages" not in first
    kinds = [item.get("type", "message") for item in second["input"]]
    assert kinds == ["message", "function_call", "function_call_output"]
    assert second["input"][1]["call_id"] == second["input"][2]["call_id"]
    assert third["text"]["format"]["name"] == "Verdict"
    assert shop.calls == ["get_order 42"]


async def test_async_agents_chat_with_sync_and_async_tools_concurrently() -> None:
    @tool
    async def fetch_rate(currency: str) -> float:
        """Exchange rate to EUR (async)."""
        await asyncio.sleep(0.05)
        return 0.9

    @tool
    def convert(amount: float, rate: float) -> float:
        """Convert an amount at a rate (sync)."""
        time.sleep(0.05)
        return round(amount * rate, 2)

    async def teller(ctx: Any) -> dict[str, Any]:
        return {"answers": [await ctx.achat(f"convert {ctx.input}", tools=[fetch_rate, convert])]}

    script = [
        Reply(tool_calls=[("fetch_rate", {"currency": "USD"}), ("convert", {"amount": 10, "rate": 0.9})]),
        Reply("9.0 EUR"),
    ]

    def respond(body: dict[str, Any]) -> Reply:
        return script[1] if body["messages"][-1]["role"] == "tool" else script[0]

    flow = FanOut("tellers", [Agent(f"t{i}", teller, writes=["answers"], model="gpt-4o-mini") for i in range(12)])
    with FakeOpenAI(respond, latency_s=0.3) as llm:
        orch = Orchestrator(
            "t.achat", flow, provider=OpenAICompatibleProvider(llm.url), schema=StateSchema({"answers": Key("extend")})
        )
        started = time.perf_counter()
        result = await orch.arun({})
        elapsed = time.perf_counter() - started
    assert result.ok, result.error
    assert result.state["answers"] == ["9.0 EUR"] * 12 and len(llm.requests) == 24
    assert result.usage.tool_calls == 24
    assert elapsed < 1.5, f"12 agents x 2 model calls of 0.3 s took {elapsed:.2f}s"  # ~0.6 s when concurrent


def test_an_anthropic_compatible_endpoint_carries_tools_and_structured_output(spans: Any) -> None:
    shop = Shop()
    tools = shop.tools()

    def agent(ctx: Any) -> dict[str, Any]:
        looked = ctx.chat("order 42?", tools=tools, system="You are a support desk.")
        verdict = ctx.chat(f"Judge: {looked}", output_type=Verdict)
        return {"answer": looked, "verdict": verdict.model_dump()}

    script = [
        Reply(tool_calls=[("get_order", {"order_id": 42})]),
        Reply("Order 42 was charged twice."),
        Reply('{"label": "refund", "confidence": 0.8}'),
    ]
    with FakeOpenAI(script) as llm:
        provider = AnthropicCompatibleProvider(llm.url, api_key="sk-ant-test")
        result = Orchestrator(
            "t.anthropic",
            Agent("desk", agent, writes=["answer", "verdict"], model="claude-3-5-haiku-latest"),
            provider=provider,
        ).run({})
    assert result.ok, result.error
    assert result.state == {"answer": "Order 42 was charged twice.", "verdict": {"label": "refund", "confidence": 0.8}}
    first, second, third = llm.requests
    assert first["system"] == "You are a support desk." and first["tools"][0]["input_schema"]["type"] == "object"
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    use, result_block = second["messages"][1]["content"][0], second["messages"][2]["content"][0]
    assert use["type"] == "tool_use" and use["input"] == {"order_id": 42}
    assert result_block == {"type": "tool_result", "tool_use_id": use["id"], "content": result_block["content"]}
    assert "JSON schema" in third["system"] and '"label"' in third["system"]
    chat = spans.by_op("chat")
    assert all((s.attributes or {}).get(sc.GEN_AI_USAGE_INPUT_TOKENS) for s in chat)
