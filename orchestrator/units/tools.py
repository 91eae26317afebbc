"""Tool calls: dedup, the effect journal (intent before, result after; an in-doubt effect is settled by a person),
the breaker, retries under the run's retry budget, the loop guard, and one span per attempt.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from .._support import roundtrip, step_key
from ..breaker import tool_breaker_name
from ..budget import Usage
from ..dedup import DedupResult, task_key
from ..errors import EffectInDoubt, LoopDetected, OrchestratorError, is_retryable
from ..events import ToolCalled
from ..journal import Frame
from ..retry import NO_RETRY, RetryPolicy
from ..state import Interrupt
from ..tracing import interrupt_attrs, mark_loop, pausable
from .interrupts import InterruptUnit, in_doubt_verdict

T = TypeVar("T")


class ToolUnit(InterruptUnit):
    """Every tool call, whether code or the model chose it."""

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
        polling: bool = False,
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
                out, ctx = self._tool_fresh(frame, key, agent, name, fn, args, side_effect, idempotent, retry, polling)
            except BaseException as exc:
                self.deduper.fail(dkey, exc)
                raise
            self.deduper.complete(dkey, DedupResult(out, [], ctx))
            return out
        return self._tool_fresh(frame, key, agent, name, fn, args, side_effect, idempotent, retry, polling)[0]

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
        polling: bool = False,
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
                    self._loop_action(span, agent, name, args, observation=out, polling=polling)
                    self.emit(ToolCalled(agent, name, args, out))
                    return out, span.span.get_span_context()
            except LoopDetected:
                raise
            except Exception as exc:
                wait = self._retry_wait(exc, attempt, policy, breaker, self.cfg.clock.now() - started)
                self._account(frame, Usage(retries=1))
                self.cfg.clock.sleep(wait)

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

    def _loop_action(
        self,
        span: Any,
        agent: str,
        tool: str,
        args: Any,
        observation: Any = None,
        error: str | None = None,
        polling: bool = False,
    ) -> None:
        try:
            self.loops.action(agent, tool, args, observation, error, polling)
        except LoopDetected as exc:
            mark_loop(span, exc.pattern, exc.detail)
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
        payload = {"tool": name, "effect_key": effect_key}
        with pausable(sdk.tool(name, call_id=key[:16])) as span:
            span.set_attributes({sc.STEP_KEY: key, sc.EFFECT_KEY: effect_key})
            span.set_attributes(interrupt_attrs(key, "effect_in_doubt", payload))
            span.add_event(
                sc.EVENT_ESCALATION, {sc.EFFECT_KEY: effect_key, "tracehouse.escalation.kind": "effect_in_doubt"}
            )
            self.cfg.store.put_interrupt(Interrupt(self.trace_id, key, "effect_in_doubt", payload, None, "pending"))
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


async def _await(aw: Awaitable[T]) -> T:
    return await aw
