"""`AgentContext`: what an agent function receives — its readable state, its input, and the calls it may make, all
of which go through the run's choke point.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from tracehouse import sdk

from ._support import StateView
from .arbitration import Arbiter, Candidate, Decision
from .budget import Usage
from .chat import achat, call_tools, chat
from .journal import Frame
from .nodes import Agent
from .providers.base import ModelResponse, ToolCall
from .retry import RetryPolicy
from .tools import Tool

if TYPE_CHECKING:
    from .units.agents import AgentUnit

T = TypeVar("T")

Message = dict[str, Any]


class AgentContext:
    """What an agent function receives: its readable state, its input, and the calls it may make — all of which
    go through the run's choke point."""

    def __init__(self, run: AgentUnit, frame: Frame, agent: Agent, span: sdk.StepSpan, attempt: int) -> None:
        self._run = run
        self._frame = frame
        self.agent = agent
        self.span = span
        self.attempt = attempt
        reads = agent.reads
        if frame.projection is not None:
            reads = [k for k in (reads if reads is not None else frame.projection) if k in frame.projection]
        self.state = StateView(frame.scope, reads)

    @property
    def input(self) -> Any:
        return self._frame.input

    @property
    def trace_id(self) -> str:
        return self._run.trace_id

    @property
    def remaining_s(self) -> float | None:
        """Seconds left in the run's latency budget (None without a deadline)."""
        return self._run.remaining()

    @property
    def hint(self) -> str | None:
        """Set by the loop guard (policy `hint_then_stop`) when this agent has started repeating itself."""
        return self._run.loops.hints.get(self.agent.name)

    def llm(
        self,
        prompt: str | Sequence[Message],
        *,
        system: str | None = None,
        max_tokens: int = 256,
        temperature: float | None = None,
        model: str | None = None,
        role: str | None = None,
        tools: Sequence[Tool] = (),
        output_type: type[BaseModel] | None = None,
    ) -> ModelResponse:
        """One model call. `tools` are offered (the model may answer with `tool_calls`; run them with
        `call_tools`); `output_type` asks for JSON matching a Pydantic model (validate it yourself, or use `chat`)."""
        return self._run.llm(
            self._frame,
            self.agent,
            prompt,
            system=system,
            max_tokens=max_tokens,
            temperature=temperature,
            model=model,
            role=role,
            tools=tools,
            output_type=output_type,
        )

    async def allm(
        self,
        prompt: str | Sequence[Message],
        *,
        system: str | None = None,
        max_tokens: int = 256,
        temperature: float | None = None,
        model: str | None = None,
        role: str | None = None,
        tools: Sequence[Tool] = (),
        output_type: type[BaseModel] | None = None,
    ) -> ModelResponse:
        """`llm` for async agents: awaits the provider's async client (no worker thread per call)."""
        return await self._run.allm(
            self._frame,
            self.agent,
            prompt,
            system=system,
            max_tokens=max_tokens,
            temperature=temperature,
            model=model,
            role=role,
            tools=tools,
            output_type=output_type,
        )

    def call_tools(self, calls: Sequence[ToolCall], tools: Sequence[Tool]) -> list[Message]:
        """Run the tool calls a model chose (in parallel) through the run's choke point; one `tool` message each."""
        return call_tools(self._run, self._frame, tools, calls)

    def chat(
        self,
        prompt: str | Sequence[Message],
        *,
        tools: Sequence[Tool] = (),
        output_type: type[BaseModel] | None = None,
        max_turns: int = 10,
        output_retries: int = 2,
        **llm_options: Any,
    ) -> Any:
        """Let the model use `tools` until it answers; return the text, or an `output_type` instance (an invalid
        answer is fed back up to `output_retries` times, each taken from the run's retry budget)."""
        return chat(
            self,
            prompt,
            tools=tools,
            output_type=output_type,
            max_turns=max_turns,
            output_retries=output_retries,
            **llm_options,
        )

    async def achat(
        self,
        prompt: str | Sequence[Message],
        *,
        tools: Sequence[Tool] = (),
        output_type: type[BaseModel] | None = None,
        max_turns: int = 10,
        output_retries: int = 2,
        **llm_options: Any,
    ) -> Any:
        """`chat` for async agents (model calls on the provider's async client)."""
        return await achat(
            self,
            prompt,
            tools=tools,
            output_type=output_type,
            max_turns=max_turns,
            output_retries=output_retries,
            **llm_options,
        )

    def offload(self, fn: Callable[[], T]) -> Awaitable[T]:
        """Run blocking work on the run's workers without blocking an async agent's event loop."""
        return self._run.offload(fn)

    def try_retry(self) -> bool:
        """Take one retry from the run's retry budget (False when it is spent)."""
        if not self._run.retry_budget.try_acquire():
            return False
        self._run._account(self._frame, Usage(retries=1))
        return True

    def tool(
        self,
        name: str,
        fn: Callable[..., Any],
        args: Mapping[str, Any] | None = None,
        *,
        side_effect: bool = False,
        idempotent: bool = True,
        retry: RetryPolicy | None = None,
        dedup: bool = False,
        needs_approval: bool = False,
        polling: bool = False,
    ) -> Any:
        """Call `fn(**args)` through the run's choke point. `needs_approval` pauses the run until a person approves
        this call (ToolDenied if they decline); `polling` tells the loop guard identical answers are expected."""
        return self._run.tool(
            self._frame,
            name,
            fn,
            dict(args or {}),
            side_effect=side_effect,
            idempotent=idempotent,
            retry=retry,
            dedup=dedup,
            needs_approval=needs_approval,
            polling=polling,
        )

    def interrupt(self, question: str, schema: type[BaseModel] | None = None) -> Any:
        """Ask a person: the first time, the run pauses (status `interrupted`, the question persisted with a
        checkpoint); resumed with an answer, this returns it — validated as `schema` when given (an answer that
        does not fit is asked again)."""
        return self._run.ask(self._frame, question, schema)

    async def atool(
        self, name: str, fn: Callable[..., Any], args: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        return await self._run.offload(lambda: self.tool(name, fn, args, **kwargs))

    def delegate(self, target: str, payload: Any = None, *, reason: str | None = None) -> Any:
        """Hand a sub-task to `target` (a hand-off under this agent's span); its writes land in this agent's step."""
        return self.delegate_in(self._frame, target, payload, reason)

    def delegate_in(
        self, frame: Frame, target: str, payload: Any, reason: str | None, attempt: int | None = None
    ) -> Any:
        """`delegate` from a frame of the caller's choosing (a parallel supervisor gives each task its own, so
        concurrent delegations get deterministic step keys and separate staged writes)."""
        loop = self._run._loop
        if loop is not None and off_loop(loop):
            # A sync agent of an async run (on a worker thread): async targets must run on the run's event loop.
            coro = self._run.ahandoff(frame, self.agent.name, target, payload, reason, attempt)
            return asyncio.run_coroutine_threadsafe(coro, loop).result()
        return self._run.handoff(frame, self.agent.name, target, payload, reason, attempt)

    @property
    def frame(self) -> Frame:
        return self._frame

    async def adelegate(self, target: str, payload: Any = None, *, reason: str | None = None) -> Any:
        return await self._run.ahandoff(self._frame, self.agent.name, target, payload, reason)

    def arbitrate(self, candidates: Sequence[Candidate], arbiter: Arbiter | None = None) -> Decision:
        return self._run.arbitrate(self._frame, candidates, arbiter)


def off_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True
