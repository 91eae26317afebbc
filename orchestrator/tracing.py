"""How a run appears in OpenTelemetry: its trace id, where resumed segments attach, when spans are flushed, and the
attributes of loops, contract violations, breaker transitions, pauses and the run's end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar, overload

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import Span as SDKSpan
from opentelemetry.trace import Link, Status, StatusCode

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from .breaker import Transition
from .errors import ContractViolation, HumanInputRequired, LimitExceeded, LoopDetected
from .state import RunRecord

S = TypeVar("S")


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


def interrupt_attrs(interrupt_id: str, kind: str, payload: Any, status: str = "pending") -> dict[str, Any]:
    """What a paused step's span says about its interrupt, so a dashboard reading the trace can list and answer it:
    id, kind, status, the schema an answer must fit (declared by code, bounded), and the question (content: only
    when capture is on, redacted and truncated by the SDK's content policy)."""
    attrs: dict[str, Any] = {sc.INTERRUPT_ID: interrupt_id, sc.INTERRUPT_KIND: kind, sc.INTERRUPT_STATUS: status}
    schema = payload.get("schema") if isinstance(payload, dict) else None
    if schema is not None:
        attrs[sc.INTERRUPT_SCHEMA] = json.dumps(schema, sort_keys=True)[:MAX_SCHEMA_CHARS]
    if status == "pending":
        asked = payload.get("question") if isinstance(payload, dict) and "question" in payload else payload
        question = sdk.captured(asked)
        if question is not None:
            attrs[sc.INTERRUPT_QUESTION] = question
    return attrs


MAX_SCHEMA_CHARS = 8000


def transition_attrs(t: Transition) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.BREAKER_NAME: t.breaker,
        sc.BREAKER_FROM_STATE: t.from_state,
        sc.BREAKER_STATE: t.to_state,
        "tracehouse.breaker.reason": t.reason,
    }
    if t.open_for_s is not None:
        attrs["tracehouse.breaker.open_for_s"] = t.open_for_s
    return attrs


def mark_loop(span: Any, pattern: str, detail: str) -> None:
    span.set_attributes({sc.LOOP_DETECTED: True, sc.LOOP_PATTERN: pattern})
    span.add_event(sc.EVENT_LOOP_DETECTED, {sc.LOOP_PATTERN: pattern, "tracehouse.loop.detail": detail})


def mark_violation(span: Any, exc: ContractViolation) -> None:
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


def flush_spans() -> bool:
    """Export the spans finished so far (before each step), so a process killed later does not take the trace of
    its finished steps with it. False when the export did not finish in time (an unreachable collector): the run
    then stops flushing rather than wait at every step."""
    return _FLUSHER.flush(FLUSH_TIMEOUT_S)


FLUSH_TIMEOUT_S = 0.5


class _Flusher:
    """One daemon thread that runs the provider's `force_flush` on request. The OpenTelemetry SDK's batch processor
    exports synchronously in `force_flush` and ignores its timeout, so the caller only waits here, boundedly. Each
    request is a locked lock the thread releases once a flush that started after the request has finished; requests
    queued meanwhile share the next flush (a lock hand-off: two wake-ups a step, no condition-variable dance)."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[threading.Lock] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def flush(self, timeout_s: float) -> bool:
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="tracehouse-span-flush", daemon=True)
                    self._thread.start()
        done = threading.Lock()
        done.acquire()
        self._requests.put(done)
        return done.acquire(timeout=timeout_s)

    def _loop(self) -> None:
        while True:
            waiting = [self._requests.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    waiting.append(self._requests.get_nowait())
            flush = getattr(otel_trace.get_tracer_provider(), "force_flush", None)
            try:
                if flush is not None:
                    flush()
            except Exception:  # an exporter's failure is the exporter's to report; the run goes on
                pass
            for done in waiting:
                done.release()


_FLUSHER = _Flusher()


class RestoredSpan(SDKSpan):
    """A span recreated after the fact with the id it had (the SDK creates spans through a tracer only, which
    always draws a new id; a subclass is how the SDK itself builds them)."""


CRASH_RESTORED = "the process running this run died; resumed"  # the runs table's error while a resumed run runs


def restore_crashed_root(record: RunRecord, workflow: str) -> bool:
    """Export the root span of a run segment whose process died, with its original span id, so the spans it
    finished (already exported) and the resumed segment (under it) form one tree again. It starts when the run did
    and ends now, with an error status: the crash is a failure of that segment. False when the tracer is not the
    OpenTelemetry SDK's (nothing to export into) or the run has no root span recorded."""
    if record.root_span_id is None or record.created is None or len(record.trace_id) != 32:
        return False
    tracer = otel_trace.get_tracer_provider().get_tracer("tracehouse.orchestrator")
    processor = getattr(tracer, "span_processor", None)
    if processor is None:
        return False
    context = otel_trace.SpanContext(
        int(record.trace_id, 16),
        int(record.root_span_id, 16),
        is_remote=False,
        trace_flags=otel_trace.TraceFlags(otel_trace.TraceFlags.SAMPLED),
    )
    span = RestoredSpan(
        f"invoke_workflow {workflow}",
        context,
        resource=getattr(tracer, "resource", None),
        attributes={
            sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
            sc.GEN_AI_AGENT_NAME: workflow,
            sc.GEN_AI_WORKFLOW_NAME: workflow,
            sc.GEN_AI_CONVERSATION_ID: record.trace_id,
            sc.RUN_STATUS: "crashed",
            sc.ERROR_TYPE: "ProcessDied",
        },
        span_processor=processor,
        instrumentation_scope=getattr(tracer, "instrumentation_scope", None),
    )
    span.start(start_time=int(record.created * 1e9))
    span.set_status(Status(StatusCode.ERROR, "the process running this segment died before it ended"))
    span.end()
    return True


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
