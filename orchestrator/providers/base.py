"""The model-provider interface: one request type, one response type, sync and async completion."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelRequest:
    """One chat completion request. `agent` tells scripted providers who is asking; it is not sent anywhere."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int = 512
    temperature: float | None = None
    timeout_s: float | None = None
    agent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "finish_reason": self.finish_reason,
            "id": self.id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelResponse:
        return cls(**data)


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
