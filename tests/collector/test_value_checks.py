"""The receiver's byte scan for out-of-range values never passes one the per-attribute rule refuses, and passes the
in-range integers (the common case) at every varint width, so the spans are walked only when a value needs it."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tracehouse.collector.normalise._validate import _BOUNDED, value_problem, values_in_range

_EDGES = [
    0,
    1,
    127,
    128,
    16383,
    16384,
    65535,
    65536,
    2**21 - 1,
    2**21,
    2**28 - 1,
    2**28,
    2**32 - 1,
    2**32,
    -1,
    -(2**63),
]


def _payload(key: str, value: AnyValue) -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "chat"
    span.attributes.extend([KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat"))])
    span.attributes.extend([KeyValue(key=key, value=value)])
    return request.SerializeToString()


@pytest.mark.parametrize("key", sorted(_BOUNDED))
def test_byte_scan_agrees_with_the_attribute_rule(key: str) -> None:
    values = [AnyValue(int_value=n) for n in _EDGES]
    values += [AnyValue(double_value=x) for x in (0.5, float("inf"), float("nan"), 1e300)]
    values += [AnyValue(string_value=t) for t in ("12", "99999999999", "inf", "abc")]
    for value in values:
        fits = not value_problem(key, value)
        passed = values_in_range(_payload(key, value))
        assert fits or not passed, (key, value)  # never passes a value the rule refuses
        if value.WhichOneof("value") == "int_value" and 0 <= value.int_value <= _BOUNDED[key][0]:
            assert passed, (key, value)  # an in-range count never costs the walk
