"""Typed step events a streamed run yields (`Orchestrator.run_streamed` / `astream`), in the order they happen.

They are emitted at the choke point as each unit finishes (or, for an agent, starts), so a caller can show
progress without reading spans. Replayed steps of a resumed run emit nothing: they do not happen again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import RunResult


@dataclass(frozen=True)
class AgentStarted:
    agent: str
    step_key: str
    input: Any


@dataclass(frozen=True)
class AgentFinished:
    agent: str
    step_key: str
    output: Any


@dataclass(frozen=True)
class ModelCalled:
    agent: str
    model: str
    text: str
    tool_calls: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


@dataclass(frozen=True)
class ModelTokens:
    """Text as the model produces it (providers that stream: the OpenAI-compatible one over Chat Completions, the
    fake one); the `ModelCalled` event follows with the whole answer."""

    agent: str
    model: str
    delta: str


@dataclass(frozen=True)
class ToolCalled:
    agent: str
    tool: str
    args: dict[str, Any]
    output: Any


@dataclass(frozen=True)
class HandedOff:
    source: str
    target: str
    reason: str | None


@dataclass(frozen=True)
class Interrupted:
    interrupt_id: str
    kind: str
    payload: Any


@dataclass(frozen=True)
class RunFinished:
    """The last event: how the run ended (the same `RunResult` `run()` returns)."""

    result: RunResult


StepEvent = (
    AgentStarted | AgentFinished | ModelTokens | ModelCalled | ToolCalled | HandedOff | Interrupted | RunFinished
)
Sink = Callable[[StepEvent], None]
