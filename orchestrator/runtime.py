"""The run: one choke point (`Run`) through which every agent step, model call, tool call and hand-off passes.

Each unit gets a deterministic step key from its position in the execution tree. Before running, the journal is
consulted: a unit that already succeeded returns its recorded output and re-applies its recorded writes and usage
(that is resume). Otherwise limits are checked, the breaker asked, cost reserved, the unit executed with retries
under the run's retry budget, and its journal row, writes and checkpoint committed in one transaction. Every unit
emits exactly one span per attempt through `tracehouse.sdk`.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import inspect
import random
import threading
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar, overload

from opentelemetry import trace as otel_trace
from opentelemetry.trace import Link
from pydantic import BaseModel, ValidationError

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from ._support import Scope, StateView, last_values, roundtrip, step_key
from .arbitration import Arbiter, Candidate, Decision, choose_by_human
from .breaker import BreakerRegistry, CircuitBreaker, Transition, model_breaker_name, tool_breaker_name
from .budget import FINALIZE_ONLY_AT, Ledger, Limits, ModelChoice, Role, Usage, choose_model
from .chat import call_tools, chat
from .clock import Clock
from .contracts import HandoffContract, find_contract
from .dedup import Deduper, DedupResult, task_key
from .errors import (
    BudgetExceeded,
    CircuitOpen,
    ContractViolation,
    DeadlineExceeded,
    EffectInDoubt,
    GraphConfigError,
    HandoffHopsExceeded,
    HumanInputRequired,
    LimitExceeded,
    LoopDetected,
    OrchestratorError,
    RetryBudgetExhausted,
    ToolDenied,
    UndeclaredWrite,
    is_retryable,
)
from .events import (
    AgentFinished,
    AgentStarted,
    HandedOff,
    Interrupted,
    ModelCalled,
    Sink,
    StepEvent,
    ToolCalled,
)
from .loops import LoopGuard, LoopPolicy
from .nodes import Agent, Handoff, Node, Result
from .providers.base import ModelRequest, ModelResponse, Provider, ToolCall
from .retry import NO_RETRY, RetryBudget, RetryBudgetConfig, RetryPolicy
from .state import Checkpoint, Interrupt, StateSchema, StateStore, StepRecord, StepStatus, Write
from .summarise import ContextPolicy, apply_compaction, check_fits, messages_to_summarise, plan_compaction
from .tokens import Tokenizer
from .tools import Tool, output_format

T = TypeVar("T")
S = TypeVar("S")
Message = dict[str, Any]


@dataclass(frozen=True)
class ModelOffer:
    """What a model call offers besides the messages: tool schemas and a structured-output format."""

    tools: tuple[dict[str, Any], ...] = ()
    response_format: dict[str, Any] | None = None


NO_OFFER = ModelOffer()


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs from its orchestrator (immutable, shared by every run)."""

    workflow: str
    schema: StateSchema
    store: StateStore
    provider: Provider
    limits: Limits
    roles: Mapping[str, Role]
    retry: RetryPolicy
    retry_budget: RetryBudgetConfig
    breakers: BreakerRegistry
    loop_policy: LoopPolicy
    contracts: Sequence[HandoffContract]
    context: ContextPolicy | None
    clock: Clock
    default_model: str | None
    nodes: Mapping[str, Node]
    arbiter: Arbiter
    ledger_factory: Callable[[Limits], Ledger]
    tokenizer: Tokenizer
    flush_spans: bool = True
    max_workers: int = 16


@dataclass(eq=False)
class Frame:
    """Where a node executes: its path in the tree (for keys), its scope (for writes), its input and the usage
    accumulators of every enclosing step (so a step's record carries its whole subtree's usage)."""

    run: Run
    path: str
    scope: Scope
    input: Any = None
    agent: str | None = None
    usage: tuple[Usage, ...] = ()
    projection: Sequence[str] | None = None
    finalize: bool = False
    occ: dict[str, int] = field(default_factory=dict)

    def next_key(self, name: str) -> tuple[str, str]:
        n = self.occ.get(name, 0)
        self.occ[name] = n + 1
        path = f"{self.path}/{name}#{n}"
        return step_key(self.run.trace_id, path), path

    def child(self, path: str, **changes: Any) -> Frame:
        base = {
            "scope": self.scope,
            "input": self.input,
            "agent": self.agent,
            "usage": self.usage,
            "projection": self.projection,
            "finalize": self.finalize,
        }
        base.update(changes)
        return Frame(self.run, path, **base)


class AgentContext:
    """What an agent function receives: its readable state, its input, and the calls it may make — all of which
    go through the run's choke point."""

    def __init__(self, run: Run, frame: Frame, agent: Agent, span: sdk.StepSpan, attempt: int) -> None:
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
    ) -> Any:
        """Call `fn(**args)` through the run's choke point. `needs_approval` pauses the run until a person approves
        this call (ToolDenied if they decline)."""
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
        if loop is not None and _off_loop(loop):
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


@dataclass
class RunResult:
    """How a run ended: status, final state, output, the error that ended it (never silent), and spend."""

    trace_id: str
    branch: str
    status: str
    state: dict[str, Any]
    output: Any
    error: BaseException | None
    checkpoint_id: str | None
    spent_usd: float
    usage: Usage

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def raise_for_status(self) -> RunResult:
        if self.error is not None:
            raise self.error
        return self


class Run:
    """One execution of a workflow (a fresh run, a resume or a fork): the choke point for everything it does."""

    def __init__(
        self,
        cfg: RunConfig,
        trace_id: str,
        branch: str,
        initial: dict[str, Any],
        limits: Limits,
        fork_edits: tuple[str, int, dict[str, Any]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.trace_id = trace_id
        self.branch = branch
        self.records = cfg.store.load_steps(trace_id, branch)
        self.top = Scope(cfg.schema, dict(initial), top=True)
        self.ledger = cfg.ledger_factory(limits)
        self.retry_budget = RetryBudget(cfg.retry_budget)
        self.loops = LoopGuard(cfg.loop_policy)
        self.deduper = Deduper()
        self.rng = random.Random(trace_id)
        self._commit_lock = threading.Lock()
        self._seq = cfg.store.max_seq(trace_id, branch)
        history = cfg.store.history(trace_id, branch)
        self.last_checkpoint: str | None = history[-1].checkpoint_id if history else None
        self.deadline = None if limits.deadline_s is None else cfg.clock.now() + limits.deadline_s
        self._fork = fork_edits
        self._edge_hops: dict[tuple[str, str], int] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.new_calls = 0
        self.sink: Sink | None = None  # set by a streamed run

    def emit(self, event: StepEvent) -> None:
        if self.sink is not None:
            self.sink(event)

    # -- bookkeeping -------------------------------------------------------------------------------------------

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.cfg.clock.now()

    def check_deadline(self) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(
                "deadline_s", self.ledger.limits.deadline_s or 0.0, (self.ledger.limits.deadline_s or 0.0) - left
            )

    def _account(self, frame: Frame, usage: Usage) -> None:
        for acc in frame.usage:
            acc.add(usage)

    def _replay(self, frame: Frame, rec: StepRecord) -> Any:
        """Re-apply a recorded step: its writes into the frame's scope, its usage into the ledger, its output."""
        usage = Usage.from_dict(rec.usage)
        self.ledger.replay(usage)
        self.retry_budget.replay(usage.first_attempts, usage.retries)
        self._account(frame, usage)
        if rec.writes:
            frame.scope.apply(rec.writes)
        if self._fork is not None and rec.branch == self._fork[0] and rec.seq == self._fork[1]:
            self.top.apply(list(self._fork[2].items()))
        return rec.output

    def commit(
        self,
        frame: Frame,
        *,
        key: str,
        name: str,
        kind: str,
        writes: Sequence[Write],
        output: Any,
        usage: Usage,
        attempt: int = 1,
        span: sdk.StepSpan | None = None,
        checkpoint: bool = True,
        status: StepStatus = "succeeded",
        error: str | None = None,
    ) -> str | None:
        """Journal row + writes + checkpoint in one transaction; then the writes become visible in the scope."""
        writes = [(k, v) for k, v in roundtrip([list(w) for w in writes])]
        span_id = None
        if span is not None and span.span.get_span_context().is_valid:
            span_id = format(span.span.get_span_context().span_id, "016x")
        with self._commit_lock:
            self._seq += 1
            seq = self._seq
            record = StepRecord(
                self.trace_id,
                self.branch,
                key,
                seq,
                name,
                kind,
                status,
                attempt,
                writes,
                output,
                usage.as_dict(),
                error,
                span_id,
            )
            cp = None
            new_state = None
            if checkpoint:
                top = frame.scope.top
                new_state = frame.scope.preview(writes) if top else self.top.state
                cp = Checkpoint(
                    f"{self.trace_id[:16]}-{self.branch}-{seq:06d}",
                    self.trace_id,
                    self.branch,
                    seq,
                    self.last_checkpoint,
                    key,
                    new_state,
                    {
                        "top": top,
                        "kind": kind,
                        "name": name,
                        **({} if top else {"pending_writes": [list(w) for w in writes]}),
                        "ledger": {"spent_usd": self.ledger.spent_usd, "steps": self.ledger.steps},
                        "retries": self.retry_budget.retries,
                    },
                )
            self.cfg.store.commit_step(record, cp)
            if cp is not None:
                self.last_checkpoint = cp.checkpoint_id
            if status in ("succeeded", "partial") and writes:
                if new_state is not None and frame.scope.top:
                    frame.scope.adopt(new_state, writes)
                else:
                    frame.scope.apply(writes)
        if span is not None and cp is not None:
            span.set_attribute(sc.CHECKPOINT_ID, cp.checkpoint_id)
        return cp.checkpoint_id if cp is not None else None

    def _budget_attrs(self, span: sdk.StepSpan) -> None:
        span.set_attributes({sc.BUDGET_SPENT_USD: self.ledger.spent_usd, sc.BUDGET_FRACTION: self.ledger.fraction()})

    def offload(self, fn: Callable[[], T]) -> Awaitable[T]:
        """Run blocking work (the sync choke point) on the run's executor, keeping the OpenTelemetry context."""
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.cfg.max_workers, thread_name_prefix="tracehouse")
        ctx = contextvars.copy_context()
        return loop.run_in_executor(self._executor, ctx.run, fn)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    # -- agent steps -------------------------------------------------------------------------------------------

    def _agent_prelude(self, frame: Frame, agent: Agent) -> tuple[str, str, StepRecord | None]:
        key, path = frame.next_key(agent.name)
        rec = self.records.get(key)
        self.ledger.count_step()
        self._account(frame, Usage(steps=1))
        if rec is None:
            if self.cfg.flush_spans:
                flush_spans()  # the steps finished so far reach the collector before this one can crash
            self.check_deadline()
            if not agent.finalize and not frame.finalize and self.ledger.fraction() >= FINALIZE_ONLY_AT:
                cap = self.ledger.limits.max_cost_usd or 0.0
                raise BudgetExceeded(
                    "cost_usd",
                    cap,
                    self.ledger.spent_usd,
                    f"{self.ledger.fraction():.0%} of the ${cap:.4f} budget is committed: only "
                    f"finalize steps may start, {agent.name} is not one",
                )
        return key, path, rec

    def _agent_span(self, agent: Agent, key: str, attempt: int, multi: bool) -> sdk.StepSpan | Any:
        return sdk.agent(
            agent.name,
            id=key[:16],
            description=agent.description,
            version=agent.version,
            attempt=attempt if multi else None,
        )

    def _agent_begin(self, span: sdk.StepSpan, frame: Frame, agent: Agent, key: str, payload: Any) -> None:
        span.set_attribute(sc.STEP_KEY, key)
        view = StateView(frame.scope, agent.reads)
        span.set_input({"input": payload, "reads": view.snapshot() if agent.reads is not None else {}})

    def _agent_conclude(
        self,
        frame: Frame,
        inner: Frame,
        agent: Agent,
        key: str,
        raw: Any,
        usage: Usage,
        span: sdk.StepSpan,
        attempt: int,
    ) -> tuple[Any, Handoff | None, list[Write]]:
        result = _as_result(agent, raw)
        undeclared = sorted(set(result.writes) - set(agent.writes))
        if undeclared:
            raise UndeclaredWrite(
                f"agent {agent.name} wrote {', '.join(undeclared)} but declares writes={sorted(agent.writes)}"
            )
        own = list(result.writes.items())
        net = [*inner.scope.writes, *own]
        before = {k: frame.scope.state.get(k) for k, _ in net}
        handoff = result.handoff
        output = roundtrip(
            {
                "o": result.output,
                "h": None
                if handoff is None
                else {"target": handoff.target, "payload": handoff.payload, "reason": handoff.reason},
            }
        )
        self.commit(
            frame,
            key=key,
            name=agent.name,
            kind="agent",
            writes=net,
            output=output,
            usage=usage,
            attempt=attempt,
            span=span,
        )
        self._budget_attrs(span)
        if result.output is not None:
            span.set_output(result.output)
        if agent.writes:
            changed = any(frame.scope.state.get(k) != before.get(k) for k, _ in net)
            self.loops.progress(agent.name, changed)
        out_handoff = None if handoff is None else Handoff(handoff.target, output["h"]["payload"], handoff.reason)
        return output["o"], out_handoff, net

    def _inner_frame(self, frame: Frame, agent: Agent, path: str, attempt: int, usage: Usage) -> Frame:
        # Writes of delegated specialists are staged here until this agent's step commits.
        return frame.child(
            f"{path}@{attempt}",
            scope=frame.scope.child(),
            agent=agent.name,
            usage=(*frame.usage, usage),
            finalize=frame.finalize or agent.finalize,
            occ={},
        )

    def _handoff_frame(self, frame: Frame, agent: Agent, path: str, attempt: int) -> Frame:
        # A hand-off an agent returns happens after its step committed: the target's writes go to the enclosing
        # scope, and its usage to the enclosing steps only.
        return frame.child(f"{path}@{attempt}/then", agent=agent.name, occ={})

    def _agent_retry_wait(self, agent: Agent, exc: BaseException, attempt: int, committed: bool) -> float | None:
        policy = agent.retry or NO_RETRY
        if committed or attempt >= policy.max_attempts or not is_retryable(exc):
            return None
        if not self.retry_budget.try_acquire():
            raise RetryBudgetExhausted(
                f"agent {agent.name}: retry budget spent ({self.retry_budget.retries} retries)",
                retries_used=self.retry_budget.retries,
                allowance=self.retry_budget.allowance(),
            ) from exc
        wait = policy.backoff(attempt - 1, self.rng, getattr(exc, "retry_after_s", None))
        left = self.remaining()
        if left is not None and wait >= left:
            raise DeadlineExceeded("deadline_s", self.ledger.limits.deadline_s or 0.0, wait) from exc
        return wait

    def _dedup_key(self, frame: Frame, agent: Agent, payload: Any) -> str:
        reads = {k: frame.scope.state.get(k) for k in (agent.reads or ())}
        return task_key(
            kind="agent_task",
            agent=f"{agent.name}@{agent.version}",
            action=agent.name,
            inputs=payload,
            reads=reads,
            scope=self.trace_id,
            volatile=agent.volatile,
        )

    def _dedup_hit(self, frame: Frame, agent: Agent, key: str, found: DedupResult) -> Any:
        with sdk.agent(agent.name, id=key[:16], description=agent.description, version=agent.version) as span:
            span.set_attributes({sc.STEP_KEY: key, sc.DEDUP_HIT: True})
            if found.span_context is not None:
                span.span.add_link(found.span_context, {sc.DEDUP_HIT: True})
            span.add_event(sc.EVENT_DEDUP_HIT)
            self.commit(
                frame,
                key=key,
                name=agent.name,
                kind="agent",
                writes=found.writes,
                output={"o": found.output, "h": None},
                usage=Usage(),
                span=span,
            )
        return found.output

    def run_agent(self, frame: Frame, agent: Agent, payload: Any) -> Any:
        key, path, rec = self._agent_prelude(frame, agent)
        if rec is not None:
            return self._after_replay(frame, agent, path, rec, sync=True)
        if not agent.dedup:
            return self._run_agent_fresh(frame, agent, key, path, payload)
        dkey = self._dedup_key(frame, agent, payload)
        first, fut = self.deduper.claim(dkey)
        if not first:
            return self._dedup_hit(frame, agent, key, fut.result())
        try:
            out = self._run_agent_fresh(frame, agent, key, path, payload, dkey)
        except BaseException as exc:
            self.deduper.fail(dkey, exc)
            raise
        return out

    def _after_replay(self, frame: Frame, agent: Agent, path: str, rec: StepRecord, sync: bool) -> Any:
        out = self._replay(frame, rec)
        h = out.get("h") if isinstance(out, dict) else None
        if h is None:
            return out.get("o") if isinstance(out, dict) else out
        inner = self._handoff_frame(frame, agent, path, rec.attempt)
        if sync:
            return self.handoff(inner, agent.name, h["target"], h["payload"], h.get("reason"))
        return self.ahandoff(inner, agent.name, h["target"], h["payload"], h.get("reason"))

    def _run_agent_fresh(
        self, frame: Frame, agent: Agent, key: str, path: str, payload: Any, dkey: str | None = None
    ) -> Any:
        policy = agent.retry or NO_RETRY
        attempt = 0
        while True:
            attempt += 1
            usage = Usage()
            inner = self._inner_frame(frame, agent, path, attempt, usage)
            committed = False
            try:
                with pausable(self._agent_span(agent, key, attempt, policy.max_attempts > 1)) as span:
                    self._agent_begin(span, frame, agent, key, payload)
                    self.emit(AgentStarted(agent.name, key, payload))
                    if agent.is_async:
                        raise OrchestratorError(f"agent {agent.name} is async: run the workflow with arun()")
                    raw = agent.fn(AgentContext(self, inner, agent, span, attempt))
                    output, handoff, net = self._agent_conclude(frame, inner, agent, key, raw, usage, span, attempt)
                    self.emit(AgentFinished(agent.name, key, output))
                    committed = True
                    if dkey is not None:
                        self.deduper.complete(dkey, DedupResult(output, net, span.span.get_span_context()))
                    if handoff is not None:
                        hframe = self._handoff_frame(frame, agent, path, attempt)
                        return self.handoff(hframe, agent.name, handoff.target, handoff.payload, handoff.reason)
                    return output
            except Exception as exc:
                wait = self._agent_retry_wait(agent, exc, attempt, committed)
                if wait is None:
                    raise
                self.cfg.clock.sleep(wait)

    async def arun_agent(self, frame: Frame, agent: Agent, payload: Any) -> Any:
        key, path, rec = self._agent_prelude(frame, agent)
        if rec is not None:
            out = self._after_replay(frame, agent, path, rec, sync=False)
            return await out if inspect.isawaitable(out) else out
        dkey = self._dedup_key(frame, agent, payload) if agent.dedup else None
        if dkey is not None:
            first, fut = self.deduper.claim(dkey)
            if not first:
                found = await asyncio.wrap_future(fut)
                return self._dedup_hit(frame, agent, key, found)
        try:
            return await self._arun_agent_fresh(frame, agent, key, path, payload, dkey)
        except BaseException as exc:
            if dkey is not None:
                self.deduper.fail(dkey, exc)
            raise

    async def _arun_agent_fresh(
        self, frame: Frame, agent: Agent, key: str, path: str, payload: Any, dkey: str | None
    ) -> Any:
        policy = agent.retry or NO_RETRY
        attempt = 0
        while True:
            attempt += 1
            usage = Usage()
            inner = self._inner_frame(frame, agent, path, attempt, usage)
            committed = False
            try:
                with pausable(self._agent_span(agent, key, attempt, policy.max_attempts > 1)) as span:
                    self._agent_begin(span, frame, agent, key, payload)
                    self.emit(AgentStarted(agent.name, key, payload))
                    actx = AgentContext(self, inner, agent, span, attempt)
                    if agent.is_async:
                        raw = await agent.fn(actx)
                    else:
                        raw = await self.offload(lambda actx=actx: agent.fn(actx))  # type: ignore[misc]
                    output, handoff, net = self._agent_conclude(frame, inner, agent, key, raw, usage, span, attempt)
                    self.emit(AgentFinished(agent.name, key, output))
                    committed = True
                    if dkey is not None:
                        self.deduper.complete(dkey, DedupResult(output, net, span.span.get_span_context()))
                    if handoff is not None:
                        hframe = self._handoff_frame(frame, agent, path, attempt)
                        return await self.ahandoff(hframe, agent.name, handoff.target, handoff.payload, handoff.reason)
                    return output
            except Exception as exc:
                wait = self._agent_retry_wait(agent, exc, attempt, committed)
                if wait is None:
                    raise
                await self.cfg.clock.asleep(wait)

    # -- hand-offs ---------------------------------------------------------------------------------------------

    def _handoff_prelude(
        self, frame: Frame, source: str, target: str, payload: Any, span: sdk.StepSpan | Any, key: str
    ) -> tuple[Node, HandoffContract | None, Any]:
        node = self.cfg.nodes.get(target)
        if node is None:
            raise ContractViolation(f"{source}->{target}", "target", f"unknown agent {target!r}")
        contract = find_contract(self.cfg.contracts, source, target)
        span.set_attribute(sc.STEP_KEY, key)
        try:
            self.ledger.count_hop()
            self._account(frame, Usage(hops=1))
            edge = (source, target)
            self._edge_hops[edge] = self._edge_hops.get(edge, 0) + 1
            if contract is not None and contract.max_hops is not None and self._edge_hops[edge] > contract.max_hops:
                raise HandoffHopsExceeded(
                    "handoff_hops",
                    contract.max_hops,
                    self._edge_hops[edge],
                    f"hand-off {source}->{target} taken {self._edge_hops[edge]} times "
                    f"(contract max_hops {contract.max_hops})",
                )
            self.loops.handoff(source, target)
        except HandoffHopsExceeded as exc:
            span.set_attributes(
                {sc.BUDGET_LIMIT_KIND: exc.kind, sc.BUDGET_LIMIT: exc.limit, sc.BUDGET_OBSERVED: exc.observed}
            )
            if self.loops.has_cycle():
                _mark_loop(span, "handoff_cycle", f"hop cap {exc.limit:g} stopped a hand-off cycle")
            raise
        except LoopDetected as exc:
            _mark_loop(span, exc.pattern, exc.detail)
            raise
        if contract is not None:
            span.set_attributes({sc.CONTRACT_EDGE: contract.edge, sc.CONTRACT_VERSION: contract.version})
            try:
                payload = contract.validate_payload(payload)
            except ContractViolation as exc:
                _mark_violation(span, exc)
                raise
        return node, contract, payload

    def _handoff_check(
        self,
        frame: Frame,
        source: str,
        target: str,
        contract: HandoffContract | None,
        child: Scope,
        out: Any,
        attempt: int,
        key: str,
        span: sdk.StepSpan | Any,
    ) -> tuple[bool, Any]:
        """(done, output): done=False means retry the target per the contract."""
        if contract is None:
            return True, out
        problem = contract.check_result(last_values(child.writes))
        if problem is None:
            return True, out
        what = "obligations" if problem.startswith("obligations") else "success"
        exc = ContractViolation(contract.edge, what, problem)
        _mark_violation(span, exc)
        if contract.on_failure == "retry" and attempt <= contract.max_retries and self.retry_budget.try_acquire():
            self._account(frame, Usage(retries=1))
            return False, None
        if contract.on_failure == "return_to_source":
            child.writes.clear()
            return True, {"contract_violation": what, "edge": contract.edge, "detail": problem, "output": out}
        if contract.on_failure == "escalate_human":
            answer = self._interrupt(key, "contract", {"edge": contract.edge, "problem": problem, "output": out}, span)
            if answer == "accept":
                return True, out
        raise exc

    def handoff(
        self, frame: Frame, source: str, target: str, payload: Any, reason: str | None, attempt: int | None = None
    ) -> Any:
        key, path = frame.next_key(f"handoff:{target}")
        rec = self.records.get(key)
        if rec is not None:
            self.ledger.count_hop()
            self._account(frame, Usage(hops=1))
            self.loops.handoff(source, target)
            self._edge_hops[(source, target)] = self._edge_hops.get((source, target), 0) + 1
            return self._replay(frame, rec)
        usage = Usage()
        with pausable(sdk.handoff(source, target, reason=reason, payload=payload, attempt=attempt)) as span:
            node, contract, payload = self._handoff_prelude(frame, source, target, payload, span, key)
            self.emit(HandedOff(source, target, reason))
            attempt = 0
            while True:
                attempt += 1
                child = frame.scope.child()
                tframe = frame.child(
                    f"{path}/t{attempt}",
                    scope=child,
                    input=payload,
                    agent=target,
                    usage=(*frame.usage, usage),
                    occ={},
                    projection=contract.state_projection if contract else None,
                )
                out = node.execute(tframe)
                done, out = self._handoff_check(frame, source, target, contract, child, out, attempt, key, span)
                if done:
                    break
            self.commit(
                frame,
                key=key,
                name=f"{sc.HANDOFF_TOOL_PREFIX}{target}",
                kind="handoff",
                writes=child.writes,
                output=roundtrip(out),
                usage=usage,
                checkpoint=frame.scope.top,
            )
            return roundtrip(out)

    async def ahandoff(
        self, frame: Frame, source: str, target: str, payload: Any, reason: str | None, attempt: int | None = None
    ) -> Any:
        key, path = frame.next_key(f"handoff:{target}")
        rec = self.records.get(key)
        if rec is not None:
            frame.occ[f"handoff:{target}"] -= 1
            return self.handoff(frame, source, target, payload, reason, attempt)
        usage = Usage()
        with pausable(sdk.handoff(source, target, reason=reason, payload=payload, attempt=attempt)) as span:
            node, contract, payload = self._handoff_prelude(frame, source, target, payload, span, key)
            self.emit(HandedOff(source, target, reason))
            attempt = 0
            while True:
                attempt += 1
                child = frame.scope.child()
                tframe = frame.child(
                    f"{path}/t{attempt}",
                    scope=child,
                    input=payload,
                    agent=target,
                    usage=(*frame.usage, usage),
                    occ={},
                    projection=contract.state_projection if contract else None,
                )
                out = await node.aexecute(tframe)
                done, out = self._handoff_check(frame, source, target, contract, child, out, attempt, key, span)
                if done:
                    break
            self.commit(
                frame,
                key=key,
                name=f"{sc.HANDOFF_TOOL_PREFIX}{target}",
                kind="handoff",
                writes=child.writes,
                output=roundtrip(out),
                usage=usage,
                checkpoint=frame.scope.top,
            )
            return roundtrip(out)

    # -- interrupts --------------------------------------------------------------------------------------------

    def ask(self, frame: Frame, question: str, schema: type[BaseModel] | None) -> Any:
        """`ctx.interrupt`: the person's answer (validated as `schema`), or pause the run until there is one."""
        key, _ = frame.next_key("interrupt")
        payload = {"question": question, "schema": None if schema is None else schema.model_json_schema()}
        answer = self._interrupt(key, "question", payload, otel_trace.get_current_span())
        if schema is None:
            return answer
        try:
            return schema.model_validate(answer)
        except ValidationError as exc:
            self._reask(key, "question", {**payload, "invalid_answer": answer, "error": str(exc)[:500]}, exc)

    def approve(self, frame: Frame, tool: str, args: Mapping[str, Any]) -> None:
        """A tool that needs approval: return when a person approved this call, raise ToolDenied when they declined,
        pause the run until they answer."""
        key, _ = frame.next_key(f"approval:{tool}")
        payload = {"tool": tool, "args": dict(args)}
        answer = self._interrupt(key, "approval", payload, otel_trace.get_current_span())
        verdict = approval_of(answer)
        if verdict is None:
            self._reask(
                key,
                "approval",
                {
                    **payload,
                    "invalid_answer": answer,
                    "error": 'answer "approve", "deny" or {"approved": bool, "reason": str}',
                },
            )
        elif not verdict[0]:
            raise ToolDenied(tool, verdict[1])

    def _settle_in_doubt(self, frame: Frame, key: str, name: str, effect_key: str) -> Any:
        """A person's word on an in-doubt effect: "happened" (its result, recorded; returned), "rerun" (None: run it
        again), or no answer yet (pause)."""
        answer = next(
            (
                i.answer
                for i in self.cfg.store.interrupts(self.trace_id)
                if i.interrupt_id == key and i.status == "answered"
            ),
            None,
        )
        verdict = in_doubt_verdict(answer)
        if verdict is None:
            self._in_doubt(frame, key, name, effect_key)
        happened, result = verdict
        if not happened:
            return None
        out = roundtrip(result)
        self.cfg.store.record_effect_result(effect_key, out)
        self.commit(
            frame, key=key, name=name, kind="tool", writes=[], output=out, usage=Usage(tool_calls=1), checkpoint=False
        )
        return out

    def _reask(self, key: str, kind: str, payload: Any, cause: BaseException | None = None) -> NoReturn:
        """The answer did not fit: the interrupt is pending again, saying why, and the run pauses."""
        self.cfg.store.reopen_interrupt(self.trace_id, key, roundtrip(payload))
        raise HumanInputRequired(
            key, payload, f"the answer to interrupt {key} did not fit ({kind}): asked again"
        ) from cause

    def _interrupt(self, key: str, kind: str, payload: Any, span: sdk.StepSpan | Any) -> Any:
        """The human's answer to interrupt `key`, or persist it (with a checkpoint) and pause the run."""
        for found in self.cfg.store.interrupts(self.trace_id):
            if found.interrupt_id == key and found.status == "answered":
                return found.answer
        self.cfg.store.put_interrupt(Interrupt(self.trace_id, key, kind, roundtrip(payload), None, "pending"))
        span.add_event(sc.EVENT_ESCALATION, {sc.INTERRUPT_ID: key, "tracehouse.escalation.kind": kind})
        span.set_attribute(sc.INTERRUPT_ID, key)
        with self._commit_lock:
            self._seq += 1
            cp = Checkpoint(
                f"{self.trace_id[:16]}-{self.branch}-{self._seq:06d}",
                self.trace_id,
                self.branch,
                self._seq,
                self.last_checkpoint,
                key,
                self.top.state,
                {"top": True, "kind": "interrupt", "interrupt": key, "payload": roundtrip(payload)},
            )
            self.cfg.store.commit_step(
                StepRecord(self.trace_id, self.branch, key, self._seq, kind, "interrupt", "in_doubt"), cp
            )
            self.last_checkpoint = cp.checkpoint_id
        self.emit(Interrupted(key, kind, roundtrip(payload)))
        raise HumanInputRequired(key, payload)

    # -- arbitration -------------------------------------------------------------------------------------------

    def arbitrate(self, frame: Frame, candidates: Sequence[Candidate], arbiter: Arbiter | None) -> Decision:
        arbiter = arbiter or self.cfg.arbiter
        key, _ = frame.next_key("arbiter")
        cands = tuple(candidates)
        rec = self.records.get(key)
        if rec is not None:
            out = self._replay(frame, rec)
            return _decision_from(out, cands)
        with pausable(sdk.agent("arbiter", id=key[:16], description="arbitration of conflicting outputs")) as span:
            span.set_attribute(sc.STEP_KEY, key)
            span.set_input([{"agent": c.agent, "answer": c.answer, "confidence": c.confidence} for c in cands])
            for c in cands:
                attrs: dict[str, Any] = {
                    sc.GEN_AI_AGENT_NAME: c.agent,
                    sc.CONTENT_HASH: sdk.content_hash(c.answer),
                    "tracehouse.arbiter.valid": c.valid,
                }
                if c.confidence is not None:
                    attrs["tracehouse.arbiter.confidence"] = c.confidence
                span.add_event(sc.EVENT_ARBITER_BALLOT, attrs)
            decision = arbiter.decide(cands)
            span.set_attribute(sc.ARBITER_STRATEGY, decision.strategy)
            if decision.winner is None:
                span.set_attribute(sc.ARBITER_OUTCOME, "escalated")
                answer = self._interrupt(
                    key,
                    "arbitration",
                    {
                        "candidates": [
                            {"agent": c.agent, "answer": c.answer, "confidence": c.confidence} for c in cands
                        ],
                        "tried": list(decision.tried),
                    },
                    span,
                )
                decision = choose_by_human(cands, answer, decision.tried)
            span.set_attributes(
                {sc.ARBITER_OUTCOME: "decided", sc.ARBITER_WINNER: decision.winner.agent if decision.winner else ""}
            )
            winner = cands.index(decision.winner) if decision.winner is not None else -1
            self.commit(
                frame,
                key=key,
                name="arbiter",
                kind="arbiter",
                writes=[],
                span=span,
                usage=Usage(),
                output={
                    "winner": winner,
                    "strategy": decision.strategy,
                    "reason": decision.reason,
                    "tried": list(decision.tried),
                },
                checkpoint=False,
            )
            return decision

    # -- model calls -------------------------------------------------------------------------------------------

    def llm(
        self,
        frame: Frame,
        agent: Agent,
        prompt: str | Sequence[Message],
        *,
        system: str | None,
        max_tokens: int,
        temperature: float | None,
        model: str | None,
        role: str | None,
        tools: Sequence[Tool] = (),
        output_type: type[BaseModel] | None = None,
    ) -> ModelResponse:
        planned = self._plan_llm(frame, agent, prompt, system, model, role, tools, output_type)
        if isinstance(planned, ModelResponse):
            return planned
        key, messages, choice, offer = planned
        response = self._call_model(frame, agent, key, messages, choice, max_tokens, temperature, offer)
        return self._checked(response)

    async def allm(
        self,
        frame: Frame,
        agent: Agent,
        prompt: str | Sequence[Message],
        *,
        system: str | None,
        max_tokens: int,
        temperature: float | None,
        model: str | None,
        role: str | None,
        tools: Sequence[Tool] = (),
        output_type: type[BaseModel] | None = None,
    ) -> ModelResponse:
        """`llm` for async agents, on the provider's async client (a compaction summary still calls it sync)."""
        planned = self._plan_llm(frame, agent, prompt, system, model, role, tools, output_type)
        if isinstance(planned, ModelResponse):
            return planned
        key, messages, choice, offer = planned
        response = await self._acall_model(frame, agent, key, messages, choice, max_tokens, temperature, offer)
        return self._checked(response)

    def _checked(self, response: ModelResponse) -> ModelResponse:
        over = self.ledger.overspend()
        if over is not None:
            raise over
        return response

    def _plan_llm(
        self,
        frame: Frame,
        agent: Agent,
        prompt: str | Sequence[Message],
        system: str | None,
        model: str | None,
        role: str | None,
        tools: Sequence[Tool],
        output_type: type[BaseModel] | None,
    ) -> ModelResponse | tuple[str, list[Message], ModelChoice, ModelOffer]:
        """The journalled response (resume), or what to call: step key, messages, model choice and offer."""
        key, _path = frame.next_key("llm")
        rec = self.records.get(key)
        if rec is not None:
            return ModelResponse.from_dict(self._replay(frame, rec)["response"])
        messages = _messages(prompt, system, frame, agent, self.cfg.schema)
        role_obj = self.cfg.roles.get(role or agent.role or "")
        requested = (
            model
            or (role_obj.ladder[0] if role_obj else None)
            or agent.model
            or self.cfg.default_model
            or self.cfg.provider.default_model
        )
        if requested is None:
            raise GraphConfigError(
                f"agent {agent.name} called ctx.llm without a model: pass model=, set "
                "Agent(model=...), a role, Orchestrator(default_model=...) or the provider's "
                "default_model"
            )
        choice = choose_model(role_obj, requested, self.ledger.fraction())
        if self.cfg.context is not None:
            messages = self._compact(frame, agent, key, messages, choice.chosen)
        offer = ModelOffer(tuple(t.schema for t in tools), None if output_type is None else output_format(output_type))
        return key, messages, choice, offer

    def _compact(self, frame: Frame, agent: Agent, key: str, messages: list[Message], model: str) -> list[Message]:
        policy = self.cfg.context
        assert policy is not None
        span_range = plan_compaction(messages, policy)
        if span_range is None:
            check_fits(messages, policy)
            return messages
        old = messages_to_summarise(messages, span_range)
        skey, _ = frame.next_key("summary")
        rec = self.records.get(skey)
        if rec is not None:
            text = ModelResponse.from_dict(self._replay(frame, rec)["response"]).text
        else:
            prompt = [
                {"role": "system", "content": "Summarise this conversation; keep every fact and decision."},
                {"role": "user", "content": "\n".join(f"{m['role']}: {m['content']}" for m in old)},
            ]
            summary_model = policy.summary_model or model
            text = self._call_model(
                frame,
                agent,
                skey,
                prompt,
                ModelChoice(summary_model, summary_model, 0, False, self.ledger.fraction()),
                max(policy.window // 8, 64),
                0.0,
            ).text
        compacted, record = apply_compaction(messages, policy, span_range, text, sdk.content_hash(old))
        current = otel_trace.get_current_span()
        current.add_event(
            sc.EVENT_COMPACTION,
            {
                sc.COMPACTION_BEFORE_TOKENS: record.before_tokens,
                sc.COMPACTION_AFTER_TOKENS: record.after_tokens,
                "tracehouse.compaction.covers": [record.covers[0], record.covers[1]],
                "tracehouse.compaction.source_hash": record.source_hash,
                "tracehouse.compaction.truncated": record.truncated,
            },
        )
        return compacted

    def _breaker_events(self, span: Any, breaker: CircuitBreaker, seen: int) -> None:
        for t in breaker.transitions[seen:]:
            span.add_event(sc.EVENT_BREAKER_TRANSITION, _transition_attrs(t))

    def _call_model(
        self,
        frame: Frame,
        agent: Agent,
        key: str,
        messages: list[Message],
        choice: ModelChoice,
        max_tokens: int,
        temperature: float | None,
        offer: ModelOffer = NO_OFFER,
    ) -> ModelResponse:
        steps = self._model_steps(frame, agent, key, messages, choice, max_tokens, temperature, offer)
        try:
            step = next(steps)
            while True:
                if isinstance(step, ModelRequest):
                    try:
                        response = self.cfg.provider.complete(step)
                    except BaseException as exc:
                        step = steps.throw(exc)
                        continue
                    step = steps.send(response)
                else:
                    self.cfg.clock.sleep(step)
                    step = steps.send(None)
        except StopIteration as done:
            return done.value

    async def _acall_model(
        self,
        frame: Frame,
        agent: Agent,
        key: str,
        messages: list[Message],
        choice: ModelChoice,
        max_tokens: int,
        temperature: float | None,
        offer: ModelOffer = NO_OFFER,
    ) -> ModelResponse:
        """`_call_model` on the provider's async client: no thread per call, so async branches are not capped."""
        steps = self._model_steps(frame, agent, key, messages, choice, max_tokens, temperature, offer)
        try:
            step = next(steps)
            while True:
                if isinstance(step, ModelRequest):
                    try:
                        response = await self.cfg.provider.acomplete(step)
                    except BaseException as exc:
                        step = steps.throw(exc)
                        continue
                    step = steps.send(response)
                else:
                    await self.cfg.clock.asleep(step)
                    step = steps.send(None)
        except StopIteration as done:
            return done.value

    def _model_steps(
        self,
        frame: Frame,
        agent: Agent,
        key: str,
        messages: list[Message],
        choice: ModelChoice,
        max_tokens: int,
        temperature: float | None,
        offer: ModelOffer,
    ) -> Generator[ModelRequest | float, ModelResponse | None, ModelResponse]:
        """One model call as a plan: it yields the request to send (and gets the response back, or the error thrown
        in) and the seconds to wait before a retry; `_call_model` and `_acall_model` carry it out. One body for the
        budget, breaker, retry, span and journal logic, whichever way the provider is called."""
        provider = self.cfg.provider
        breaker = self.cfg.breakers.get(model_breaker_name(provider.name, choice.chosen))
        policy = self.cfg.retry
        prompt_tokens = self.cfg.tokenizer(messages, offer.tools)
        finalize = frame.finalize or agent.finalize
        attempt = 0
        while True:
            attempt += 1
            self.check_deadline()
            seen = len(breaker.transitions)
            state = breaker.before_call()
            reservation = self.ledger.reserve(choice.chosen, prompt_tokens, max_tokens, finalize=finalize)
            if attempt == 1:
                self.retry_budget.record_first_attempt()
            self._account(frame, Usage(model_calls=1, first_attempts=int(attempt == 1)))
            started = self.cfg.clock.now()
            try:
                with sdk.llm_call(
                    choice.chosen, provider.name, attempt=attempt, max_tokens=max_tokens, temperature=temperature
                ) as span:
                    self._breaker_events(span, breaker, seen)
                    span.set_attributes(
                        {
                            sc.STEP_KEY: key,
                            sc.BREAKER_STATE: state,
                            sc.RETRY_BUDGET_REMAINING: self.retry_budget.remaining(),
                            sc.BUDGET_PROMPT_ESTIMATE: reservation.prompt_tokens,
                        }
                    )
                    if choice.switched:
                        span.set_attributes(
                            {
                                sc.MODEL_TIER_SWITCH: True,
                                sc.MODEL_REQUESTED: choice.requested,
                                sc.BUDGET_FRACTION: choice.fraction,
                            }
                        )
                    span.set_input(messages)
                    request = ModelRequest(
                        choice.chosen,
                        messages,
                        max_tokens,
                        temperature,
                        self._timeout(),
                        agent.name,
                        tools=offer.tools,
                        response_format=offer.response_format,
                    )
                    self.new_calls += 1
                    try:
                        answer = yield request
                        assert answer is not None
                        response = answer
                    except BaseException as exc:
                        self.ledger.release(reservation)
                        seen = len(breaker.transitions)
                        if is_retryable(exc):
                            breaker.on_failure(getattr(exc, "retry_after_s", None))
                        self._breaker_events(span, breaker, seen)
                        raise
                    usage, cost = self._usage_of(span, choice.chosen, response, reservation.prompt_tokens, max_tokens)
                    self.ledger.settle(reservation, usage, response.input_tokens)
                    seen = len(breaker.transitions)
                    breaker.on_success(self.cfg.clock.now() - started)
                    self._breaker_events(span, breaker, seen)
                    span.set_usage(
                        input_tokens=response.input_tokens,
                        output_tokens=response.output_tokens,
                        cache_read_tokens=response.cache_read_tokens,
                    )
                    span.set_response(model=response.model, id=response.id, finish_reasons=[response.finish_reason])
                    if cost is not None:
                        span.set_cost(cost)
                    span.set_output(response.text)
                    self._budget_attrs(span)
                    self._account(frame, usage)
                    self.commit(
                        frame,
                        key=key,
                        name=f"chat {choice.chosen}",
                        kind="llm",
                        writes=[],
                        output={"response": response.as_dict()},
                        attempt=attempt,
                        checkpoint=False,
                        usage=Usage(
                            model_calls=attempt,
                            input_tokens=usage.input_tokens,
                            output_tokens=usage.output_tokens,
                            cost_usd=usage.cost_usd,
                            first_attempts=1,
                            retries=attempt - 1,
                        ),
                    )
                    self.emit(
                        ModelCalled(
                            agent.name,
                            choice.chosen,
                            response.text,
                            tuple(c.name for c in response.tool_calls),
                            usage.input_tokens,
                            usage.output_tokens,
                            cost,
                        )
                    )
                    return response
            except Exception as exc:
                wait = self._retry_wait(exc, attempt, policy, breaker, self.cfg.clock.now() - started)
                self._account(frame, Usage(retries=1))
                yield wait

    def _usage_of(
        self, span: sdk.LLMSpan, model: str, response: ModelResponse, prompt_estimate: int, max_tokens: int
    ) -> tuple[Usage, float | None]:
        """What a call consumed, by the provider's report; without one, the reserved worst case (flagged on the
        span). The cost is None for an unpriced model, which its span says instead of claiming $0."""
        if response.input_tokens is None or response.output_tokens is None:
            span.set_attribute(sc.USAGE_ESTIMATED, True)
        inp = response.input_tokens if response.input_tokens is not None else prompt_estimate
        out = response.output_tokens if response.output_tokens is not None else max_tokens
        cost = self.ledger.prices.cost(model, inp, out, response.cache_read_tokens, fallback_model=response.model)
        if cost is None:
            span.set_attribute(sc.COST_UNPRICED, True)
        return Usage(input_tokens=inp, output_tokens=out, cost_usd=cost or 0.0), cost

    def _timeout(self) -> float | None:
        left = self.remaining()
        return None if left is None else max(left, 0.0)

    def _retry_wait(
        self, exc: Exception, attempt: int, policy: RetryPolicy, breaker: CircuitBreaker, duration: float
    ) -> float:
        """The backoff before the next attempt, or re-raise: not retryable, attempts spent, breaker open, retry
        budget spent, or the retry could not finish before the deadline."""
        if not is_retryable(exc) or attempt >= policy.max_attempts:
            raise exc
        if breaker.state == "open":
            raise CircuitOpen(breaker.name, 0.0) from exc
        left = self.remaining()
        wait = policy.backoff(attempt - 1, self.rng, getattr(exc, "retry_after_s", None))
        if left is not None and wait + duration >= left:
            raise DeadlineExceeded(
                "deadline_s",
                self.ledger.limits.deadline_s or 0.0,
                (self.ledger.limits.deadline_s or 0.0) - left + wait + duration,
                f"no retry: {left:.2f}s left, a retry needs ~{wait + duration:.2f}s",
            ) from exc
        if not self.retry_budget.try_acquire():
            raise RetryBudgetExhausted(
                f"retry budget spent: {self.retry_budget.retries} retries of an allowance of "
                f"{self.retry_budget.allowance():.1f}",
                retries_used=self.retry_budget.retries,
                allowance=self.retry_budget.allowance(),
            ) from exc
        return wait

    # -- tool calls --------------------------------------------------------------------------------------------

    def tool(
        self,
        frame: Frame,
        name: str,
        fn: Callable[..., Any],
        args: dict[str, Any],
        *,
        side_effect: bool,
        idempotent: bool,
        retry: RetryPolicy | None,
        dedup: bool,
        needs_approval: bool = False,
    ) -> Any:
        key, _ = frame.next_key(f"tool:{name}")
        rec = self.records.get(key)
        if rec is not None:
            return self._replay(frame, rec)
        if needs_approval:
            self.approve(frame, name, args)
        agent = frame.agent or ""
        if dedup:
            dkey = task_key(kind="tool_call", agent="*", action=name, inputs=args, scope=self.trace_id)
            first, fut = self.deduper.claim(dkey)
            if not first:
                found = fut.result()
                with sdk.tool(name, call_id=key[:16]) as span:
                    span.set_attributes({sc.STEP_KEY: key, sc.DEDUP_HIT: True})
                    span.set_input(args)
                    if found.span_context is not None:
                        span.span.add_link(found.span_context, {sc.DEDUP_HIT: True})
                    self.commit(
                        frame,
                        key=key,
                        name=name,
                        kind="tool",
                        writes=[],
                        output=found.output,
                        usage=Usage(),
                        checkpoint=False,
                    )
                return found.output
            try:
                out, ctx = self._tool_fresh(frame, key, agent, name, fn, args, side_effect, idempotent, retry)
            except BaseException as exc:
                self.deduper.fail(dkey, exc)
                raise
            self.deduper.complete(dkey, DedupResult(out, [], ctx))
            return out
        return self._tool_fresh(frame, key, agent, name, fn, args, side_effect, idempotent, retry)[0]

    def _tool_fresh(
        self,
        frame: Frame,
        key: str,
        agent: str,
        name: str,
        fn: Callable[..., Any],
        args: dict[str, Any],
        side_effect: bool,
        idempotent: bool,
        retry: RetryPolicy | None,
    ) -> tuple[Any, Any]:
        self.check_deadline()
        self.ledger.count_tool_call()
        self._account(frame, Usage(tool_calls=1))
        effect_key = step_key(self.trace_id, key + "#effect") if side_effect else None
        if effect_key is not None:
            prior = self.cfg.store.effect(effect_key)
            if prior is not None and prior[0] == "done":
                out = roundtrip(prior[1])
                self.commit(
                    frame,
                    key=key,
                    name=name,
                    kind="tool",
                    writes=[],
                    output=out,
                    usage=Usage(tool_calls=1),
                    checkpoint=False,
                )
                return out, None
            if prior is not None and not idempotent:
                settled = self._settle_in_doubt(frame, key, name, effect_key)
                if settled is not None:
                    return settled, None
        policy = retry or (self.cfg.retry if (idempotent or not side_effect) else NO_RETRY)
        breaker = self.cfg.breakers.get(tool_breaker_name(name))
        attempt = 0
        while True:
            attempt += 1
            seen = len(breaker.transitions)
            state = breaker.before_call()
            if attempt == 1:
                self.retry_budget.record_first_attempt()
            started = self.cfg.clock.now()
            try:
                with sdk.tool(name, call_id=key[:16], attempt=attempt) as span:
                    self._breaker_events(span, breaker, seen)
                    span.set_attributes({sc.STEP_KEY: key, sc.BREAKER_STATE: state})
                    span.set_input(args)
                    if effect_key is not None:
                        span.set_attribute(sc.EFFECT_KEY, effect_key)
                        self.cfg.store.record_intent(self.trace_id, effect_key, key)
                    try:
                        result = self._call_tool(fn, args, effect_key)
                    except Exception as exc:
                        seen = len(breaker.transitions)
                        if is_retryable(exc):
                            breaker.on_failure(getattr(exc, "retry_after_s", None))
                        self._breaker_events(span, breaker, seen)
                        self._loop_action(span, agent, name, args, error=type(exc).__name__)
                        raise
                    if effect_key is not None:
                        self.cfg.store.record_effect_result(effect_key, roundtrip(result))
                    breaker.on_success(self.cfg.clock.now() - started)
                    out = roundtrip(result)
                    span.set_output(out)
                    self.commit(
                        frame,
                        key=key,
                        name=name,
                        kind="tool",
                        writes=[],
                        output=out,
                        checkpoint=False,
                        attempt=attempt,
                        usage=Usage(tool_calls=1, first_attempts=1, retries=attempt - 1),
                    )
                    self._loop_action(span, agent, name, args, observation=out)
                    self.emit(ToolCalled(agent, name, args, out))
                    return out, span.span.get_span_context()
            except LoopDetected:
                raise
            except Exception as exc:
                wait = self._retry_wait(exc, attempt, policy, breaker, self.cfg.clock.now() - started)
                self._account(frame, Usage(retries=1))
                self.cfg.clock.sleep(wait)

    def _loop_action(
        self, span: Any, agent: str, tool: str, args: Any, observation: Any = None, error: str | None = None
    ) -> None:
        try:
            self.loops.action(agent, tool, args, observation, error)
        except LoopDetected as exc:
            _mark_loop(span, exc.pattern, exc.detail)
            raise

    def _call_tool(self, fn: Callable[..., Any], args: dict[str, Any], effect_key: str | None) -> Any:
        kwargs = dict(args)
        if effect_key is not None:
            kwargs["effect_key"] = effect_key
        result = fn(**kwargs)
        if inspect.isawaitable(result):
            if self._loop is None:
                raise OrchestratorError("an async tool needs the workflow to run with arun()")
            return asyncio.run_coroutine_threadsafe(_await(result), self._loop).result()
        return result

    def _in_doubt(self, frame: Frame, key: str, name: str, effect_key: str) -> NoReturn:
        with pausable(sdk.tool(name, call_id=key[:16])) as span:
            span.set_attributes({sc.STEP_KEY: key, sc.EFFECT_KEY: effect_key})
            span.add_event(
                sc.EVENT_ESCALATION, {sc.EFFECT_KEY: effect_key, "tracehouse.escalation.kind": "effect_in_doubt"}
            )
            self.cfg.store.put_interrupt(
                Interrupt(
                    self.trace_id, key, "effect_in_doubt", {"tool": name, "effect_key": effect_key}, None, "pending"
                )
            )
            self.commit(
                frame,
                key=key,
                name=name,
                kind="tool",
                writes=[],
                output=None,
                usage=Usage(),
                checkpoint=False,
                status="in_doubt",
                error="EffectInDoubt",
            )
            raise EffectInDoubt(effect_key, name, key)


@contextmanager
def pausable(cm: AbstractContextManager[S]) -> Iterator[S]:
    """A step span that ends cleanly when the run pauses for a person: a pause is the `interrupted` state, not an
    error, so it must not become an ERROR span (error-rate alerts and loop detection would count it)."""
    handle = cm.__enter__()
    try:
        yield handle
    except HumanInputRequired as exc:
        span = getattr(handle, "span", None)
        if span is not None:
            span.set_attribute(sc.INTERRUPT_ID, exc.interrupt_id)
            span.add_event(sc.EVENT_INTERRUPTED, {sc.INTERRUPT_ID: exc.interrupt_id})
        cm.__exit__(None, None, None)
        raise
    except BaseException as exc:
        if not cm.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        cm.__exit__(None, None, None)


def approval_of(answer: Any) -> tuple[bool, str | None] | None:
    """(approved, reason) from a person's answer: true/false, approve/deny (yes/no), or {"approved", "reason"}."""
    if isinstance(answer, bool):
        return answer, None
    if isinstance(answer, str) and answer.strip().lower() in APPROVE_WORDS | DENY_WORDS:
        return answer.strip().lower() in APPROVE_WORDS, None
    if isinstance(answer, Mapping) and isinstance(answer.get("approved"), bool):
        reason = answer.get("reason")
        return answer["approved"], None if reason is None else str(reason)
    return None


def in_doubt_verdict(answer: Any) -> tuple[bool, Any] | None:
    """(happened, result) from a person's answer about an in-doubt effect: "happened", "rerun" or
    {"happened": bool, "result": ...}."""
    if isinstance(answer, str) and answer.strip().lower() in ("happened", "rerun"):
        return answer.strip().lower() == "happened", None
    if isinstance(answer, Mapping) and isinstance(answer.get("happened"), bool):
        return answer["happened"], answer.get("result")
    return None


APPROVE_WORDS = frozenset({"approve", "approved", "yes", "y"})
DENY_WORDS = frozenset({"deny", "denied", "no", "n"})


def _off_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True


async def _await(aw: Awaitable[T]) -> T:
    return await aw


def _as_result(agent: Agent, raw: Any) -> Result:
    if raw is None:
        return Result()
    if isinstance(raw, Result):
        return raw
    if isinstance(raw, Handoff):
        return Result(handoff=raw)
    if isinstance(raw, Mapping):
        return Result(writes=dict(raw), output=dict(raw))
    raise OrchestratorError(
        f"agent {agent.name} returned {type(raw).__name__}: return a dict of writes, a Result or a Handoff"
    )


def _messages(
    prompt: str | Sequence[Message], system: str | None, frame: Frame, agent: Agent, schema: StateSchema
) -> list[Message]:
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": system})
    pinned = {k: frame.scope.state[k] for k in schema.pinned() if k in frame.scope.state}
    if pinned:
        out.append(
            {"role": "system", "content": "Pinned state: " + sdk.canonical_json(pinned).decode(), "pinned": True}
        )
    if isinstance(prompt, str):
        out.append({"role": "user", "content": prompt})
    else:
        out.extend(dict(m) for m in prompt)
    return out


def _decision_from(out: Mapping[str, Any], cands: tuple[Candidate, ...]) -> Decision:
    idx = out["winner"]
    winner = cands[idx] if 0 <= idx < len(cands) else None
    return Decision(winner, out["strategy"], out["reason"], cands, tuple(out["tried"]))


def _transition_attrs(t: Transition) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.BREAKER_NAME: t.breaker,
        sc.BREAKER_FROM_STATE: t.from_state,
        sc.BREAKER_STATE: t.to_state,
        "tracehouse.breaker.reason": t.reason,
    }
    if t.open_for_s is not None:
        attrs["tracehouse.breaker.open_for_s"] = t.open_for_s
    return attrs


def _mark_loop(span: Any, pattern: str, detail: str) -> None:
    span.set_attributes({sc.LOOP_DETECTED: True, sc.LOOP_PATTERN: pattern})
    span.add_event(sc.EVENT_LOOP_DETECTED, {sc.LOOP_PATTERN: pattern, "tracehouse.loop.detail": detail})


def _mark_violation(span: Any, exc: ContractViolation) -> None:
    span.set_attributes({sc.CONTRACT_VIOLATION: exc.what, sc.CONTRACT_EDGE: exc.edge})
    span.add_event(
        sc.EVENT_CONTRACT_VIOLATION,
        {sc.CONTRACT_VIOLATION: exc.what, sc.CONTRACT_EDGE: exc.edge, "tracehouse.contract.detail": exc.detail},
    )


def terminal_attrs(exc: BaseException) -> dict[str, Any]:
    """Attributes of the run's terminal event: what ended it and, for a limit, which one and where."""
    attrs: dict[str, Any] = {sc.ERROR_TYPE: type(exc).__name__, "tracehouse.run.message": str(exc)[:500]}
    if isinstance(exc, LimitExceeded):
        attrs.update({sc.BUDGET_LIMIT_KIND: exc.kind, sc.BUDGET_LIMIT: exc.limit, sc.BUDGET_OBSERVED: exc.observed})
    if isinstance(exc, LoopDetected):
        attrs.update({sc.LOOP_DETECTED: True, sc.LOOP_PATTERN: exc.pattern})
    return attrs


@overload
def run_id(key: str) -> str: ...


@overload
def run_id(key: None) -> None: ...


def run_id(key: str | None) -> str | None:
    """The run's id, which is also its OpenTelemetry trace id: a 32-hex key as given, any other key (an order
    number, a ticket id) hashed to 32 hex, so the dashboard's trace link and the store agree on one id."""
    if key is None or (len(key) == 32 and all(c in "0123456789abcdef" for c in key)):
        return key
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def origin_parent(trace_id: str) -> Any:
    """A remote parent that puts a new run's root span in the trace `trace_id` (OpenTelemetry picks trace ids
    itself for true roots; a caller-chosen id needs a parent context that carries it)."""
    span_id = int(hashlib.sha256(f"{trace_id}:origin".encode()).hexdigest()[:16], 16) or 1
    ctx = otel_trace.SpanContext(
        int(trace_id, 16), span_id, is_remote=True, trace_flags=otel_trace.TraceFlags(otel_trace.TraceFlags.SAMPLED)
    )
    return otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(ctx))


def flush_spans() -> None:
    """Export the spans finished so far (called at each checkpoint), so a process killed later does not take the
    trace of its finished steps with it; bounded, so an unreachable collector cannot stall the run."""
    flush = getattr(otel_trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush(FLUSH_TIMEOUT_MS)


FLUSH_TIMEOUT_MS = 2000


def resume_links(trace_id: str, root_span_id: str | None) -> tuple[Any, list[Link]]:
    """Parent context and links that put a resumed segment's spans in the original trace, under its root."""
    if root_span_id is None or len(trace_id) != 32:
        return None, []
    try:
        ctx = otel_trace.SpanContext(
            int(trace_id, 16),
            int(root_span_id, 16),
            is_remote=True,
            trace_flags=otel_trace.TraceFlags(otel_trace.TraceFlags.SAMPLED),
        )
    except ValueError:
        return None, []
    parent = otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(ctx))
    return parent, [Link(ctx)]
