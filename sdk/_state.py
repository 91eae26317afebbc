"""Process-wide SDK state: the active runtime (tracer + content policy) or none, and the context key for agents.

`runtime()` is the one place that decides between recording and no-op: `init` installs a runtime; without `init`
an application that configured its own OpenTelemetry SDK provider still gets spans through it (content off);
with `TRACEHOUSE_DISABLED` set, or with no provider at all, there is no runtime and every span is the no-op handle.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Tracer

from ._content import ContentPolicy

TRACER_NAME = "tracehouse.sdk"
# The enclosing agent's name travels in the OpenTelemetry context, so it follows spans across tasks and threads.
AGENT_KEY = otel_context.create_key("tracehouse.agent")

_TRUE = frozenset({"1", "true", "yes", "on"})


def env_flag(name: str) -> bool | None:
    """True/False for a boolean environment variable, None when unset or empty."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return None
    return raw in _TRUE


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a recording span needs: where spans go and what content may go with them."""

    tracer: Tracer
    policy: ContentPolicy
    legacy_names: bool = False  # also emit GenAI <= 1.36 names (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai/dup)


class _Holder:
    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.disabled = bool(env_flag("TRACEHOUSE_DISABLED"))
        self.lock = threading.RLock()


HOLDER = _Holder()


def legacy_names_requested() -> bool:
    opt_in = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
    return "gen_ai/dup" in {part.strip() for part in opt_in.split(",")}


def runtime() -> Runtime | None:
    """The active runtime, or None for the no-op path."""
    rt = HOLDER.runtime
    if rt is not None or HOLDER.disabled:
        return rt
    return _from_global_provider()


def _from_global_provider() -> Runtime | None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    with HOLDER.lock:
        if HOLDER.runtime is None and not HOLDER.disabled:
            HOLDER.runtime = Runtime(
                tracer=provider.get_tracer(TRACER_NAME), policy=ContentPolicy(), legacy_names=legacy_names_requested()
            )
        return HOLDER.runtime
