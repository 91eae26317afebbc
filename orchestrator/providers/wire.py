"""Wire formats, as pure functions of our request and their JSON: OpenAI's Chat Completions (`POST
/chat/completions`, what every compatible server speaks) and Responses API (`POST /responses`), and Anthropic's
Messages API (`POST /messages`).

Requests are kept in chat form inside the orchestrator (system/user/assistant/tool messages, `tool_calls`); the
Responses format gets them as input items (`function_call`, `function_call_output`), flat function tools and
`text.format` for structured output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..errors import ProviderError
from .base import ModelRequest, ModelResponse, ToolCall

WIRE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name"})  # our own marks stay local
Api = Literal["chat", "responses"]


class Stream(Protocol):
    """Assembles one streamed answer from its SSE `data:` payloads."""

    def feed(self, chunk: dict[str, Any]) -> str:
        """Take one payload; return its text delta ("" when it has none)."""

    def result(self, request: ModelRequest) -> ModelResponse: ...


@dataclass(frozen=True)
class Wire:
    """One API's request body and answer parser; `stream`/`stream_fields` when the API can stream (the body gains
    `stream_fields`, and a fresh `stream()` assembles the events)."""

    path: str
    body: Callable[[ModelRequest], dict[str, Any]]
    parse: Callable[[dict[str, Any], ModelRequest], ModelResponse]
    stream: Callable[[], Stream] | None = None
    stream_fields: dict[str, Any] | None = None


def chat_body(request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [{k: v for k, v in m.items() if k in WIRE_KEYS} for m in request.messages],
        "max_tokens": request.max_tokens,
        **request.extra,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = list(request.tools)
    if request.response_format is not None:
        body["response_format"] = request.response_format
    return body


def chat_parse(data: dict[str, Any], request: ModelRequest) -> ModelResponse:
    choice = (data.get("choices") or [{}])[0]
    usage = data.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    message = choice.get("message") or {}
    calls = tuple(
        ToolCall(c.get("id") or f"call_{i}", c["function"]["name"], c["function"].get("arguments") or "{}")
        for i, c in enumerate(message.get("tool_calls") or ())
        if c.get("function")
    )
    return ModelResponse(
        text=message.get("content") or "",
        model=data.get("model") or request.model,
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        cache_read_tokens=details.get("cached_tokens"),
        finish_reason=choice.get("finish_reason") or "stop",
        id=data.get("id"),
        tool_calls=calls,
    )


def responses_body(request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "input": [item for m in request.messages for item in _input_items(m)],
        "max_output_tokens": request.max_tokens,
        **request.extra,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [{"type": "function", **t["function"]} for t in request.tools]
    if request.response_format is not None:
        schema = request.response_format.get("json_schema") or {}
        body["text"] = {
            "format": {"type": "json_schema", "name": schema.get("name", "output"), "schema": schema.get("schema", {})}
        }
    return body


def _input_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    role = message.get("role")
    if role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message.get("tool_call_id"),
                "output": message.get("content") or "",
            }
        ]
    items: list[dict[str, Any]] = []
    if message.get("content"):
        items.append({"role": role, "content": message["content"]})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        items.append(
            {
                "type": "function_call",
                "call_id": call.get("id"),
                "name": fn.get("name"),
                "arguments": fn.get("arguments") or "{}",
            }
        )
    return items


def responses_parse(data: dict[str, Any], request: ModelRequest) -> ModelResponse:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for i, item in enumerate(data.get("output") or ()):
        if item.get("type") == "message":
            texts.extend(p.get("text") or "" for p in item.get("content") or () if p.get("type") == "output_text")
        elif item.get("type") == "function_call":
            calls.append(ToolCall(item.get("call_id") or f"call_{i}", item["name"], item.get("arguments") or "{}"))
    usage = data.get("usage") or {}
    details = usage.get("input_tokens_details") or {}
    finish = "tool_calls" if calls else ("length" if data.get("status") == "incomplete" else "stop")
    return ModelResponse(
        text="".join(texts),
        model=data.get("model") or request.model,
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        cache_read_tokens=details.get("cached_tokens"),
        finish_reason=finish,
        id=data.get("id"),
        tool_calls=tuple(calls),
    )


class ChatStream:
    """Assembles a streamed chat completion (`stream: true` SSE chunks) into one response: text deltas in order,
    tool-call fragments joined by index, usage from the final chunk (`stream_options.include_usage`)."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.usage: dict[str, Any] = {}
        self.finish = "stop"
        self.model = ""
        self.id: str | None = None

    def feed(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; return its text delta ("" when it has none)."""
        self.model = chunk.get("model") or self.model
        self.id = chunk.get("id") or self.id
        self.usage = chunk.get("usage") or self.usage
        delta_text = ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            delta_text += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                slot = self.calls.setdefault(call.get("index", 0), {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                fn = call.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            self.finish = choice.get("finish_reason") or self.finish
        if delta_text:
            self.text.append(delta_text)
        return delta_text

    def result(self, request: ModelRequest) -> ModelResponse:
        calls = tuple(
            ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"] or "{}") for i, c in sorted(self.calls.items())
        )
        details = self.usage.get("prompt_tokens_details") or {}
        return ModelResponse(
            text="".join(self.text),
            model=self.model or request.model,
            input_tokens=self.usage.get("prompt_tokens"),
            output_tokens=self.usage.get("completion_tokens"),
            cache_read_tokens=details.get("cached_tokens"),
            finish_reason=self.finish,
            id=self.id,
            tool_calls=calls,
        )


class ResponsesStream:
    """Assembles a streamed Responses API answer (`stream: true` typed events): `response.output_text.delta` text in
    order, function calls from `response.output_item.added` plus their `response.function_call_arguments.delta`
    fragments, and, once `response.completed` (or `response.incomplete`) arrives, the whole response it carries,
    parsed as a non-streamed one would be (usage included). `response.failed` and `error` events raise."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.items: dict[int, dict[str, Any]] = {}
        self.final: dict[str, Any] | None = None
        self.model = ""
        self.id: str | None = None

    def feed(self, chunk: dict[str, Any]) -> str:
        kind = chunk.get("type")
        response = chunk.get("response") or {}
        self.model = response.get("model") or self.model
        self.id = response.get("id") or self.id
        if kind == "response.output_text.delta":
            delta = str(chunk.get("delta") or "")
            self.text.append(delta)
            return delta
        if kind in ("response.output_item.added", "response.output_item.done"):
            item = dict(chunk.get("item") or {})
            if kind == "response.output_item.added" and item.get("type") == "function_call":
                item["arguments"] = item.get("arguments") or ""
            self.items[int(chunk.get("output_index", len(self.items)))] = item
        elif kind == "response.function_call_arguments.delta":
            slot = self.items.setdefault(int(chunk.get("output_index", 0)), {"type": "function_call", "arguments": ""})
            slot["arguments"] = (slot.get("arguments") or "") + str(chunk.get("delta") or "")
        elif kind in ("response.completed", "response.incomplete"):
            self.final = response
        elif kind in ("response.failed", "error"):
            error = response.get("error") or chunk
            code = str(error.get("code") or "")
            raise ProviderError(
                f"stream failed: {code or 'error'}: {str(error.get('message') or '')[:300]}",
                retryable=code in ("server_error", "rate_limit_exceeded", ""),
                error_type=code or "stream_error",
            )
        return ""

    def result(self, request: ModelRequest) -> ModelResponse:
        if self.final is not None:
            return responses_parse(self.final, request)
        # The stream ended without its final event: what arrived, without usage (the orchestrator then charges the
        # reserved worst case and marks the span's usage as estimated).
        output = [self.items[i] for i in sorted(self.items)]
        if self.text and not any(item.get("type") == "message" for item in output):
            output.insert(0, {"type": "message", "content": [{"type": "output_text", "text": "".join(self.text)}]})
        return responses_parse({"id": self.id, "model": self.model, "output": output}, request)


def sse_data(line: str) -> dict[str, Any] | None:
    """The JSON of one `data:` line of a stream (None for other lines and the final `[DONE]`)."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return None
    data: dict[str, Any] = json.loads(payload)
    return data


def anthropic_body(request: ModelRequest) -> dict[str, Any]:
    """Anthropic's Messages API: system text apart, tool calls and results as content blocks (results in a user
    turn), tools with `input_schema`. It has no structured-output switch, so the schema goes into the system text."""
    system = [str(m.get("content") or "") for m in request.messages if m.get("role") == "system"]
    if request.response_format is not None:
        schema = (request.response_format.get("json_schema") or {}).get("schema", {})
        system.append("Answer with only a JSON object matching this JSON schema: " + json.dumps(schema))
    messages: list[dict[str, Any]] = []
    for m in request.messages:
        if m.get("role") == "system":
            continue
        role, blocks = _anthropic_blocks(m)
        if messages and messages[-1]["role"] == role:  # the API wants user and assistant turns to alternate
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
        **request.extra,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters", {}),
            }
            for t in request.tools
        ]
    return body


def _anthropic_blocks(m: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    if m.get("role") == "tool":
        return "user", [
            {"type": "tool_result", "tool_use_id": m.get("tool_call_id"), "content": m.get("content") or ""}
        ]
    blocks: list[dict[str, Any]] = []
    if m.get("content"):
        blocks.append({"type": "text", "text": str(m["content"])})
    for call in m.get("tool_calls") or ():
        fn = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": json.loads(fn.get("arguments") or "{}"),
            }
        )
    return ("assistant" if m.get("role") == "assistant" else "user"), blocks


ANTHROPIC_STOP = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def anthropic_parse(data: dict[str, Any], request: ModelRequest) -> ModelResponse:
    """Usage follows the OpenTelemetry convention: input tokens include the cache reads and writes Anthropic reports
    beside them."""
    blocks = data.get("content") or ()
    text = "".join(b.get("text") or "" for b in blocks if b.get("type") == "text")
    calls = tuple(
        ToolCall(b.get("id") or f"call_{i}", b["name"], json.dumps(b.get("input") or {}))
        for i, b in enumerate(blocks)
        if b.get("type") == "tool_use"
    )
    usage = data.get("usage") or {}
    read = usage.get("cache_read_input_tokens")
    written = usage.get("cache_creation_input_tokens")
    inp = usage.get("input_tokens")
    return ModelResponse(
        text=text,
        model=data.get("model") or request.model,
        input_tokens=None if inp is None else inp + (read or 0) + (written or 0),
        output_tokens=usage.get("output_tokens"),
        cache_read_tokens=read,
        finish_reason=ANTHROPIC_STOP.get(data.get("stop_reason") or "", "stop"),
        id=data.get("id"),
        tool_calls=calls,
    )


WIRES: dict[str, Wire] = {
    "chat": Wire(
        "/chat/completions",
        chat_body,
        chat_parse,
        ChatStream,
        {"stream": True, "stream_options": {"include_usage": True}},
    ),
    "responses": Wire("/responses", responses_body, responses_parse, ResponsesStream, {"stream": True}),
    "anthropic": Wire("/messages", anthropic_body, anthropic_parse),
}
