"""Overhead of tracehouse.sdk steps against a bare OpenTelemetry span and against no tracing (a script, not a test).

    .venv/bin/python tests/bench/bench_sdk.py [--n 20000]

All traced variants run on one TracerProvider with the same processors (tracehouse's pipeline: agent stamping plus a
BatchSpanProcessor into an exporter that drops spans), so the ratios isolate what the SDK adds per span.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from tracehouse import sdk
from tracehouse.sdk import semconv as sc


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _best(fn: Callable[[int], None], n: int, repeats: int = 5) -> float:
    """Best per-call time in µs over `repeats` runs of `n` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(n)
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


def _enabled(n: int) -> dict[str, float]:
    provider = TracerProvider()
    sdk.init(tracer_provider=provider, exporter=_Discard())
    tracer = provider.get_tracer("bench")
    agent_attrs = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.GEN_AI_AGENT_NAME: "planner"}
    tool_attrs = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
        sc.GEN_AI_TOOL_NAME: "search",
        sc.GEN_AI_TOOL_TYPE: "function",
    }

    def bare_agent(k: int) -> None:
        for _ in range(k):
            with tracer.start_as_current_span("invoke_agent planner", kind=SpanKind.INTERNAL, attributes=agent_attrs):
                pass

    def bare_tool(k: int) -> None:
        for _ in range(k):
            with tracer.start_as_current_span("execute_tool search", kind=SpanKind.INTERNAL, attributes=tool_attrs):
                pass

    def th_agent(k: int) -> None:
        for _ in range(k):
            with sdk.agent("planner"):
                pass

    def th_tool(k: int) -> None:
        for _ in range(k):
            with sdk.tool("search"):
                pass

    @sdk.agent("planner")
    def decorated_noargs() -> None:
        pass

    @sdk.tool("search")
    def decorated_args(query: str, k: int = 5) -> None:
        pass

    def th_decorated(k: int) -> None:
        for _ in range(k):
            decorated_noargs()

    def th_decorated_args(k: int) -> None:
        for _ in range(k):
            decorated_args("weather in Paris")

    def plain(k: int) -> None:
        for _ in range(k):
            pass

    def plain_call(k: int) -> None:
        def f(query: str, k: int = 5) -> None:
            pass

        for _ in range(k):
            f("weather in Paris")

    for fn in (bare_agent, th_agent):  # warm up
        fn(2000)
    results = {
        "no tracing (empty loop body)": _best(plain, n),
        "no tracing (plain function call)": _best(plain_call, n),
        "bare OTel span, agent attrs": _best(bare_agent, n),
        "bare OTel span, tool attrs": _best(bare_tool, n),
        "with sdk.agent(...)": _best(th_agent, n),
        "with sdk.tool(...)": _best(th_tool, n),
        "@sdk.agent, no arguments": _best(th_decorated, n),
        "@sdk.tool, 2 arguments (+ content hash)": _best(th_decorated_args, n),
    }
    sdk.shutdown()
    return results


_DISABLED = """
import time
from tracehouse import sdk

@sdk.agent("planner")
def decorated(): pass

def f(): pass

def best(fn, n=200000):
    out = float("inf")
    for _ in range(5):
        t = time.perf_counter(); fn(n); out = min(out, (time.perf_counter() - t) / n * 1e6)
    return out

def loop(n):
    for _ in range(n): pass
def cm(n):
    for _ in range(n):
        with sdk.agent("planner"): pass
def plain(n):
    for _ in range(n): f()
def dec(n):
    for _ in range(n): decorated()
print(best(loop), best(cm), best(plain), best(dec))
"""


def _disabled() -> dict[str, float]:
    # A fresh process with TRACEHOUSE_DISABLED=1: nothing was ever initialised there.
    env = {**os.environ, "TRACEHOUSE_DISABLED": "1"}
    out = subprocess.run([sys.executable, "-c", _DISABLED], capture_output=True, text=True, env=env, check=True)
    loop, cm, plain, dec = map(float, out.stdout.split())
    return {"disabled: with sdk.agent(...)": cm - loop, "disabled: @sdk.agent call": dec - plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000, help="calls per measurement (best of 5)")
    n = parser.parse_args().n
    r = _enabled(n)
    width = max(len(k) for k in r) + 2
    print(f"per-call time, best of 5 runs of {n} calls (µs)")
    for key, value in r.items():
        print(f"  {key:<{width}} {value:8.2f}")
    print("ratios")
    ratios = {
        "agent span / bare OTel span": ("with sdk.agent(...)", "bare OTel span, agent attrs"),
        "tool span / bare OTel span": ("with sdk.tool(...)", "bare OTel span, tool attrs"),
        "@agent (no args) / bare span": ("@sdk.agent, no arguments", "bare OTel span, agent attrs"),
        "@tool (2 args) / bare span": ("@sdk.tool, 2 arguments (+ content hash)", "bare OTel span, tool attrs"),
        "agent span / no tracing": ("with sdk.agent(...)", "no tracing (plain function call)"),
    }
    for label, (ours, base) in ratios.items():
        print(f"  {label:<{width}} {r[ours] / r[base]:8.2f}x")
    print("disabled path, added per call (µs)")
    for key, value in _disabled().items():
        print(f"  {key:<{width}} {value:8.3f}")


if __name__ == "__main__":
    main()
