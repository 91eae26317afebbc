"""A whole `ExportTraceServiceRequest` to steps: validate, normalise each span, then the rules that need the tree."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehouse.domain.attribution import attribute
from tracehouse.domain.model import Step
from tracehouse.sdk import semconv as sc
from tracehouse.sdk.pricing import PriceTable

from ._span import SpanContext, normalise_span
from ._types import DEFAULT_LIMITS, Limits, NormaliseResult
from ._validate import Rejections, span_problem, values_in_range
from ._values import as_str, convert_attributes


def normalise_request(
    request: ExportTraceServiceRequest,
    project_id: str,
    prices: PriceTable,
    limits: Limits = DEFAULT_LIMITS,
    payload: bytes | None = None,
    *,
    apply_rules: bool = True,
) -> NormaliseResult:
    """Every valid span of `request` as a `Step` of `project_id`; invalid spans are counted and skipped.

    `payload`, the bytes `request` was parsed from, lets validation skip attribute walks (see `_validate`); pass the
    same bytes the receiver validated, so both refuse the same spans.

    The trace rules (`tracehouse.domain.attribution`) are applied to each trace's steps in the request, unless
    `apply_rules` is off because the caller applies them to a larger batch (the writer does, once per batch); a trace
    spread over several batches is settled by the trace finaliser.
    """
    result = NormaliseResult()
    rejections = Rejections()
    now_ns = time.time_ns()
    check_values = payload is None or not values_in_range(payload)
    steps: list[Step] = result.steps
    for resource_spans in request.resource_spans:
        raw, resource_attributes, cut = convert_attributes(
            resource_spans.resource.attributes, limits.max_attributes, limits.max_attribute_chars
        )
        result.dropped_attributes += cut
        service = as_str(raw.get(sc.SERVICE_NAME))
        for scope_spans in resource_spans.scope_spans:
            ctx = SpanContext(project_id, service, scope_spans.scope.name, resource_attributes, prices, limits)
            for span in scope_spans.spans:
                problem = span_problem(span, now_ns, check_values)
                if problem:
                    rejections.add(span, problem)
                    continue
                made = normalise_span(span, ctx)
                steps.append(made.step)
                result.dropped_attributes += made.dropped_attributes
                result.dropped_events += made.dropped_events
    if apply_rules:
        result.steps = attribute_by_trace(steps)
    result.rejected_spans = rejections.count
    result.error_message = rejections.message()
    return result


def count_invalid_spans(request: ExportTraceServiceRequest, payload: bytes | None = None) -> tuple[int, str]:
    """(spans `normalise_request` would refuse, message for partial_success); `payload` as in `normalise_request`."""
    rejections = Rejections()
    now_ns = time.time_ns()
    check_values = payload is None or not values_in_range(payload)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                problem = span_problem(span, now_ns, check_values)
                if problem:
                    rejections.add(span, problem)
    return rejections.count, rejections.message()


def attribute_by_trace(steps: list[Step]) -> list[Step]:
    """Apply the trace rules to each trace among `steps`; one step per span (the last one given), in input order."""
    by_trace: dict[tuple[str, str], list[Step]] = {}
    for step in steps:
        by_trace.setdefault((step.project_id, step.trace_id), []).append(step)
    kept: set[int] = set()
    for group in by_trace.values():
        kept.update(id(s) for s in attribute(group).steps)
    return [s for s in steps if id(s) in kept]
