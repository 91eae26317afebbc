"""The model-provider interface: one request type, one response type, sync and async completion."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for: `arguments` is the JSON text it sent (validated before the tool runs)."""

    id: str
    name: str
    arguments: str

    def as_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ModelRequest:
    """One chat completion request. `agent` tells scripted providers who is asking; it is not sent anywhere.
    `tools` are function schemas the model may call; `response_format` asks for structured output; a provider that
    can stream calls `on_token` with each text delta as it arrives (and still returns the whole response)."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int = 512
    temperature: float | None = None
    timeout_s: float | None = None
    agent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    tools: tuple[dict[str, Any], ...] = ()
    response_format: dict[str, Any] | None = None
    on_token: Callable[[str], None] | None = field(default=None, compare=False)  # stream text deltas here


@dataclass(frozen=True)
class ModelResponse:
    """What came back, with usage as the provider reported it (cache reads included in `input_tokens`)."""

    text: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    finish_reason: str = "stop"
    id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    def as_message(self) -> dict[str, Any]:
        """The assistant turn to put back in the conversation."""
        out: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            out["tool_calls"] = [c.as_message() for c in self.tool_calls]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "finish_reason": self.finish_reason,
            "id": self.id,
            "tool_calls": [[c.id, c.name, c.arguments] for c in self.tool_calls],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelResponse:
        calls = tuple(ToolCall(*c) for c in data.get("tool_calls") or ())
        return cls(**{**data, "tool_calls": calls})


class Provider(ABC):
    """A model provider. Implementations must not retry: the orchestrator is the only retry layer.

    `default_model` is used by agents that name no model (no `model=`, role or orchestrator default); None means
    such a call fails with a message saying where to set one, instead of sending a made-up name to a real endpoint.
    """

    name: str = "provider"
    default_model: str | None = None

    @abstractmethod
    def complete(self, request: ModelRequest) -> ModelResponse: ...

    @abstractmethod
    async def acomplete(self, request: ModelRequest) -> ModelResponse: ...
