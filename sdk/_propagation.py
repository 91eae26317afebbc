"""Carrying the trace across threads and processes: W3C `traceparent` inject/extract and a thread-pool `wrap`.

asyncio tasks need nothing (each task copies the context it was created in). A thread pool does not copy context, so
submit `wrap(fn)` instead of `fn`; an agent that calls another over HTTP sends `inject({})` as headers and the
receiver passes `extract(request.headers)` as `parent=` to its first step.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from typing import ParamSpec, TypeVar

from opentelemetry import propagate
from opentelemetry.context import Context

P = ParamSpec("P")
R = TypeVar("R")


def inject(carrier: dict[str, str] | None = None, context: Context | None = None) -> dict[str, str]:
    """Write `traceparent` (and `tracestate`, baggage) for the current or given context into `carrier`; return it."""
    if carrier is None:
        carrier = {}
    if not isinstance(carrier, dict):
        raise TypeError(f"inject() needs a dict to write headers into, got {type(carrier).__name__}")
    propagate.inject(carrier, context=context)
    return carrier


def extract(carrier: Mapping[str, str]) -> Context:
    """The context a caller sent (`traceparent` header); pass it as `parent=` to `agent(...)` or `workflow(...)`."""
    if not isinstance(carrier, Mapping):
        raise TypeError(f"extract() needs a mapping of headers, got {type(carrier).__name__}")
    if any(k != k.lower() for k in carrier):  # HTTP header names are case-insensitive; the propagator is not
        carrier = {k.lower(): v for k, v in carrier.items()}
    return propagate.extract(carrier)


def wrap(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` bound to the caller's context (current span, enclosing agent): use with thread pools.

    >>> with agent("researcher"):
    ...     results = list(pool.map(wrap(search), queries))
    """
    if not callable(fn):
        raise TypeError(f"wrap() needs a callable, got {type(fn).__name__}")
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # A Context can be entered by one thread at a time: each call runs in its own copy.
        return captured.copy().run(fn, *args, **kwargs)

    return run
