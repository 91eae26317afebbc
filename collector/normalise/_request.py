"""A whole `ExportTraceServiceRequest` to steps: validate, normalise each span, then the rules that need the tree."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehouse.collector.model import Step
from tracehouse.sdk import semconv as sc
from tracehouse.sdk.pricing import PriceTable

from ._span import SpanContext, normalise_span
from ._tree import resolve_agents, strip_wrapper_usage
from ._types import DEFAULT_LIMITS, Limits, NormaliseResult
from ._validate import Rejections, span_problem, values_in_range
from ._values import as_str, convert_attributes


def normalise_request(
    request: ExportTraceServiceRequest,
    project_id: str,
    prices: PriceTable,
    limits: Limits = DEFAULT_LIMITS,
    payload: bytes | None = None,
) -> NormaliseResult:
    """Every valid span of `request` as a `Step` of `project_id`; invalid spans are counted and skipped.

    `payload`, the bytes `request` was parsed from, lets validation skip attribute walks (see `_validate`); pass the
    same bytes the receiver validated, so both refuse the same spans.

    Within the batch, steps without an agent inherit their nearest agent ancestor's, and usage stays only on the
    innermost model call. Parents from other batches are the caller's job: see `resolve_agents`.
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
    resolve_agents(steps, {})
    strip_wrapper_usage(steps)
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
