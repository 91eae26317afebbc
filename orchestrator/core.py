"""`Orchestrator`: build a workflow once (validated, fingerprinted), then run, resume, fork and inspect its runs."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from tracehouse import sdk
from tracehouse.sdk import semconv as sc
from tracehouse.sdk.pricing import ModelPrice, PriceTable, default_prices

from .arbitration import Arbiter
from .breaker import BreakerRegistry, process_breakers
from .budget import Ledger, Limits, Role, Usage
from .clock import Clock, RealClock
from .contracts import HandoffContract
from .errors import GraphFingerprintMismatch, HumanInputRequired, OrchestratorError, is_budget_stop
from .events import RunFinished, Sink, StepEvent
from .graph import Graph, build_graph
from .loops import LoopPolicy
from .nodes import Node
from .providers.base import Provider
from .providers.openai_compat import OpenAICompatibleProvider
from .remote import pull_answers
from .retry import RetryBudgetConfig, RetryPolicy
from .runtime import (
    Frame,
    Run,
    RunConfig,
    RunResult,
    flush_spans,
    origin_parent,
    resume_links,
    run_id,
    terminal_attrs,
)
from .state import (
    BranchRecord,
    Checkpoint,
    Interrupt,
    RunRecord,
    SQLiteStateStore,
    StateSchema,
    StateStore,
    answer_interrupt,
)
from .summarise import ContextPolicy
from .tokens import Tokenizer, conservative_tokens
from .tracing import CRASH_RESTORED, restore_crashed_root

STREAM_SINK: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("tracehouse_stream_sink", default=None)


class Orchestrator:
    """A validated workflow plus everything its runs share (store, provider, policies).

    >>> orch = Orchestrator("demo.chain", Sequential("chain", [a, b]), provider=FakeProvider())
    >>> result = orch.run({"topic": "tides"})

    Without `provider=`, the provider comes from the environment (`OpenAICompatibleProvider.from_env`) or the
    constructor fails with one line saying what to set: a workflow never silently runs on a stand-in model.
    """

    def __init__(
        self,
        name: str,
        flow: Node,
        *,
        store: StateStore | None = None,
        provider: Provider | None = None,
        schema: StateSchema | None = None,
        limits: Limits | None = None,
        roles: Sequence[Role] = (),
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudgetConfig | None = None,
        breakers: BreakerRegistry | None = None,
        loop_policy: LoopPolicy | None = None,
        contracts: Sequence[HandoffContract] = (),
        context: ContextPolicy | None = None,
        clock: Clock | None = None,
        prices: PriceTable | None = None,
        default_model: str | None = None,
        arbiter: Arbiter | None = None,
        tokenizer: Tokenizer | None = None,
        model_prices: Mapping[str, tuple[float, float]] | None = None,
        allow_unpriced: Sequence[str] = (),
        flush_spans: bool = True,
    ) -> None:
        """`tokenizer` counts prompt tokens for reservations (default: a conservative byte count, see `tokens.py`);
        `model_prices` adds USD-per-million (input, output) prices to the table; `allow_unpriced` names models that
        may run under a cost cap without a price (their calls are marked unpriced, never costed at $0).
        `flush_spans` exports finished spans before each step and at the end of a run, so a process that dies
        mid-run has already exported the trace of every step it finished."""
        self.name = name
        self.flow = flow
        self.limits = limits or Limits()
        self.schema = schema or StateSchema()
        role_map = {r.name: r for r in roles}
        self.graph: Graph = build_graph(
            flow, limits=self.limits, contracts=contracts, schema=self.schema, roles=role_map
        )
        self.store = store or SQLiteStateStore()
        self.clock = clock or RealClock()
        prices = with_prices(prices or default_prices(), model_prices or {})
        unpriced = frozenset(allow_unpriced)
        has_finalize = any(a.finalize for a in self.graph.agents.values())
        self.config = RunConfig(
            workflow=name,
            schema=self.schema,
            store=self.store,
            provider=provider or OpenAICompatibleProvider.from_env(),
            limits=self.limits,
            roles=role_map,
            retry=retry or RetryPolicy(),
            retry_budget=retry_budget or RetryBudgetConfig(),
            breakers=breakers or process_breakers(),
            loop_policy=loop_policy or LoopPolicy(),
            contracts=tuple(contracts),
            context=context,
            clock=self.clock,
            default_model=default_model,
            nodes=self.graph.nodes,
            arbiter=arbiter or Arbiter(),
            ledger_factory=lambda lim: Ledger(lim, prices, unpriced, has_finalize),
            tokenizer=tokenizer or conservative_tokens,
            flush_spans=flush_spans,
        )

    @property
    def fingerprint(self) -> str:
        return self.graph.fingerprint

    # -- public verbs ------------------------------------------------------------------------------------------

    def run(
        self, inputs: Mapping[str, Any] | None = None, *, trace_id: str | None = None, limits: Limits | None = None
    ) -> RunResult:
        """Start a run, or — given the trace id of an existing run — resume it from its last successful step.
        `trace_id` may be any key of yours ("order-42"): the run's id is then derived from it (`run_id`)."""
        trace_id = run_id(trace_id)
        if trace_id is not None and self.store.get_run(trace_id) is not None:
            return self.resume(trace_id, limits=limits)
        return self._execute(None, inputs, trace_id, "main", limits, None)

    async def arun(
        self, inputs: Mapping[str, Any] | None = None, *, trace_id: str | None = None, limits: Limits | None = None
    ) -> RunResult:
        trace_id = run_id(trace_id)
        if trace_id is not None and self.store.get_run(trace_id) is not None:
            return await self.aresume(trace_id, limits=limits)
        return await self._aexecute(None, inputs, trace_id, "main", limits, None)

    def run_streamed(
        self, inputs: Mapping[str, Any] | None = None, *, trace_id: str | None = None, limits: Limits | None = None
    ) -> Iterator[StepEvent]:
        """`run()` yielding typed step events as they happen, ending with `RunFinished(result)`. The run executes
        on a worker thread; it continues to its end even if the caller stops iterating."""
        events: queue.Queue[StepEvent | BaseException] = queue.Queue()

        def work() -> None:
            STREAM_SINK.set(events.put)
            try:
                events.put(RunFinished(self.run(inputs, trace_id=trace_id, limits=limits)))
            except BaseException as exc:  # re-raised in the caller's thread
                events.put(exc)

        worker = threading.Thread(
            target=contextvars.copy_context().run, args=(work,), name="tracehouse-stream", daemon=True
        )
        worker.start()
        while True:
            item = events.get()
            if isinstance(item, BaseException):
                worker.join()
                raise item
            yield item
            if isinstance(item, RunFinished):
                worker.join()
                return

    async def astream(
        self, inputs: Mapping[str, Any] | None = None, *, trace_id: str | None = None, limits: Limits | None = None
    ) -> AsyncIterator[StepEvent]:
        """`arun()` yielding typed step events as they happen, ending with `RunFinished(result)`."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[StepEvent | BaseException] = asyncio.Queue()

        async def work() -> None:
            def sink(event: StepEvent) -> None:  # called from the loop and from worker threads alike
                loop.call_soon_threadsafe(events.put_nowait, event)

            STREAM_SINK.set(sink)
            try:
                result = await self.arun(inputs, trace_id=trace_id, limits=limits)
            except Exception as exc:
                events.put_nowait(exc)
                return
            loop.call_soon_threadsafe(events.put_nowait, RunFinished(result))  # after the events queued before it

        task = asyncio.create_task(work())
        while True:
            item = await events.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, RunFinished):
                await task
                return

    def resume(
        self,
        trace_id: str,
        *,
        branch: str = "main",
        answers: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        server: str | None = None,
        api_key: str | None = None,
    ) -> RunResult:
        """Continue a run from its frontier: finished steps are not re-run (their recorded results are reused).
        `server` (a tracehouse server's URL, with the project's `api_key` or $TRACEHOUSE_API_KEY): first take the
        answers people gave to this run's interrupts in its dashboard."""
        trace_id = run_id(trace_id)
        record = self._prepare_resume(trace_id, answers, server, api_key)
        return self._execute(record, None, trace_id, branch, limits, self._fork_of(trace_id, branch))

    async def aresume(
        self,
        trace_id: str,
        *,
        branch: str = "main",
        answers: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        server: str | None = None,
        api_key: str | None = None,
    ) -> RunResult:
        trace_id = run_id(trace_id)
        record = self._prepare_resume(trace_id, answers, server, api_key)
        return await self._aexecute(record, None, trace_id, branch, limits, self._fork_of(trace_id, branch))

    def fork(
        self, trace_id: str, checkpoint_id: str, *, edits: Mapping[str, Any] | None = None, branch: str | None = None
    ) -> str:
        """A new branch whose history is the run's up to `checkpoint_id` (plus `edits`); history is never mutated.
        Run it with `resume(trace_id, branch=...)`."""
        trace_id = run_id(trace_id)
        self._prepare_resume(trace_id, None)
        cp = self.store.checkpoint(checkpoint_id)
        if cp is None or cp.trace_id != trace_id:
            raise OrchestratorError(f"run {trace_id} has no checkpoint {checkpoint_id}")
        if not cp.meta.get("top"):
            raise OrchestratorError(
                f"checkpoint {checkpoint_id} is inside a step (a staged write); fork from a top-level checkpoint"
            )
        name = branch or f"fork-{uuid.uuid4().hex[:8]}"
        state = {**cp.state, **dict(edits or {})}
        fork_cp = Checkpoint(
            f"{trace_id[:16]}-{name}-{cp.seq:06d}",
            trace_id,
            name,
            cp.seq,
            cp.checkpoint_id,
            cp.step_key,
            state,
            {"top": True, "kind": "fork", "edits": sorted(edits or {})},
        )
        self.store.create_branch(BranchRecord(trace_id, name, cp.branch, cp.seq, dict(edits or {})), fork_cp)
        return name

    def history(self, trace_id: str, branch: str = "main") -> list[Checkpoint]:
        return self.store.history(run_id(trace_id), branch)

    def pending_interrupts(self, trace_id: str) -> list[Interrupt]:
        return self.store.pending_interrupts(run_id(trace_id))

    def answer(self, trace_id: str, interrupt_id: str, answer: Any) -> None:
        """Record a person's answer (the run continues on `resume`); `interrupt_id` may be a unique prefix."""
        answer_interrupt(self.store, run_id(trace_id), interrupt_id, answer)

    # -- internals ---------------------------------------------------------------------------------------------

    def _prepare_resume(
        self,
        trace_id: str,
        answers: Mapping[str, Any] | None,
        server: str | None = None,
        api_key: str | None = None,
    ) -> RunRecord:
        record = self.store.get_run(trace_id)
        if record is None:
            raise OrchestratorError(f"no run {trace_id} in the store")
        if record.fingerprint != self.fingerprint:
            raise GraphFingerprintMismatch(trace_id, record.fingerprint, self.fingerprint)
        for interrupt_id, answer in (answers or {}).items():
            answer_interrupt(self.store, trace_id, interrupt_id, answer)
        if server is not None:
            pull_answers(self.store, trace_id, server, api_key)
        return record

    def _fork_of(self, trace_id: str, branch: str) -> tuple[str, int, dict[str, Any]] | None:
        info = self.store.get_branch(trace_id, branch)
        if info is None or info.parent_branch is None:
            return None
        return info.parent_branch, info.fork_seq, info.edits

    def _start(
        self,
        record: RunRecord | None,
        inputs: Mapping[str, Any] | None,
        trace_id: str | None,
        branch: str,
        limits: Limits | None,
        fork: tuple[str, int, dict[str, Any]] | None,
    ) -> tuple[Any, Run]:
        parent: Any = None
        links: list[Any] = []
        if record is not None:
            parent, links = resume_links(record.trace_id, record.root_span_id)
        elif trace_id is not None:
            parent = origin_parent(trace_id)  # the OpenTelemetry trace id is the run's id, chosen by the caller
        span_cm = sdk.workflow(self.name, parent=parent) if parent is not None else sdk.workflow(self.name)
        span = span_cm.__enter__()
        ctx = span.span.get_span_context()
        if record is None:
            tid = trace_id or (format(ctx.trace_id, "032x") if ctx.is_valid else uuid.uuid4().hex)
            initial = self.schema.initial(inputs)
            self.store.create_run(
                RunRecord(
                    tid,
                    self.name,
                    self.fingerprint,
                    "running",
                    dict(initial),
                    format(ctx.span_id, "016x") if ctx.is_valid else None,
                    None,
                )
            )
        else:
            tid, initial = record.trace_id, record.initial_state
            if record.status == "running" and record.error != CRASH_RESTORED:  # its process died mid-run
                restore_crashed_root(record, self.name)
            for link in links:
                span.span.add_link(link.context, {"tracehouse.link": "resumed_from"})
            history = self.store.history(tid, branch)
            if history:
                span.set_attribute(sc.RESUMED_FROM, history[-1].checkpoint_id)
            self.store.set_run_status(tid, "running", CRASH_RESTORED if record.status == "running" else None)
        span.set_attribute(sc.GEN_AI_CONVERSATION_ID, tid)
        run = Run(self.config, tid, branch, dict(initial), limits or self.limits, fork)
        run.sink = STREAM_SINK.get()
        return (span_cm, span), run

    def _finish(self, handles: Any, run: Run, output: Any, error: BaseException | None) -> RunResult:
        span_cm, span = handles
        if error is None:
            error = run.ledger.overspend()  # an agent that swallowed the stop still does not end `succeeded`
        status = run_status(error)
        span.set_attributes(
            {
                sc.RUN_STATUS: status,
                sc.BUDGET_SPENT_USD: run.ledger.spent_usd,
                sc.BUDGET_FRACTION: run.ledger.fraction(),
            }
        )
        if run.last_checkpoint:
            span.set_attribute(sc.CHECKPOINT_ID, run.last_checkpoint)
        if error is not None:
            span.add_event(sc.EVENT_RUN_TERMINATED, terminal_attrs(error))
        self.store.set_run_status(run.trace_id, status, None if error is None else f"{type(error).__name__}: {error}")
        if error is not None and status != "interrupted":
            span_cm.__exit__(type(error), error, error.__traceback__)
        else:
            span_cm.__exit__(None, None, None)
        run.close()
        if run.flushing:
            flush_spans()
        snap = run.ledger.snapshot()
        usage = Usage(
            snap.spent_usd,
            run.ledger.settled.input_tokens,
            run.ledger.settled.output_tokens,
            snap.model_calls,
            snap.tool_calls,
            snap.steps,
            snap.hops,
            run.retry_budget.first_attempts,
            run.retry_budget.retries,
        )
        return RunResult(
            run.trace_id,
            run.branch,
            status,
            dict(run.top.state),
            output,
            error,
            run.last_checkpoint,
            snap.spent_usd,
            usage,
        )

    def _abort(self, handles: Any, run: Run, exc: BaseException) -> None:
        """The run was stopped from outside (KeyboardInterrupt, SystemExit, cancellation): its span ends here, so
        the store says "aborted" rather than "running" (a resume then knows no crashed root span needs restoring)."""
        handles[0].__exit__(type(exc), exc, exc.__traceback__)
        run.close()
        with contextlib.suppress(Exception):  # the store may be what failed; the run stays resumable either way
            self.store.set_run_status(run.trace_id, "aborted", type(exc).__name__)

    def _execute(
        self,
        record: RunRecord | None,
        inputs: Mapping[str, Any] | None,
        trace_id: str | None,
        branch: str,
        limits: Limits | None,
        fork: tuple[str, int, dict[str, Any]] | None,
    ) -> RunResult:
        handles, run = self._start(record, inputs, trace_id, branch, limits, fork)
        try:
            output = self.flow.execute(Frame(run, "root", run.top, input=dict(run.top.state)))
        except Exception as exc:
            return self._finish(handles, run, None, exc)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: end the span, leave the run resumable
            self._abort(handles, run, exc)
            raise
        return self._finish(handles, run, output, None)

    async def _aexecute(
        self,
        record: RunRecord | None,
        inputs: Mapping[str, Any] | None,
        trace_id: str | None,
        branch: str,
        limits: Limits | None,
        fork: tuple[str, int, dict[str, Any]] | None,
    ) -> RunResult:
        handles, run = self._start(record, inputs, trace_id, branch, limits, fork)
        run._loop = asyncio.get_running_loop()
        try:
            output = await self.flow.aexecute(Frame(run, "root", run.top, input=dict(run.top.state)))
        except Exception as exc:
            return self._finish(handles, run, None, exc)
        except BaseException as exc:
            self._abort(handles, run, exc)
            raise
        return self._finish(handles, run, output, None)


def run_status(error: BaseException | None) -> str:
    """succeeded, interrupted (waiting for a person), budget_exceeded (a spend or count cap stopped it) or failed."""
    if error is None:
        return "succeeded"
    if isinstance(error, HumanInputRequired):
        return "interrupted"
    return "budget_exceeded" if is_budget_stop(error) else "failed"


def with_prices(table: PriceTable, extra: Mapping[str, tuple[float, float]]) -> PriceTable:
    """`table` plus user-given (input, output) USD-per-million prices, which win over shipped ones."""
    if not extra:
        return table
    added = {
        m.lower(): ModelPrice(m, float(i), float(o), source="Orchestrator(model_prices=...)")
        for m, (i, o) in extra.items()
    }
    return PriceTable({**table.prices, **added})
