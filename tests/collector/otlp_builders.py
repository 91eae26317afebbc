"""Small builders for OTLP protobuf spans and requests, so normaliser tests read as attribute tables."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
T0 = 1_700_000_000_000_000_000
_ids = itertools.count(1)

INTERNAL = Span.SpanKind.SPAN_KIND_INTERNAL
CLIENT = Span.SpanKind.SPAN_KIND_CLIENT
UNSET = Status.StatusCode.STATUS_CODE_UNSET
OK = Status.StatusCode.STATUS_CODE_OK
ERROR = Status.StatusCode.STATUS_CODE_ERROR


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Mapping):
        out = AnyValue()
        out.kvlist_value.values.extend(key_values(value))
        return out
    if isinstance(value, list | tuple):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    return AnyValue(string_value=str(value))


def key_values(attrs: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def new_span_id() -> bytes:
    return next(_ids).to_bytes(8, "big")


def make_span(
    name: str,
    attrs: Mapping[str, Any] | None = None,
    *,
    span_id: bytes | None = None,
    parent: bytes = b"",
    trace_id: bytes = TRACE_ID,
    kind: int = INTERNAL,
    status: int = UNSET,
    message: str = "",
    start: int = T0,
    end: int = T0 + 1_000_000,
    events: Sequence[tuple[str, Mapping[str, Any]]] = (),
    links: Sequence[tuple[bytes, bytes]] = (),
) -> Span:
    span = Span(
        trace_id=trace_id,
        span_id=span_id if span_id is not None else new_span_id(),
        parent_span_id=parent,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status=Status(code=status, message=message),  # type: ignore[arg-type]
    )
    span.attributes.extend(key_values(attrs or {}))
    for i, (event_name, event_attrs) in enumerate(events):
        event = span.events.add(name=event_name, time_unix_nano=start + i)
        event.attributes.extend(key_values(event_attrs))
    for link_trace, link_span in links:
        span.links.add(trace_id=link_trace, span_id=link_span)
    return span


def make_request(
    *spans: Span,
    service: str = "support-bot",
    scope: str = "opentelemetry.instrumentation.openai_v2",
    resource: Mapping[str, Any] | None = None,
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values({"service.name": service, **(resource or {})}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)
    return request
