"""Which spans the collector refuses: broken ids or time running backwards; the rest of the batch is kept.

A span is invalid when its trace_id is not 16 bytes or is all zero, its span_id is not 8 bytes or is all zero, its
parent_span_id is neither empty nor 8 bytes, or its end time is before its start time (an unset end time, 0, counts
as before). An all-zero 8-byte parent_span_id is read as "no parent".
"""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_MAX_REASONS = 3


def span_problem(span: Span) -> str:
    """Why this span cannot be stored, or "" when it can."""
    trace_id = span.trace_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "trace_id is not 16 bytes or is all zero"
    span_id = span.span_id
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "span_id is not 8 bytes or is all zero"
    parent = span.parent_span_id
    if parent and len(parent) != 8:
        return "parent_span_id is neither empty nor 8 bytes"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "end_time_unix_nano is before start_time_unix_nano"
    return ""


class Rejections:
    """Counts refused spans and keeps the first few distinct reasons for `partial_success.error_message`."""

    def __init__(self) -> None:
        self.count = 0
        self._reasons: dict[str, str] = {}

    def add(self, span: Span, reason: str) -> None:
        self.count += 1
        if reason not in self._reasons and len(self._reasons) < _MAX_REASONS:
            self._reasons[reason] = f"span {span.name!r}: {reason}"

    def message(self) -> str:
        if not self.count:
            return ""
        noun = "span" if self.count == 1 else "spans"
        return f"{self.count} {noun} rejected: " + "; ".join(self._reasons.values())
