"""Agent steps: the step cap, the finalize gate, dedup of identical tasks, the agent's function with retries, its
declared writes committed with a checkpoint, and the hand-off it returns.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from .._support import StateView, roundtrip
from ..budget import FINALIZE_ONLY_AT, Usage
from ..context import AgentContext
from ..dedup import DedupResult, task_key
from ..errors import (
    BudgetExceeded,
    DeadlineExceeded,
    OrchestratorError,
    RetryBudgetExhausted,
    UndeclaredWrite,
    is_retryable,
)
from ..events import AgentFinished, AgentStarted
from ..journal import Frame
from ..nodes import Agent, Handoff, Result
from ..retry import NO_RETRY
from ..state import StepRecord, Write
from ..tracing import flush_spans, pausable
from .handoffs import HandoffUnit


class AgentUnit(HandoffUnit):
    """Every agent step of a run."""

    def _agent_prelude(self, frame: Frame, agent: Agent) -> tuple[str, str, StepRecord | None]:
        key, path = frame.next_key(agent.name)
        rec = self.records.get(key)
        self.ledger.count_step()
        self._account(frame, Usage(steps=1))
        if rec is None:
            if self.flushing:
                self.flushing = flush_spans()  # the steps finished so far reach the collector before this one runs
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

    def _agent_span(self, agent: Agent, key: str, attempt: int, multi: bool) -> AbstractContextManager[sdk.StepSpan]:
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
        result = as_result(agent, raw)
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


def as_result(agent: Agent, raw: Any) -> Result:
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
