"""The two OpenAI wire formats, as pure functions of our request and their JSON: Chat Completions
(`POST /chat/completions`, what every compatible server speaks) and the Responses API (`POST /responses`).

Requests are kept in chat form inside the orchestrator (system/user/assistant/tool messages, `tool_calls`); the
Responses format gets them as input items (`function_call`, `function_call_output`), flat function tools and
`text.format` for structured output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .base import ModelRequest, ModelResponse, ToolCall

WIRE_KEYS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name"})  # our own marks stay local
Api = Literal["chat", "responses"]


@dataclass(frozen=True)
class Wire:
    path: str
    body: Callable[[ModelRequest], dict[str, Any]]
    parse: Callable[[dict[str, Any], ModelRequest], ModelResponse]


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


def sse_data(line: str) -> dict[str, Any] | None:
    """The JSON of one `data:` line of a stream (None for other lines and the final `[DONE]`)."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return None
    data: dict[str, Any] = json.loads(payload)
    return data


WIRES: dict[str, Wire] = {
    "chat": Wire("/chat/completions", chat_body, chat_parse),
    "responses": Wire("/responses", responses_body, responses_parse),
}
