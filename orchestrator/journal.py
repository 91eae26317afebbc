"""The journal every unit of a run shares: the run's configuration, the frame a unit executes in, and `RunCore` —
step keys, replay of recorded steps on resume, the atomic commit of a step's row, writes and checkpoint, the
deadline, the retry decision, events, and how a run ends (`RunResult`).
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from ._support import Scope, roundtrip, step_key
from .arbitration import Arbiter
from .breaker import BreakerRegistry, CircuitBreaker
from .budget import Ledger, Limits, Role, Usage
from .clock import Clock
from .contracts import HandoffContract
from .dedup import Deduper
from .errors import CircuitOpen, DeadlineExceeded, RetryBudgetExhausted, is_retryable
from .events import Sink, StepEvent
from .loops import LoopGuard, LoopPolicy
from .nodes import Node
from .providers.base import Provider
from .retry import RetryBudget, RetryBudgetConfig, RetryPolicy
from .state import Checkpoint, StateSchema, StateStore, StepRecord, StepStatus, Write
from .summarise import ContextPolicy
from .tokens import Tokenizer
from .tracing import transition_attrs

if TYPE_CHECKING:
    from .runtime import Run

T = TypeVar("T")


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


class RunCore:
    """State and bookkeeping of one execution of a workflow (a fresh run, a resume or a fork); the step units
    (`units/`) build on it and `runtime.Run` combines them."""

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
        self.flushing = cfg.flush_spans  # off for the rest of the run once a flush times out
        # per conversation (frame path): messages covered, their hash, and what they were compacted to
        self.compactions: dict[str, tuple[int, str, list[dict[str, Any]]]] = {}
        # per conversation (frame path), with a context policy: the last prompt sent (length, hash) and the
        # provider's count of its tokens, which the next prompt's window check starts from
        self.prompt_reports: dict[str, tuple[int, str, int]] = {}

    def emit(self, event: StepEvent) -> None:
        if self.sink is not None:
            self.sink(event)

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
        writes = [(k, v) for k, v in roundtrip([list(w) for w in writes])] if writes else []
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

    def _breaker_events(self, span: Any, breaker: CircuitBreaker, seen: int) -> None:
        for t in breaker.transitions[seen:]:
            span.add_event(sc.EVENT_BREAKER_TRANSITION, transition_attrs(t))

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
