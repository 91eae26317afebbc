"""One OTLP span to one `Step`: attributes read once into a dict, every field looked up by table, no regex."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tracehouse.domain.attribution import handoff_target_of_tool
from tracehouse.domain.model import Event, Link, Status, Step, StepType
from tracehouse.sdk import content_hash
from tracehouse.sdk import semconv as sc
from tracehouse.sdk._hashing import step_hash
from tracehouse.sdk.pricing import PriceTable

from . import _frameworks as frameworks
from ._content_hash import plain_step_hash
from ._table import FIELDS, Attrs, Convention, Field, field_index, kind_of, merge_fields, pick_fields
from ._tool_calls import requested_tool_calls
from ._types import Limits
from ._values import as_float, as_int, as_str, convert_attributes, finish_reasons, maybe_json, render
from .genai import GENAI
from .openinference import OPENINFERENCE
from .openllmetry import OPENLLMETRY, flattened_messages
from .tracehouse import TRACEHOUSE

# Order in which conventions may decide the step type (semconv §3 rule 1).
DECIDERS: tuple[Convention, ...] = (GENAI, OPENINFERENCE, OPENLLMETRY)
# Field lookup order per decider: tracehouse's own names, then the decider's, then the others'.
_FIELD_INDEXES: dict[str | None, dict[str, tuple[int, int]]] = {
    None: field_index(merge_fields((TRACEHOUSE, *DECIDERS))),
    **{d.name: field_index(merge_fields((TRACEHOUSE, d, *(o for o in DECIDERS if o is not d)))) for d in DECIDERS},
}
# Positions of the fields in `pick_fields`' answer.
_AGENT = FIELDS.index(Field.AGENT)
_AGENT_ID = FIELDS.index(Field.AGENT_ID)
_WORKFLOW = FIELDS.index(Field.WORKFLOW)
_PROVIDER = FIELDS.index(Field.PROVIDER)
_REQUEST_MODEL = FIELDS.index(Field.REQUEST_MODEL)
_RESPONSE_MODEL = FIELDS.index(Field.RESPONSE_MODEL)
_INPUT_TOKENS = FIELDS.index(Field.INPUT_TOKENS)
_OUTPUT_TOKENS = FIELDS.index(Field.OUTPUT_TOKENS)
_CACHE_READ = FIELDS.index(Field.CACHE_READ_TOKENS)
_CACHE_WRITE = FIELDS.index(Field.CACHE_WRITE_TOKENS)
_REASONING = FIELDS.index(Field.REASONING_TOKENS)
_COST = FIELDS.index(Field.COST_USD)
_FINISH = FIELDS.index(Field.FINISH_REASONS)
_TOOL_NAME = FIELDS.index(Field.TOOL_NAME)
_TOOL_CALL_ID = FIELDS.index(Field.TOOL_CALL_ID)
_HANDOFF_SOURCE = FIELDS.index(Field.HANDOFF_SOURCE)
_HANDOFF_TARGET = FIELDS.index(Field.HANDOFF_TARGET)
_CONVERSATION = FIELDS.index(Field.CONVERSATION_ID)
_RETRY = FIELDS.index(Field.RETRY_ATTEMPT)
_CONTENT_HASH = FIELDS.index(Field.CONTENT_HASH)
_INPUT = FIELDS.index(Field.INPUT)
_OUTPUT = FIELDS.index(Field.OUTPUT)
_ERROR_TYPE = FIELDS.index(Field.ERROR_TYPE)
_SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUSES = (Status.UNSET, Status.OK, Status.ERROR)
_TOOLISH = (StepType.TOOL, StepType.OTHER, StepType.HANDOFF)
_LEGACY_PROMPT = sc.TL_PROMPT_PREFIX + "0."
_LEGACY_COMPLETION = sc.TL_COMPLETION_PREFIX + "0."


@dataclass(slots=True)
class SpanContext:
    """What every span of one resource + scope shares."""

    project_id: str
    service: str
    scope: str
    resource_attributes: dict[str, str]  # shared by the steps of one resource: read-only
    prices: PriceTable
    limits: Limits


@dataclass(slots=True)
class SpanResult:
    step: Step
    dropped_attributes: int  # span and event attributes cut
    dropped_events: int


def normalise_span(span: Span, ctx: SpanContext) -> SpanResult:
    """The step for one valid span (see `_validate.span_problem`)."""
    limits = ctx.limits
    attrs, attributes, cut = convert_attributes(span.attributes, limits.max_attributes, limits.max_attribute_chars)
    decider, step_type, operation = kind_of(DECIDERS, attrs)
    if decider is None:
        raw_op = attrs.get(sc.GEN_AI_OPERATION_NAME)
        operation = raw_op if type(raw_op) is str else ""
    f = pick_fields(attrs, _FIELD_INDEXES[decider.name if decider else None])

    parent = span.parent_span_id
    status = span.status
    step = Step(
        project_id=ctx.project_id,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=parent.hex() if parent and any(parent) else "",
        start_time_ns=span.start_time_unix_nano,
        end_time_ns=span.end_time_unix_nano,
        name=span.name,
        span_kind=_SPAN_KINDS[span.kind] if 0 <= span.kind < len(_SPAN_KINDS) else "UNSPECIFIED",
        status=_STATUSES[status.code] if 0 <= status.code < 3 else Status.UNSET,
        status_message=status.message,
        service=ctx.service,
        scope=ctx.scope,
        agent=as_str(f[_AGENT]),
        agent_id=as_str(f[_AGENT_ID]),
        workflow=as_str(f[_WORKFLOW]),
        operation=operation,
        step_type=step_type,
        provider=as_str(f[_PROVIDER]),
        request_model=as_str(f[_REQUEST_MODEL]),
        response_model=as_str(f[_RESPONSE_MODEL]),
        input_tokens=as_int(f[_INPUT_TOKENS]),
        output_tokens=as_int(f[_OUTPUT_TOKENS]),
        cache_read_tokens=as_int(f[_CACHE_READ]),
        cache_write_tokens=as_int(f[_CACHE_WRITE]),
        reasoning_tokens=as_int(f[_REASONING]),
        cost_usd=as_float(f[_COST]),
        tool_name=as_str(f[_TOOL_NAME]),
        tool_call_id=as_str(f[_TOOL_CALL_ID]),
        handoff_source=as_str(f[_HANDOFF_SOURCE]),
        handoff_target=as_str(f[_HANDOFF_TARGET]),
        conversation_id=as_str(f[_CONVERSATION]),
        retry_attempt=as_int(f[_RETRY], 2**16 - 1) or 0,
        content_hash=as_str(f[_CONTENT_HASH]),
        error_type=as_str(f[_ERROR_TYPE]),
        attributes=attributes,
        resource_attributes=ctx.resource_attributes,
        dropped_attributes=cut,
    )
    if decider is not None and decider.refine is not None:
        decider.refine(attrs, step)
    frameworks.refine(attrs, step)
    if not step.request_model:
        step.request_model = step.response_model

    raw_finish = f[_FINISH]
    if raw_finish is not None:
        step.finish_reasons = finish_reasons(raw_finish)
    event_cut, events_dropped, prompt_event, completion_event = _events(span, step, limits)
    _mark_error(step)
    raw_output = f[_OUTPUT] or completion_event
    _content(attrs, step, f[_INPUT] or prompt_event, raw_output, limits)
    if step.step_type is StepType.LLM:
        step.tool_calls = requested_tool_calls(attrs, raw_output)
    _handoff(step)
    if step.cost_usd is None and (step.input_tokens is not None or step.output_tokens is not None):
        step.cost_usd = ctx.prices.cost(
            step.request_model,
            step.input_tokens,
            step.output_tokens,
            step.cache_read_tokens,
            step.cache_write_tokens,
            fallback_model=step.response_model,
        )
    links_dropped = _links(span, step, limits)
    return SpanResult(step, cut + event_cut, events_dropped + links_dropped)


def _events(span: Span, step: Step, limits: Limits) -> tuple[int, int, Any, Any]:
    """Store the first `max_events` events; note exceptions and <= 1.27 content events. Returns
    (event attributes cut, events dropped, prompt content, completion content)."""
    cut = 0
    prompt: Any = None
    completion: Any = None
    events = step.events
    for event in span.events:
        name = event.name
        if len(events) >= limits.max_events and name != sc.EXCEPTION_EVENT:
            continue
        raw, stored, event_cut = convert_attributes(event.attributes, limits.max_attributes, limits.max_attribute_chars)
        if name == sc.EXCEPTION_EVENT:
            step.status_message = step.status_message or as_str(raw.get(sc.EXCEPTION_MESSAGE))
            if not step.error_type and step.status is not Status.OK:
                step.error_type = as_str(raw.get(sc.EXCEPTION_TYPE)) or "exception"
            if step.status is Status.UNSET:
                step.status = Status.ERROR
        elif name == sc.GEN_AI_CONTENT_PROMPT_EVENT:
            prompt = raw.get(sc.GEN_AI_PROMPT)
        elif name == sc.GEN_AI_CONTENT_COMPLETION_EVENT:
            completion = raw.get(sc.GEN_AI_COMPLETION)
        elif name == sc.GEN_AI_CHOICE_EVENT and completion is None:  # <= 1.36 content as a span event (Strands)
            completion = raw.get("message")
        elif name == sc.GEN_AI_OPERATION_DETAILS_EVENT:  # the latest conventions' content as a span event
            prompt = raw.get(sc.GEN_AI_INPUT_MESSAGES, prompt)
            completion = raw.get(sc.GEN_AI_OUTPUT_MESSAGES, completion)
        if len(events) < limits.max_events:
            events.append(Event(event.time_unix_nano, name, stored))
            cut += event_cut
    return cut, len(span.events) - len(events), prompt, completion


def _mark_error(step: Step) -> None:
    """`error.type` on an UNSET span marks it failed (semconv §3 rule 5); exception events did so in `_events`."""
    if step.error_type and step.status is Status.UNSET:
        step.status = Status.ERROR


def _content(attrs: Attrs, step: Step, raw_input: Any, raw_output: Any, limits: Limits) -> None:
    """Previews, content hash, and finish reasons found in the output messages."""
    limit = limits.max_preview_chars
    hash_input: Any = None
    if raw_input is None and (_LEGACY_PROMPT + "content" in attrs or _LEGACY_PROMPT + "role" in attrs):
        messages = flattened_messages(attrs, sc.TL_PROMPT_PREFIX)
        hash_input = messages
        step.input_preview = _messages_preview(messages, limit)
    elif raw_input is not None:
        hash_input = raw_input
        step.input_preview = _preview(raw_input, limit)
    if raw_output is None and (_LEGACY_COMPLETION + "content" in attrs or _LEGACY_COMPLETION + "role" in attrs):
        step.output_preview = _messages_preview(flattened_messages(attrs, sc.TL_COMPLETION_PREFIX), limit)
    elif raw_output is not None:
        step.output_preview = _preview(raw_output, limit)
        if type(raw_output) is str:
            _from_output_text(raw_output, step)
    if hash_input is not None and not step.content_hash:
        subject = step.tool_name if step.step_type in _TOOLISH else step.request_model
        step.content_hash = _hash(step.operation, subject, hash_input)


def _hash(operation: str, subject: str, content: Any) -> str:
    """The SDK's step hash (RFC 8785 + SHA-256), so a span hashed here matches one the SDK hashed itself.

    Content sent as JSON text is hashed by `plain_step_hash` when it can be; parsed JSON is already a JSON value, so
    the SDK's `step_hash` skips its general normalisation; a value RFC 8785 refuses (an integer beyond 2**53, a
    non-finite float) goes through it. JSON text can also spell a lone surrogate (`"\\ud800"`), which no UTF-8
    can carry: that content is hashed as its ASCII JSON text, so one such span never makes its batch fail.
    """
    if type(content) is str:
        fast = plain_step_hash(operation, subject, content)
        if fast is not None:
            return fast
        content = maybe_json(content)
    try:
        return step_hash(operation, subject, content)
    except (ValueError, TypeError):
        pass
    try:
        return content_hash([operation, subject, content])
    except (ValueError, TypeError):
        return content_hash([operation, subject, json.dumps(content, default=str)])


def _from_output_text(text: str, step: Step) -> None:
    """Finish reasons from the output messages, when the span did not send them otherwise."""
    if step.finish_reasons or step.step_type is not StepType.LLM or '"finish_reason"' not in text:
        return
    parsed = maybe_json(text)
    if isinstance(parsed, list):
        reasons = [m.get("finish_reason") for m in parsed if isinstance(m, dict) and m.get("finish_reason")]
        step.finish_reasons = finish_reasons(reasons)


def _handoff(step: Step) -> None:
    """A `transfer_to_<agent>` tool, or hand-off attributes on a tool or plain span, make a hand-off step."""
    if step.step_type not in _TOOLISH:
        return
    target = handoff_target_of_tool(step.tool_name)
    if target:
        step.step_type = StepType.HANDOFF
        step.handoff_target = step.handoff_target or target
    elif step.handoff_target or step.handoff_source:
        step.step_type = StepType.HANDOFF


def _links(span: Span, step: Step, limits: Limits) -> int:
    links = span.links
    for link in links[: limits.max_events]:
        step.links.append(Link(link.trace_id.hex(), link.span_id.hex()))
    return max(len(links) - limits.max_events, 0)


def _preview(value: Any, limit: int) -> str:
    text = value if type(value) is str else render(value)
    return text[:limit]


def _messages_preview(messages: list[dict[str, str]], limit: int) -> str:
    text = "\n".join(f"{m['role']}: {m['content']}" if m["role"] else m["content"] for m in messages)
    return text[:limit]
