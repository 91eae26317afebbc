"""The raw OpenAI client app: a planner agent that runs a tool itself and hands a refund over to a billing agent.

Runs in a scenario's venv, under whichever OpenAI-client instrumentation the scenario's run.py installed. There is
no framework: the app executes the tool calls the model returns itself (so no span executes a tool), and the two
agents exist only as parent spans the app creates, spelled the way a user of the scenario's convention would
(CONFORMANCE_AGENT_STYLE: genai | openinference | traceloop). The billing agent's span is a child of the planner's:
the planner delegates to it when the model calls `transfer_to_billing`. Billing's calls use the API named by
CONFORMANCE_BILLING_API (chat | responses); the planner's last call is a streamed chat call with usage. The
client does not retry by itself; the app retries a failed model call once, so each attempt is a call of its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from app_support import tool_run
from openai import APIStatusError, OpenAI
from openai.types.chat import ChatCompletionMessageFunctionToolCall
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

T = TypeVar("T")
MODEL = "gpt-4o-mini"
ORDER = {"order_id": "A-1"}


def tracer_provider() -> TracerProvider:
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _function(name: str, description: str, params: dict[str, str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {k: {"type": "string", "description": v} for k, v in params.items()},
        "required": list(params),
    }
    return {"name": name, "description": description, "parameters": schema}


PLANNER_TOOLS = [
    _function("get_order", "Look an order up.", {"order_id": "the order"}),
    _function("transfer_to_billing", "Hand the case to the billing agent.", {"reason": "why"}),
]
BILLING_TOOLS = [_function("issue_refund", "Refund an order.", {"order_id": "the order"})]


@contextmanager
def agent_span(name: str) -> Iterator[None]:
    """The agent's span, with the attributes a user of the scenario's convention would set by hand."""
    style = os.environ["CONFORMANCE_AGENT_STYLE"]
    tracer = trace.get_tracer("conformance.app")
    if style == "genai":
        attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        span_name = f"invoke_agent {name}"
    elif style == "openinference":
        attrs, span_name = {"openinference.span.kind": "AGENT", "agent.name": name}, name
    else:
        attrs, span_name = {"traceloop.span.kind": "agent", "traceloop.entity.name": name}, f"{name}.agent"
    with tracer.start_as_current_span(span_name, attributes=attrs):
        yield


def retried(create: Callable[..., T], **kwargs: Any) -> T:
    """One model call, tried again once if the provider answers with an error status."""
    try:
        return create(**kwargs)
    except APIStatusError as e:
        print(f"model call failed ({e.status_code}); retrying once")
        return create(**kwargs)


def get_order(order_id: str) -> str:
    with tool_run("Planner", "get_order"):
        return json.dumps({"order_id": order_id, "status": "delivered", "amount": 42})


def issue_refund(order_id: str) -> str:
    with tool_run("Billing", "issue_refund"):
        raise RuntimeError(f"payment gateway rejected the refund for {order_id}")


def billing(client: OpenAI, reason: str) -> str:
    """The billing agent: one tool round trip (the tool fails; the app reports the error back), then an answer."""
    instructions = "You are Billing. Issue refunds with your tool."
    if os.environ["CONFORMANCE_BILLING_API"] == "responses":
        tools = [{"type": "function", **t} for t in BILLING_TOOLS]
        first = retried(client.responses.create, model=MODEL, instructions=instructions, input=reason, tools=tools)
        items: list[Any] = [{"role": "user", "content": reason}]
        for call in (o for o in first.output if o.type == "function_call"):
            items.append(
                {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments}
            )
            items.append(
                {"type": "function_call_output", "call_id": call.call_id, "output": run_billing_tool(call.arguments)}
            )
        return retried(
            client.responses.create, model=MODEL, instructions=instructions, input=items, tools=tools
        ).output_text
    chat_tools: Any = [{"type": "function", "function": t} for t in BILLING_TOOLS]
    messages: list[Any] = [{"role": "system", "content": instructions}, {"role": "user", "content": reason}]
    reply = retried(client.chat.completions.create, model=MODEL, messages=messages, tools=chat_tools).choices[0].message
    messages.append(reply.model_dump(exclude_none=True))
    for tc in function_calls(reply.tool_calls):
        messages.append({"role": "tool", "tool_call_id": tc.id, "content": run_billing_tool(tc.function.arguments)})
    answer = retried(client.chat.completions.create, model=MODEL, messages=messages, tools=chat_tools)
    return answer.choices[0].message.content or ""


def function_calls(calls: list[Any] | None) -> list[ChatCompletionMessageFunctionToolCall]:
    """The function tool calls of a reply (the scripts return no other kind)."""
    return [tc for tc in calls or [] if isinstance(tc, ChatCompletionMessageFunctionToolCall)]


def run_billing_tool(arguments: str) -> str:
    try:
        return issue_refund(**json.loads(arguments))
    except RuntimeError as e:
        return f"error: {e}"


def planner(client: OpenAI) -> str:
    """Planner: looks the order up (tool run by the app), delegates to Billing, then answers in a streamed call."""
    tools: Any = [{"type": "function", "function": t} for t in PLANNER_TOOLS]
    messages: list[Any] = [
        {"role": "system", "content": "You are Planner. Look orders up, send refunds to billing."},
        {"role": "user", "content": "Please refund order A-1."},
    ]
    while True:
        reply = retried(client.chat.completions.create, model=MODEL, messages=messages, tools=tools).choices[0].message
        messages.append(reply.model_dump(exclude_none=True))
        if not reply.tool_calls:
            break
        for tc in function_calls(reply.tool_calls):
            args = json.loads(tc.function.arguments)
            if tc.function.name == "transfer_to_billing":
                with agent_span("Billing"):
                    result = billing(client, args["reason"])
                messages.append({"role": "tool", "tool_call_id": tc.id, "content": result})
                return finish(client, messages, tools)
            messages.append({"role": "tool", "tool_call_id": tc.id, "content": get_order(**args)})
    return reply.content or ""


def finish(client: OpenAI, messages: list[Any], tools: Any) -> str:
    stream: Any = retried(
        client.chat.completions.create,
        model=MODEL,
        messages=messages,
        tools=tools,
        stream=True,
        stream_options={"include_usage": True},
    )
    return "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)


def run(provider: TracerProvider, *flush: Any) -> None:
    """Runs the two agents under the planner's span, then flushes the tracer provider (and any log provider)."""
    client = OpenAI(max_retries=0)
    with agent_span("Planner"):
        print("final answer:", planner(client))
    for p in (provider, *flush):
        p.force_flush()
        p.shutdown()
