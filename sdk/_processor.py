"""Span processing tracehouse adds to a tracer provider: agent-name stamping at start, enrichment before export.

`AgentNameProcessor` gives every span started inside an `agent(...)` step that enclosing agent's `gen_ai.agent.name`
(spans from third-party instrumentations such as opentelemetry-instrumentation-openai-v2 included), so an LLM call
lines up with its agent before the collector sees its parent. Add it to your own provider with
`provider.add_span_processor(AgentNameProcessor())` if you do not let `init` do it.

`EnrichingExporter` wraps the OTLP exporter: in the export thread, off the application's path, it adds
`tracehouse.cost.usd` to instrumentation LLM spans that report usage, and applies the content policy (strip when
capture is off; redact and truncate when on) to content attributes that other instrumentations recorded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.types import AttributeValue

from . import semconv as sc
from ._content import ContentPolicy, is_content_attribute
from ._state import AGENT_KEY, TRACER_NAME
from .pricing import default_prices

_log = logging.getLogger("tracehouse.sdk")

_LLM_OPERATIONS = frozenset({sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_GENERATE_CONTENT, sc.OP_EMBEDDINGS})


class AgentNameProcessor(SpanProcessor):
    """Stamps `gen_ai.agent.name` of the enclosing `agent(...)` on spans that have no agent name of their own."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        name = otel_context.get_value(AGENT_KEY, parent_context)
        if name is None:
            return
        attributes = span.attributes
        if attributes is None or sc.GEN_AI_AGENT_NAME not in attributes:
            span.set_attribute(sc.GEN_AI_AGENT_NAME, str(name))

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do: the agent name is stamped when the span starts, while its parent is current."""

    def shutdown(self) -> None:
        """Holds no resources."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class EnrichingExporter(SpanExporter):
    """Adds cost and applies the content policy to other instrumentations' spans, then hands them to `inner`."""

    def __init__(self, inner: SpanExporter, policy: ContentPolicy) -> None:
        self._inner = inner
        self._policy = policy
        self._lock = threading.Lock()
        self._shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        out = []
        for span in spans:
            try:
                out.append(self._enrich(span))
            except Exception:  # an odd span from someone else's instrumentation is exported as it came
                _log.debug("tracehouse: could not enrich span %s", span.name, exc_info=True)
                out.append(span)
        return self._inner.export(out)

    def shutdown(self) -> None:
        with self._lock:
            if self._shut:
                return
            self._shut = True
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def _enrich(self, span: ReadableSpan) -> ReadableSpan:
        scope = span.instrumentation_scope
        if scope is not None and scope.name == TRACER_NAME:
            return span  # our own spans were costed and redacted when they were recorded
        attributes = span.attributes or {}
        changed: dict[str, AttributeValue] | None = None
        if any(is_content_attribute(k) for k in attributes):
            changed = self._apply_policy(attributes)
        cost = _cost_of(attributes)
        if cost is not None:
            changed = dict(changed if changed is not None else attributes)
            changed[sc.COST_USD] = cost
        events = self._policy_events(span.events)
        if changed is None and events is None:
            return span
        return _copy(span, changed if changed is not None else attributes, events)

    def _apply_policy(self, attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
        out: dict[str, AttributeValue] = {}
        for key, value in attributes.items():
            if not is_content_attribute(key):
                out[key] = value
            elif self._policy.capture:
                out[key] = self._redact(value)
        return out

    def _redact(self, value: AttributeValue) -> AttributeValue:
        if isinstance(value, str):
            return self._policy.render_json_text(value)
        if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            return [self._policy.render_json_text(str(v)) for v in value]
        return value

    def _policy_events(self, events: Sequence[Event]) -> list[Event] | None:
        if not any(e.attributes and any(is_content_attribute(k) for k in e.attributes) for e in events):
            return None
        return [
            Event(e.name, self._apply_policy(e.attributes or {}), e.timestamp)
            if e.attributes and any(is_content_attribute(k) for k in e.attributes)
            else e
            for e in events
        ]


def _cost_of(attributes: Mapping[str, Any]) -> float | None:
    """Cost of an instrumentation's LLM span that reports usage and a model but no tracehouse cost."""
    if sc.COST_USD in attributes or attributes.get(sc.GEN_AI_OPERATION_NAME) not in _LLM_OPERATIONS:
        return None
    inp = _first_int(attributes, sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_PROMPT_TOKENS)
    out = _first_int(attributes, sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.GEN_AI_USAGE_COMPLETION_TOKENS)
    if inp is None and out is None:
        return None
    return default_prices().cost(
        attributes.get(sc.GEN_AI_REQUEST_MODEL),
        inp,
        out,
        _first_int(attributes, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        _first_int(attributes, sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
        fallback_model=attributes.get(sc.GEN_AI_RESPONSE_MODEL),
    )


def _first_int(attributes: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _copy(span: ReadableSpan, attributes: Mapping[str, AttributeValue], events: Sequence[Event] | None) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events if events is None else events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class TracehousePipeline(SpanProcessor):
    """What `init` adds to a provider: agent stamping plus batched export, retired as one by `shutdown`.

    The SDK has no way to remove a processor from a provider, so a retired pipeline stays attached and does nothing.
    """

    def __init__(self, exporter: EnrichingExporter, batch: SpanProcessor) -> None:
        self.exporter = exporter
        self._stamper = AgentNameProcessor()
        self._batch = batch
        self._live = True
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._live:
            self._stamper.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self._live:
            self._batch.on_end(span)

    def retire(self) -> bool:
        """Stop taking spans; True the first time only."""
        with self._lock:
            was_live, self._live = self._live, False
        return was_live

    def shutdown(self) -> None:
        self.retire()
        self._batch.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._batch.force_flush(timeout_millis)
