"""A deterministic scripted provider for tests and the demo: scripted outputs, latencies, token counts and failures.

Scripts are per agent (or "*"): a list of `Scripted` replies consumed in order, the last one repeating. Latency is
spent on the orchestrator's clock, so with a `FakeClock` a "1.5 s" call takes no wall time. Every call is recorded
in `calls`, which is what tests count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..clock import Clock, RealClock
from ..errors import ProviderError, ProviderTimeout
from ..summarise import estimate_tokens
from .base import ModelRequest, ModelResponse, Provider


@dataclass(frozen=True)
class Scripted:
    """One scripted reply: text (a function of the request allowed), token counts (estimated when None), latency
    in seconds, and an error to raise instead of answering."""

    text: str | Callable[[ModelRequest], str] = "ok"
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float = 0.0
    error: ProviderError | None = None


def fail(status: int = 503, message: str = "service unavailable", retry_after_s: float | None = None) -> Scripted:
    """A scripted failure classified like a real HTTP one (429 and 5xx are retryable)."""
    retryable = status == 429 or status >= 500
    return Scripted(error=ProviderError(message, retryable=retryable, status=status, retry_after_s=retry_after_s))


class FakeProvider(Provider):
    """Scripted replies per agent name ("*" for anyone); never touches the network."""

    def __init__(
        self,
        script: Mapping[str, Sequence[Scripted | str]] | None = None,
        *,
        default: Scripted | str | Callable[[ModelRequest], str] = "ok",
        clock: Clock | None = None,
        name: str = "fake",
        default_model: str = "fake-small",
    ) -> None:
        self.name = name
        self.default_model = default_model
        self.clock: Clock = clock or RealClock()
        self._script = {k: [_as_scripted(s) for s in v] for k, v in (script or {}).items()}
        self._default = _as_scripted(default) if not callable(default) else Scripted(text=default)
        self._cursor: dict[str, int] = {}
        self._lock = threading.Lock()
        self.calls: list[ModelRequest] = []

    def calls_for(self, agent: str) -> int:
        return sum(1 for c in self.calls if c.agent == agent)

    def _next(self, request: ModelRequest) -> Scripted:
        with self._lock:
            self.calls.append(request)
            key = request.agent if request.agent in self._script else "*"
            replies = self._script.get(key)
            if not replies:
                return self._default
            i = self._cursor.get(key, 0)
            self._cursor[key] = i + 1
            return replies[min(i, len(replies) - 1)]

    def _answer(self, request: ModelRequest, s: Scripted) -> tuple[float, ModelResponse | ProviderError]:
        latency = s.latency_s
        if request.timeout_s is not None and latency > request.timeout_s:
            return request.timeout_s, ProviderTimeout(
                f"{self.name}/{request.model} did not answer in {request.timeout_s:.2f}s"
            )
        if s.error is not None:
            return latency, s.error
        text = s.text(request) if callable(s.text) else s.text
        out_tokens = s.output_tokens if s.output_tokens is not None else max(len(text) // 4, 1)
        in_tokens = s.input_tokens if s.input_tokens is not None else estimate_tokens(request.messages)
        reply_id = f"fake-{len(self.calls)}"
        return latency, ModelResponse(
            text, request.model, in_tokens, min(out_tokens, request.max_tokens), None, "stop", reply_id
        )

    def complete(self, request: ModelRequest) -> ModelResponse:
        latency, result = self._answer(request, self._next(request))
        self.clock.sleep(latency)
        if isinstance(result, ProviderError):
            raise result
        return _streamed(request, result)

    async def acomplete(self, request: ModelRequest) -> ModelResponse:
        latency, result = self._answer(request, self._next(request))
        await self.clock.asleep(latency)
        if isinstance(result, ProviderError):
            raise result
        return _streamed(request, result)


def _streamed(request: ModelRequest, response: ModelResponse) -> ModelResponse:
    """Hand the text to `on_token` a few characters at a time, as a streaming provider would."""
    if request.on_token is not None:
        for i in range(0, len(response.text), 4):
            request.on_token(response.text[i : i + 4])
    return response


def _as_scripted(value: Any) -> Scripted:
    return value if isinstance(value, Scripted) else Scripted(text=str(value))
