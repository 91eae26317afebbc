"""Readable numbers for people: durations (1.2 s), money ($0.034), token counts (12.3k), percentages and times.

Every function takes None for "unknown" and shows it as an em dash, because unknown is not zero.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from tracehouse.store.client import as_utc

DASH = "—"


def duration_ms(ms: float | None) -> str:
    """840 µs, 12 ms, 1.2 s, 2m 03s, 1h 02m."""
    if ms is None or math.isnan(ms):
        return DASH
    if ms < 0:
        ms = 0.0
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    if s < 10:
        return f"{s:.2f} s"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60):02d}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def duration_ns(ns: int | None) -> str:
    return DASH if ns is None else duration_ms(ns / 1e6)


def usd(value: float | None) -> str:
    """$1,234, $12.34, $0.034, $0.00042 — about three significant figures below a cent."""
    if value is None or math.isnan(value):
        return DASH
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1000:
        return f"{sign}${v:,.0f}"
    if v >= 1:
        return f"{sign}${v:,.2f}"
    if v >= 0.01:
        return f"{sign}${v:.3f}".rstrip("0").rstrip(".") if v < 0.1 else f"{sign}${v:.3f}"
    digits = max(2, -math.floor(math.log10(v)) + 1)
    return f"{sign}${v:.{digits}f}"


def count(n: float | None) -> str:
    """950, 12.3k, 4.5M, 1.2B."""
    if n is None:
        return DASH
    v = float(n)
    a = abs(v)
    if a < 1000:
        return f"{v:.0f}" if v == int(v) else f"{v:.1f}"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            q = v / div
            return f"{q:.1f}{suffix}" if abs(q) < 100 else f"{q:.0f}{suffix}"
    return f"{v:.0f}"  # unreachable: a >= 1000 always matches "k"


def percent(fraction: float | None, digits: int = 1) -> str:
    if fraction is None or math.isnan(fraction):
        return DASH
    return f"{fraction * 100:.{digits}f}%"


def score(value: float | None) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{value:.2f}"


def timestamp(value: datetime | None) -> str:
    """UTC, to the second: 2025-05-01 12:03:04."""
    if value is None:
        return DASH
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S")


def timestamp_ns(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """12 s ago, 5 min ago, 3 h ago, 2 d ago."""
    if value is None:
        return DASH
    now = now or datetime.now(UTC)
    s = (now - as_utc(value)).total_seconds()
    if s < 0:
        return "just now"
    if s < 60:
        return f"{int(s)} s ago"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400:
        return f"{int(s // 3600)} h ago"
    return f"{int(s // 86400)} d ago"


FILTERS = {
    "duration_ms": duration_ms,
    "duration_ns": duration_ns,
    "usd": usd,
    "count": count,
    "percent": percent,
    "score": score,
    "timestamp": timestamp,
    "timestamp_ns": timestamp_ns,
    "ago": ago,
}
