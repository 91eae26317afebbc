"""The normaliser, table-driven: spans shaped like each real instrumentation become the steps semconv.md §3 asks for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.collector.otlp_builders import CLIENT, ERROR, OK, T0, TRACE_ID, UNSET, make_request, make_span, new_span_id
from tracehouse.collector.normalise import Limits, count_invalid_spans, normalise_request
from tracehouse.domain.model import Status, Step, StepType
from tracehouse.sdk import content_hash
from tracehouse.sdk.pricing import ModelPrice, PriceTable

PRICES = PriceTable(
    {
        "gpt-4o-mini": ModelPrice("gpt-4o-mini", input=0.15, output=0.60, cache_read=0.075),
        "claude-sonnet-4-5": ModelPrice("claude-sonnet-4-5", input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
        "text-embedding-3-small": ModelPrice("text-embedding-3-small", input=0.02, output=0.0),
    }
)


def usd(input_: int, output: int, cached: int = 0, written: int = 0, *, price: ModelPrice) -> float:
    plain = input_ - cached - written
    total = plain * price.input + output * price.output
    total += cached * (price.cache_read or price.input) + written * (price.cache_write or price.input)
    return total / 1_000_000


MINI = PRICES.prices["gpt-4o-mini"]
SONNET = PRICES.prices["claude-sonnet-4-5"]


def one_step(name: str, attrs: dict[str, Any], **span_kw: Any) -> Step:
    result = normalise_request(make_request(make_span(name, attrs, **span_kw)), "proj", PRICES)
    assert result.rejected_spans == 0
    (step,) = result.steps
    return step


# --- one span, one step: (case id, span name, attributes, span options, expected Step fields) ---------------------
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "genai-latest-chat-cached",
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": "chatcmpl-1",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
            "gen_ai.usage.cache_read.input_tokens": 400,
            "gen_ai.conversation.id": "conv-7",
            "gen_ai.agent.name": "triage",
            "server.address": "api.openai.com",
        },
        {"kind": CLIENT},
        {
            "step_type": StepType.LLM,
            "operation": "chat",
            "provider": "openai",
            "request_model": "gpt-4o-mini",
            "response_model": "gpt-4o-mini-2024-07-18",
            "input_tokens": 1000,
            "output_tokens": 200,
            "cache_read_tokens": 400,
            "cache_write_tokens": None,
            "cost_usd": usd(1000, 200, cached=400, price=MINI),
            "finish_reasons": ["stop"],
            "conversation_id": "conv-7",
            "agent": "triage",
            "span_kind": "CLIENT",
            "status": Status.UNSET,
        },
    ),
    (
        "genai-1.36-older-names",
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.prompt_tokens": 50,
            "gen_ai.usage.completion_tokens": 10,
            "gen_ai.usage.cache_read_input_tokens": 20,
            "gen_ai.response.finish_reasons": ["tool_call"],
        },
        {},
        {
            "step_type": StepType.LLM,
            "provider": "openai",
            "input_tokens": 50,
            "output_tokens": 10,
            "cache_read_tokens": 20,
            "cost_usd": usd(50, 10, cached=20, price=MINI),
            "finish_reasons": ["tool_calls"],
        },
    ),
    (
        "anthropic-cache-write-and-end-turn",
        "chat claude-sonnet-4-5",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.usage.input_tokens": 3000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.cache_creation.input_tokens": 1500,
            "gen_ai.response.finish_reasons": ["end_turn"],
        },
        {},
        {
            "cache_read_tokens": 1000,
            "cache_write_tokens": 1500,
            "cost_usd": usd(3000, 100, cached=1000, written=1500, price=SONNET),
            "finish_reasons": ["stop"],
        },
    ),
    (
        "unpriced-model-has-no-cost",
        "chat my-local-llama",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "ollama",
            "gen_ai.request.model": "my-local-llama",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
        },
        {},
        {"input_tokens": 10, "output_tokens": 5, "cost_usd": None, "request_model": "my-local-llama"},
    ),
    (
        "dated-response-model-prices-an-unknown-request-model",
        "chat proxy-default",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "proxy-default",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 100,
        },
        {},
        {"request_model": "proxy-default", "cost_usd": usd(100, 100, price=MINI)},
    ),
    (
        "no-request-model-falls-back-to-response-model",
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 100,
        },
        {},
        {
            "request_model": "gpt-4o-mini-2024-07-18",
            "response_model": "gpt-4o-mini-2024-07-18",
            "cost_usd": usd(100, 100, price=MINI),
        },
    ),
    (
        "streaming-without-usage-is-unknown-not-zero",
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.is_streaming": True,
        },
        {},
        {"step_type": StepType.LLM, "input_tokens": None, "output_tokens": None, "cost_usd": None},
    ),
    (
        "span-carried-cost-is-kept",
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 100,
            "tracehouse.cost.usd": 0.5,
            "tracehouse.retry.attempt": 2,
        },
        {},
        {"cost_usd": 0.5, "retry_attempt": 2},
    ),
    (
        "reasoning-tokens-from-an-alias",
        "chat o4-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "o4-mini",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.reasoning_tokens": 400,
        },
        {},
        {"reasoning_tokens": 400, "output_tokens": 500},
    ),
    (
        "genai-invoke-agent",
        "invoke_agent billing",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing", "gen_ai.agent.id": "asst_1"},
        {},
        {"step_type": StepType.AGENT, "operation": "invoke_agent", "agent": "billing", "agent_id": "asst_1"},
    ),
    (
        "genai-invoke-agent-name-only-in-span-name",
        "invoke_agent research",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai"},
        {},
        {"step_type": StepType.AGENT, "agent": "research"},
    ),
    (
        "invoke-workflow-agent-name-names-the-workflow",
        "invoke_workflow support",
        {"gen_ai.operation.name": "invoke_workflow", "gen_ai.agent.name": "support"},
        {},
        {"step_type": StepType.WORKFLOW, "workflow": "support", "agent": ""},
    ),
    (
        "invoke-workflow-older-workflow-name",
        "invoke_workflow support",
        {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "support-v1"},
        {},
        {"step_type": StepType.WORKFLOW, "workflow": "support-v1", "agent": ""},
    ),
    (
        "genai-execute-tool",
        "execute_tool get_weather",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.arguments": '{"city": "Paris"}',
            "gen_ai.tool.call.result": "18C",
        },
        {},
        {
            "step_type": StepType.TOOL,
            "tool_name": "get_weather",
            "tool_call_id": "call_1",
            "input_preview": '{"city": "Paris"}',
            "output_preview": "18C",
            "content_hash": content_hash(["execute_tool", "get_weather", {"city": "Paris"}]),
            "input_tokens": None,
            "cost_usd": None,
        },
    ),
    (
        "openai-agents-transfer-to-tool-is-a-handoff",
        "execute_tool transfer_to_refunds",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_refunds"},
        {},
        {"step_type": StepType.HANDOFF, "handoff_target": "refunds", "tool_name": "transfer_to_refunds"},
    ),
    (
        "tracehouse-handoff-attributes",
        "execute_tool transfer_to_billing",
        {
            "gen_ai.operation.name": "execute_tool",
            "tracehouse.handoff.source": "triage",
            "tracehouse.handoff.target": "billing",
            "tracehouse.handoff.reason": "invoice question",
        },
        {},
        {"step_type": StepType.HANDOFF, "handoff_source": "triage", "handoff_target": "billing"},
    ),
    (
        "framework-provider-is-not-an-llm-call",
        "LangGraph",
        {"gen_ai.provider.name": "langgraph", "langgraph.step": 3},
        {},
        {"step_type": StepType.OTHER, "provider": "langgraph", "operation": "", "request_model": ""},
    ),
    (
        "no-convention-is-other-with-attributes-kept",
        "GET /users",
        {"http.request.method": "GET", "http.response.status_code": 200, "retry": True, "ratio": 0.5},
        {"kind": CLIENT},
        {
            "step_type": StepType.OTHER,
            "attributes": {
                "http.request.method": "GET",
                "http.response.status_code": "200",
                "retry": "true",
                "ratio": "0.5",
            },
        },
    ),
    (
        "openinference-llm-openai",
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.system": "openai",
            "llm.provider": "openai",
            "llm.model_name": "gpt-4o-mini-2024-07-18",
            "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0}),
            "llm.token_count.prompt": 120,
            "llm.token_count.completion": 30,
            "llm.token_count.total": 150,
            "llm.token_count.prompt_details.cache_read": 100,
            "input.value": json.dumps({"messages": [{"role": "user", "content": "hi"}]}),
            "input.mime_type": "application/json",
            "output.value": "hello",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
            "session.id": "sess-1",
        },
        {"status": OK},
        {
            "step_type": StepType.LLM,
            "operation": "chat",
            "provider": "openai",
            "request_model": "gpt-4o-mini",
            "response_model": "gpt-4o-mini-2024-07-18",
            "input_tokens": 120,
            "output_tokens": 30,
            "cache_read_tokens": 100,
            "cost_usd": usd(120, 30, cached=100, price=MINI),
            "conversation_id": "sess-1",
            "status": Status.OK,
            "span_kind": "INTERNAL",
            "output_preview": "hello",
            "content_hash": content_hash(["chat", "gpt-4o-mini", {"messages": [{"role": "user", "content": "hi"}]}]),
        },
    ),
    (
        "openinference-span-carried-cost",
        "ChatAnthropic",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-sonnet-4-5",
            "llm.token_count.prompt": 10,
            "llm.token_count.completion": 10,
            "llm.cost.total": 0.25,
        },
        {"status": OK},
        {"cost_usd": 0.25, "request_model": "claude-sonnet-4-5"},
    ),
    (
        "openinference-embedding",
        "CreateEmbeddings",
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "llm.token_count.prompt": 1000,
        },
        {"status": OK},
        {
            "step_type": StepType.EMBEDDING,
            "operation": "embeddings",
            "request_model": "text-embedding-3-small",
            "cost_usd": usd(1000, 0, price=PRICES.prices["text-embedding-3-small"]),
        },
    ),
    (
        "openinference-tool",
        "lookup_order",
        {"openinference.span.kind": "TOOL", "tool.name": "lookup_order", "input.value": '{"id": 7}'},
        {"status": OK},
        {"step_type": StepType.TOOL, "tool_name": "lookup_order", "input_preview": '{"id": 7}'},
    ),
    (
        "openinference-agent-span-names-its-agent-in-agent-name",
        "Triage Agent",
        {"openinference.span.kind": "AGENT", "agent.name": "Triage Agent", "llm.system": "openai"},
        {"status": OK},
        {"step_type": StepType.AGENT, "agent": "Triage Agent"},
    ),
    (
        "openinference-agent-span-names-its-agent-before-the-dot",
        "researcher.run",
        {"openinference.span.kind": "AGENT"},
        {"status": OK},
        {"step_type": StepType.AGENT, "agent": "researcher"},
    ),
    (
        "openinference-root-agent-span-without-a-name-is-the-workflow",
        "Agent workflow",
        {"openinference.span.kind": "AGENT"},
        {"status": OK},
        {"step_type": StepType.WORKFLOW, "agent": "", "workflow": "Agent workflow"},
    ),
    (
        "openinference-agents-handoff-span",
        "handoff to Refund Agent",
        {"openinference.span.kind": "TOOL", "llm.system": "openai"},
        {"status": OK},
        {"step_type": StepType.HANDOFF, "handoff_target": "Refund Agent"},
    ),
    (
        "openinference-root-chain-is-the-workflow",
        "LangGraph",
        {"openinference.span.kind": "CHAIN", "input.value": "question"},
        {"status": OK},
        {"step_type": StepType.WORKFLOW, "workflow": "LangGraph", "operation": "invoke_workflow"},
    ),
    (
        "openinference-langchain-agent-name",
        "agent",
        {"openinference.span.kind": "CHAIN", "agent.name": "researcher", "graph.node.id": "agent"},
        {"status": OK, "parent": bytes(7) + b"\x01"},
        {"step_type": StepType.OTHER, "operation": "chain", "agent": "researcher"},
    ),
    (
        "openllmetry-legacy-chat",
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be brief",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "gen_ai.completion.0.finish_reason": "stop",
            "gen_ai.usage.prompt_tokens": 12,
            "gen_ai.usage.completion_tokens": 3,
            "llm.usage.total_tokens": 15,
            "llm.is_streaming": False,
            "traceloop.workflow.name": "support",
            "traceloop.association.properties.session_id": "s-9",
        },
        {"kind": CLIENT},
        {
            "step_type": StepType.LLM,
            "operation": "chat",
            "provider": "OpenAI",
            "request_model": "gpt-4o-mini",
            "input_tokens": 12,
            "output_tokens": 3,
            "cost_usd": usd(12, 3, price=MINI),
            "finish_reasons": ["stop"],
            "workflow": "support",
            "conversation_id": "s-9",
            "input_preview": "system: be brief\nuser: hi",
            "output_preview": "assistant: hello",
            "content_hash": content_hash(
                ["chat", "gpt-4o-mini", [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]]
            ),
        },
    ),
    (
        "openllmetry-agent-span",
        "researcher.agent",
        {"traceloop.span.kind": "agent", "traceloop.entity.name": "researcher", "traceloop.entity.input": "{}"},
        {},
        {"step_type": StepType.AGENT, "agent": "researcher", "operation": "invoke_agent"},
    ),
    (
        "openllmetry-tool-span",
        "search.tool",
        {"traceloop.span.kind": "tool", "traceloop.entity.name": "search", "traceloop.entity.output": "3 hits"},
        {},
        {"step_type": StepType.TOOL, "tool_name": "search", "output_preview": "3 hits"},
    ),
    (
        "openllmetry-workflow-span",
        "support.workflow",
        {"traceloop.span.kind": "workflow", "traceloop.entity.name": "support"},
        {},
        {"step_type": StepType.WORKFLOW, "workflow": "support", "agent": ""},
    ),
    (
        "openllmetry-openai-agents-handoff-span",
        "Triage → Billing.handoff",
        {
            "traceloop.span.kind": "handoff",
            "gen_ai.system": "openai_agents",
            "gen_ai.handoff.from_agent": "Triage",
            "gen_ai.handoff.to_agent": "Billing",
        },
        {},
        {"step_type": StepType.HANDOFF, "handoff_source": "Triage", "handoff_target": "Billing"},
    ),
    (
        "genai-decides-over-openinference",
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "openinference.span.kind": "CHAIN",
            "gen_ai.request.model": "gpt-4o-mini",
        },
        {},
        {"step_type": StepType.LLM, "operation": "chat"},
    ),
]


@pytest.mark.parametrize(("name", "attrs", "span_kw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_span_becomes_expected_step(
    name: str, attrs: dict[str, Any], span_kw: dict[str, Any], expected: dict[str, Any]
) -> None:
    step = one_step(name, attrs, **span_kw)
    for field_name, want in expected.items():
        got = getattr(step, field_name)
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-9), field_name
        else:
            assert got == want, field_name


def test_identity_times_service_scope_and_resource() -> None:
    parent = new_span_id()
    span = make_span("chat gpt-4o-mini", {"gen_ai.operation.name": "chat"}, parent=parent, start=T0 + 10, end=T0 + 35)
    request = make_request(span, service="checkout", scope="openinference.instrumentation.openai", resource={"x": 1})
    (step,) = normalise_request(request, "proj-a", PRICES).steps
    assert step.project_id == "proj-a"
    assert step.trace_id == TRACE_ID.hex() and len(step.trace_id) == 32
    assert step.span_id == span.span_id.hex() and len(step.span_id) == 16
    assert step.parent_span_id == parent.hex()
    assert (step.start_time_ns, step.end_time_ns, step.duration_ns) == (T0 + 10, T0 + 35, 25)
    assert step.service == "checkout"
    assert step.scope == "openinference.instrumentation.openai"
    assert step.resource_attributes == {"service.name": "checkout", "x": "1"}


def test_all_zero_parent_is_a_root() -> None:
    step = one_step("root", {}, parent=bytes(8))
    assert step.parent_span_id == ""


def test_non_string_values_render_as_json() -> None:
    step = one_step(
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.response.finish_reasons": ["stop", "length"],
            "gen_ai.request.stop_sequences": [],
            "meta": {"k": "v", "n": 2},
            "blob": b"\x00\x01",
        },
    )
    assert step.attributes["gen_ai.response.finish_reasons"] == '["stop","length"]'
    assert step.attributes["gen_ai.request.stop_sequences"] == "[]"
    assert json.loads(step.attributes["meta"]) == {"k": "v", "n": 2}
    assert step.attributes["blob"] == "AAE="  # bytes as base64 text
    assert step.finish_reasons == ["stop", "length"]


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (["stop"], ["stop"]),
        (["end_turn"], ["stop"]),
        (["STOP"], ["stop"]),
        (["max_tokens"], ["length"]),
        (["MAX_TOKENS"], ["length"]),
        (["tool_use"], ["tool_calls"]),
        (["function_call"], ["tool_calls"]),
        (["SAFETY"], ["content_filter"]),
        (["content_filter"], ["content_filter"]),
        (["error"], ["error"]),
        (["stop", "stop"], ["stop"]),
        (["something_new"], []),
        ('["tool_calls"]', ["tool_calls"]),
    ],
)
def test_finish_reasons_map_to_one_vocabulary_and_raw_is_kept(raw: Any, normalised: list[str]) -> None:
    step = one_step("chat", {"gen_ai.operation.name": "chat", "gen_ai.response.finish_reasons": raw})
    assert step.finish_reasons == normalised
    kept = step.attributes["gen_ai.response.finish_reasons"]
    assert kept == (raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":")))


def test_finish_reason_from_output_messages_when_not_sent_separately() -> None:
    output = [{"role": "assistant", "parts": [{"type": "text", "content": "ok"}], "finish_reason": "length"}]
    step = one_step("chat", {"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(output)})
    assert step.finish_reasons == ["length"]


# --- status ---------------------------------------------------------------------------------------------------------
def test_error_type_on_unset_span_marks_error() -> None:
    step = one_step("chat gpt-4o-mini", {"gen_ai.operation.name": "chat", "error.type": "RateLimitError"})
    assert (step.status, step.error_type) == (Status.ERROR, "RateLimitError")
    assert step.input_tokens is None and step.cost_usd is None


def test_exception_event_on_unset_span_marks_error() -> None:
    events = [("exception", {"exception.type": "TimeoutError", "exception.message": "read timed out"})]
    step = one_step("execute_tool search", {"gen_ai.operation.name": "execute_tool"}, events=events)
    assert step.status is Status.ERROR
    assert step.error_type == "TimeoutError"
    assert step.status_message == "read timed out"
    assert [e.name for e in step.events] == ["exception"]
    assert step.events[0].attributes["exception.type"] == "TimeoutError"


def test_error_status_keeps_its_message() -> None:
    step = one_step("chat", {"gen_ai.operation.name": "chat", "error.type": "400"}, status=ERROR, message="bad")
    assert (step.status, step.status_message, step.error_type) == (Status.ERROR, "bad", "400")


def test_ok_span_with_handled_exception_stays_ok() -> None:
    step = one_step("agent", {}, status=OK, events=[("exception", {"exception.type": "KeyError"})])
    assert step.status is Status.OK
    assert step.error_type == ""


def test_unset_span_without_error_signals_stays_unset() -> None:
    assert one_step("chat", {"gen_ai.operation.name": "chat"}, status=UNSET).status is Status.UNSET


# --- rejection ------------------------------------------------------------------------------------------------------
def test_invalid_spans_are_rejected_counted_and_the_rest_kept() -> None:
    good = make_span("good", {})
    bad = [
        make_span("zero-trace", {}, trace_id=bytes(16)),
        make_span("short-trace", {}, trace_id=b"\x01" * 8),
        make_span("zero-span", {}, span_id=bytes(8)),
        make_span("long-span", {}, span_id=b"\x01" * 16),
        make_span("bad-parent", {}, parent=b"\x01\x02"),
        make_span("backwards", {}, start=100, end=50),
    ]
    request = make_request(good, *bad)
    result = normalise_request(request, "p", PRICES)
    assert [s.name for s in result.steps] == ["good"]
    assert result.rejected_spans == 6
    assert result.error_message.startswith("6 spans rejected: ")
    assert "trace_id" in result.error_message and "span_id" in result.error_message
    assert count_invalid_spans(request) == (6, result.error_message)


def test_valid_request_has_no_rejections() -> None:
    request = make_request(make_span("a", {}), make_span("b", {}, start=T0 + 5, end=T0 + 5))
    assert count_invalid_spans(request) == (0, "")
    result = normalise_request(request, "p", PRICES)
    assert (result.rejected_spans, result.error_message, len(result.steps)) == (0, "", 2)


# --- bounds ---------------------------------------------------------------------------------------------------------
def test_attribute_bounds_are_counted_not_silent() -> None:
    limits = Limits(max_attributes=4, max_attribute_chars=12, max_preview_chars=5, max_events=2)
    attrs = {f"k{i}": "v" for i in range(6)}
    attrs["k0"] = "x" * 50  # kept but shortened
    events: list[tuple[str, dict[str, Any]]] = [("e1", {}), ("e2", {}), ("e3", {})]
    span = make_span(
        "s",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "abcdefgh", **attrs},
        events=events,
        links=[(TRACE_ID, b"\x09" * 8)] * 3,
    )
    request = make_request(span, resource={f"r{i}": i for i in range(5)})
    result = normalise_request(request, "p", PRICES, limits)
    (step,) = result.steps
    assert list(step.attributes) == ["gen_ai.operation.name", "gen_ai.tool.call.arguments", "k0", "k1"]
    assert step.attributes["k0"] == "x" * 12
    assert step.dropped_attributes == 4 + 1  # k2..k5 dropped, k0 shortened
    assert len(step.resource_attributes) == 4
    assert result.dropped_attributes == step.dropped_attributes + 2  # service.name + r0..r4 is 6 keys, 4 kept
    assert [e.name for e in step.events] == ["e1", "e2"]
    assert len(step.links) == 2 and step.links[0].span_id == "09" * 8
    assert result.dropped_events == 1 + 1
    assert step.input_preview == "abcde"


def test_fields_are_read_even_from_attributes_the_bounds_drop() -> None:
    attrs: dict[str, Any] = {f"pad{i}": i for i in range(10)}
    attrs.update(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 10,
        }
    )
    result = normalise_request(make_request(make_span("c", attrs)), "p", PRICES, Limits(max_attributes=3))
    (step,) = result.steps
    assert (step.step_type, step.input_tokens, step.request_model) == (StepType.LLM, 10, "gpt-4o-mini")
    assert step.cost_usd == pytest.approx(usd(10, 10, price=MINI))
    assert result.dropped_attributes == 11


# --- content hash -----------------------------------------------------------------------------------------------------
def test_content_hash_equal_for_equal_input_and_empty_without_content() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "refund order 7"}]}]
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    a = one_step("chat", {**attrs, "gen_ai.input.messages": json.dumps(messages)})
    b = one_step("chat", {**attrs, "gen_ai.input.messages": json.dumps(messages, indent=2)})
    other_attrs = {**attrs, "gen_ai.request.model": "o3", "gen_ai.input.messages": json.dumps(messages)}
    other_model = one_step("chat", other_attrs)
    bare = one_step("chat", attrs)
    assert a.content_hash == b.content_hash == content_hash(["chat", "gpt-4o-mini", messages])
    assert len(a.content_hash) == 64
    assert other_model.content_hash != a.content_hash
    assert bare.content_hash == ""


def test_span_carried_content_hash_wins() -> None:
    step = one_step(
        "chat", {"gen_ai.operation.name": "chat", "tracehouse.content.hash": "ab" * 32, "gen_ai.input.messages": "[]"}
    )
    assert step.content_hash == "ab" * 32


def test_older_genai_prompt_event_feeds_preview_and_hash() -> None:
    events = [("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "user", "content": "hi"}]'})]
    step = one_step(
        "chat gpt-4o-mini", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}, events=events
    )
    assert step.input_preview == '[{"role": "user", "content": "hi"}]'
    assert step.content_hash == content_hash(["chat", "gpt-4o-mini", [{"role": "user", "content": "hi"}]])


# --- the tree: agents, usage, hand-offs ------------------------------------------------------------------------------
def _multi_agent_trace() -> dict[str, Any]:
    ids = {k: new_span_id() for k in ("wf", "agent", "chat", "tool", "wrapper")}
    spans = {
        "wf": make_span(
            "invoke_workflow support",
            {"gen_ai.operation.name": "invoke_workflow", "gen_ai.agent.name": "support"},
            span_id=ids["wf"],
        ),
        "agent": make_span(
            "invoke_agent triage",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"},
            span_id=ids["agent"],
            parent=ids["wf"],
        ),
        "wrapper": make_span(
            "ChatOpenAI",
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.token_count.prompt": 100,
                "llm.token_count.completion": 20,
            },
            span_id=ids["wrapper"],
            parent=ids["agent"],
            status=OK,
        ),
        "chat": make_span(
            "chat gpt-4o-mini",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 20,
            },
            span_id=ids["chat"],
            parent=ids["wrapper"],
        ),
        "tool": make_span(
            "execute_tool lookup",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
            span_id=ids["tool"],
            parent=ids["agent"],
        ),
    }
    return {"ids": ids, "spans": spans}


def test_agent_is_inherited_from_nearest_agent_ancestor_in_any_order() -> None:
    trace = _multi_agent_trace()
    spans = trace["spans"]
    # children usually arrive before their parents: put them first
    request = make_request(spans["chat"], spans["tool"], spans["wrapper"], spans["agent"], spans["wf"])
    steps = {s.name: s for s in normalise_request(request, "p", PRICES).steps}
    assert steps["invoke_workflow support"].agent == ""
    assert steps["invoke_workflow support"].workflow == "support"
    assert steps["invoke_agent triage"].agent == "triage"
    assert steps["ChatOpenAI"].agent == "triage"
    assert steps["chat gpt-4o-mini"].agent == "triage"
    assert steps["execute_tool lookup"].agent == "triage"


def test_wrapper_usage_is_not_counted_twice() -> None:
    spans = _multi_agent_trace()["spans"]
    steps = {s.name: s for s in normalise_request(make_request(*spans.values()), "p", PRICES).steps}
    inner, wrapper = steps["chat gpt-4o-mini"], steps["ChatOpenAI"]
    assert (inner.input_tokens, inner.output_tokens) == (100, 20)
    assert inner.cost_usd == pytest.approx(usd(100, 20, price=MINI))
    assert (wrapper.input_tokens, wrapper.output_tokens, wrapper.cost_usd) == (None, None, None)
    assert wrapper.attributes["llm.token_count.prompt"] == "100"  # raw stays
    total = sum(s.input_tokens or 0 for s in steps.values())
    assert total == 100


def test_agent_span_with_aggregate_usage_loses_it_to_its_calls() -> None:
    agent_id = new_span_id()
    agent = make_span(
        "invoke_agent a",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a", "gen_ai.usage.input_tokens": 30},
        span_id=agent_id,
    )
    chat = make_span("chat", {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 30}, parent=agent_id)
    steps = {s.name: s for s in normalise_request(make_request(agent, chat), "p", PRICES).steps}
    assert steps["invoke_agent a"].input_tokens is None
    assert steps["chat"].input_tokens == 30


def test_handoff_as_explicit_span_gets_source_from_its_agent() -> None:
    agent_id, handoff_id = new_span_id(), new_span_id()
    spans = [
        make_span(
            "invoke_agent triage",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"},
            span_id=agent_id,
        ),
        make_span(
            "execute_tool transfer_to_billing",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "transfer_to_billing"},
            span_id=handoff_id,
            parent=agent_id,
        ),
        make_span(
            "invoke_agent billing",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing"},
            parent=handoff_id,
        ),
    ]
    steps = {s.name: s for s in normalise_request(make_request(*spans), "p", PRICES).steps}
    handoff = steps["execute_tool transfer_to_billing"]
    assert handoff.step_type is StepType.HANDOFF
    assert (handoff.handoff_source, handoff.handoff_target, handoff.agent) == ("triage", "billing", "triage")
    assert steps["invoke_agent billing"].agent == "billing"


def test_handoff_as_transfer_to_tool_call_in_model_output() -> None:
    agent_id = new_span_id()
    output = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "transfer_to_refunds", "arguments": {}}],
            "finish_reason": "tool_call",
        }
    ]
    spans = [
        make_span(
            "invoke_agent triage",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"},
            span_id=agent_id,
        ),
        make_span(
            "chat gpt-4o-mini",
            {"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(output)},
            parent=agent_id,
        ),
    ]
    steps = {s.name: s for s in normalise_request(make_request(*spans), "p", PRICES).steps}
    chat = steps["chat gpt-4o-mini"]
    assert chat.step_type is StepType.LLM
    assert (chat.handoff_source, chat.handoff_target) == ("triage", "refunds")
    assert chat.finish_reasons == ["tool_calls"]
