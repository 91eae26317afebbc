"""Which spans the collector refuses, and why; the rest of the batch is kept.

Every value that reaches a typed ClickHouse column is bounded here, at the boundary, so a batch the receiver accepted
always encodes and inserts. Out-of-range values **reject the span** (counted in OTLP `partial_success` with the
reason); nothing is clamped, because a clamped token count or time would be a wrong number shown as a right one.

A span is invalid when:

- its trace_id is not 16 bytes or is all zero, its span_id is not 8 bytes or is all zero, or its parent_span_id is
  neither empty nor 8 bytes (an all-zero 8-byte parent_span_id is read as "no parent");
- its start time is before 2000-01-01 (`MIN_TIME_NS`: such a span sorts into partitions no trace query reads, so it
  could never be found) or more than a day ahead of the collector's clock (`MAX_FUTURE_NS`: a clock that far off
  is broken, and times past 2262 do not fit DateTime64(9)); its end time is before its start time (an unset end,
  0, counts as before) or past the same future bound; an event time is past the future bound;
- a token count attribute (any convention's spelling) is a number or digit string above 2**32 - 1 (UInt32), the
  retry attempt is above 2**16 - 1 (UInt16), or either is not finite; a cost attribute is not a finite number.
  Negative or non-numeric values are not refused: the normaliser stores them as absent, as before.

Walking every attribute of every span costs the receiver ~10x its other per-span work, so the value rule first looks
at the raw request (`values_in_range`): `bytes.find` finds each bounded attribute's key in the protobuf bytes, and
only its value is parsed. Only a request with an out-of-range value has its spans' attributes walked one by one.
The receiver and the encoder decide this from the same spooled bytes, so they always refuse the same spans. A value
the byte scan cannot see (an encoder writing `value` before `key`, which none known does) is not refused: the
normaliser's bounded `as_int` stores it as absent, so it can never stop a batch.
"""

from __future__ import annotations

import math
import re
import time

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ._table import Field
from .genai import GENAI
from .openinference import OPENINFERENCE
from .openllmetry import OPENLLMETRY
from .tracehouse import TRACEHOUSE

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_MAX_REASONS = 3

MIN_TIME_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z
MAX_FUTURE_NS = 86_400 * 10**9  # one day ahead of the collector's clock
UINT32_MAX = 2**32 - 1
UINT16_MAX = 2**16 - 1

_TOKEN_FIELDS = (
    Field.INPUT_TOKENS,
    Field.OUTPUT_TOKENS,
    Field.CACHE_READ_TOKENS,
    Field.CACHE_WRITE_TOKENS,
    Field.REASONING_TOKENS,
)


def _names(*fields: Field) -> frozenset[str]:
    return frozenset(
        name
        for conv in (TRACEHOUSE, GENAI, OPENINFERENCE, OPENLLMETRY)
        for f in fields
        for name in conv.fields.get(f, ())
    )


# Attribute name -> (largest value the column holds, what to call it in the reason).
_BOUNDED: dict[str, tuple[float, str]] = {
    **{name: (UINT32_MAX, "token count") for name in _names(*_TOKEN_FIELDS)},
    **{name: (UINT16_MAX, "retry attempt") for name in _names(Field.RETRY_ATTEMPT)},
    **{name: (math.inf, "cost") for name in _names(Field.COST_USD)},
}


# In protobuf a KeyValue is 0x0A <key length> <key> 0x12 <value length> <AnyValue>. Every bounded key starts with one
# of these (its first two dotted parts), so a C-speed `bytes.find` per prefix finds every candidate; each bounded key
# is shorter than 128 bytes, so its length is one byte.
_PREFIXES = tuple(sorted({".".join(k.split(".")[:2]).encode() + b"." for k in _BOUNDED}))
_BOUNDED_BYTES = {k.encode(): k for k in _BOUNDED}


def _safe_frames() -> re.Pattern[bytes]:
    """A bounded key's frame whose value is an int_value too short to pass its bound: 0x12 <AnyValue length> 0x18
    <varint of at most 4 bytes (< 2**28) for a UInt32 or Float64 column, 2 bytes (< 2**14) for a UInt16 one>.
    Almost every candidate is one, and one `match` clears it without reading the value in Python."""
    short = [rb"\x02\x18[\x00-\x7f]", rb"\x03\x18[\x80-\xff][\x00-\x7f]"]
    longer = [*short, rb"\x04\x18[\x80-\xff]{2}[\x00-\x7f]", rb"\x05\x18[\x80-\xff]{3}[\x00-\x7f]"]
    frames = []
    for values, keys in (
        (short, [k for k, (limit, _) in _BOUNDED.items() if 2**14 <= limit + 1 < 2**28]),
        (longer, [k for k, (limit, _) in _BOUNDED.items() if limit + 1 >= 2**28]),
    ):
        names = b"|".join(re.escape(k.encode()) for k in sorted(keys, key=len, reverse=True))
        frames.append(rb"\x0a.(?:" + names + rb")\x12(?:" + b"|".join(values) + rb")")
    return re.compile(b"|".join(frames), re.DOTALL)


_SAFE_FRAME = _safe_frames()


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    return -1, pos


def _value_at(payload: bytes, pos: int) -> bool:
    """At a candidate key in `payload`: True when it is a bounded key's frame and its value is out of range."""
    size = payload[pos - 1]
    key = _BOUNDED_BYTES.get(payload[pos : pos + size])
    if key is None or pos < 2 or payload[pos - 2] != 0x0A or payload[pos + size : pos + size + 1] != b"\x12":
        return False
    length, start = _varint(payload, pos + size + 1)
    if length < 0 or start + length > len(payload):
        return True
    if payload[start : start + 1] == b"\x18" and length <= 11:  # int_value, the common case: read the varint here
        number, end = _varint(payload, start + 1)
        return end != start + length or number > _BOUNDED[key][0]  # a negative int64 reads as >= 2**63: too large
    try:
        return bool(value_problem(key, AnyValue.FromString(payload[start : start + length])))
    except DecodeError:
        return True


def values_in_range(payload: bytes) -> bool:
    """False when the serialised request holds a bounded attribute whose value is out of range (or unreadable)."""
    safe = _SAFE_FRAME.match
    for prefix in _PREFIXES:
        pos = payload.find(prefix, 1)
        while pos >= 0:
            if (pos < 2 or safe(payload, pos - 2) is None) and _value_at(payload, pos):
                return False
            pos = payload.find(prefix, pos + 1)
    return True


def _number(value: AnyValue) -> float | int | None:
    """The numeric value of an int, double or digit-string attribute (None for anything else)."""
    which = value.WhichOneof("value")
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "string_value":
        text = value.string_value.strip()
        if text.isdigit():
            return int(text)
        try:
            return float(text)
        except ValueError:
            return None
    return None


def value_problem(key: str, value: AnyValue) -> str:
    """Why a bounded attribute's value does not fit its column, or "" when it does (or is not bounded)."""
    bound = _BOUNDED.get(key)
    if bound is None:
        return ""
    number = _number(value)
    if number is None:
        return ""
    limit, what = bound
    if isinstance(number, float) and not math.isfinite(number):
        return f"{what} {key} is not a finite number"
    if number > limit:
        return f"{what} {key} exceeds {int(limit)}"
    return ""


def _time_problem(span: Span, latest: int) -> str:
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start < MIN_TIME_NS:
        return "start_time_unix_nano is before 2000-01-01"
    if start > latest or end > latest:
        return "span time is more than a day in the future"
    if end < start:
        return "end_time_unix_nano is before start_time_unix_nano"
    for event in span.events:
        if event.time_unix_nano > latest:
            return "an event time is more than a day in the future"
    return ""


def span_problem(span: Span, now_ns: int | None = None, check_values: bool = True) -> str:
    """Why this span cannot be stored, or "" when it can; `check_values=False` when `values_in_range` said the
    request's bounded attributes are all in range."""
    trace_id = span.trace_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "trace_id is not 16 bytes or is all zero"
    span_id = span.span_id
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "span_id is not 8 bytes or is all zero"
    parent = span.parent_span_id
    if parent and len(parent) != 8:
        return "parent_span_id is neither empty nor 8 bytes"
    problem = _time_problem(span, (time.time_ns() if now_ns is None else now_ns) + MAX_FUTURE_NS)
    if problem:
        return problem
    if not check_values:
        return ""
    for kv in span.attributes:
        if kv.key in _BOUNDED:
            problem = value_problem(kv.key, kv.value)
            if problem:
                return problem
    return ""


class Rejections:
    """Counts refused spans and keeps the first few distinct reasons for `partial_success.error_message`."""

    def __init__(self) -> None:
        self.count = 0
        self._reasons: dict[str, str] = {}

    def add(self, span: Span, reason: str) -> None:
        self.count += 1
        if reason not in self._reasons and len(self._reasons) < _MAX_REASONS:
            self._reasons[reason] = f"span {span.name[:100]!r}: {reason}"

    def message(self) -> str:
        if not self.count:
            return ""
        noun = "span" if self.count == 1 else "spans"
        return f"{self.count} {noun} rejected: " + "; ".join(self._reasons.values())
