"""Orchestration overhead per step, against calling the same fake agent in a plain loop. Two kinds of step:
"empty" (state write + checkpoint + span) and "call" (the same plus one model call and one tool call, each with its
budget reservation, breaker, journal row and span: the overhead a real step pays). Each is measured 3 times; the
median and the spread are printed, as wall time and as CPU time of the process (all its threads: the span flusher
and the exporter included), which a loaded machine inflates much less than wall time. A script, not a test:

    .venv/bin/python tests/bench/bench_orchestrator.py [--steps 2000] [--synchronous NORMAL|FULL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from tracehouse.orchestrator import Agent, FakeProvider, ModelRequest, Orchestrator, StateMachine
from tracehouse.orchestrator.state import SQLiteStateStore


class Discard(SpanExporter):
    """Counts spans and drops them: the benchmark measures the orchestrator, not a network."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def work(state: Any) -> dict[str, Any]:
    """The fake agent: a little real work on the state, a new value every step."""
    n = state.get("count", 0) + 1
    return {"count": n, "last": f"step {n}: " + str(sum(range(50)))}


def lookup(n: int) -> dict[str, Any]:
    """The fake tool."""
    return {"n": n, "square": n * n}


def plain(steps: int, calls: bool) -> tuple[float, float]:
    """The same work without the orchestrator: the provider and the tool called directly (wall, CPU seconds)."""
    provider = FakeProvider(default="noted")
    state: dict[str, Any] = {"count": 0}
    t0, c0 = time.perf_counter(), time.process_time()
    while state["count"] < steps:
        if calls:
            provider.complete(ModelRequest("fake-small", [{"role": "user", "content": f"step {state['count']}"}]))
            lookup(state["count"])
        state.update(work(state))
    return time.perf_counter() - t0, time.process_time() - c0


def step_fn(calls: bool) -> Any:
    def run(ctx: Any) -> dict[str, Any]:
        if calls:
            ctx.llm(f"step {ctx.state['count']}", max_tokens=16)
            ctx.tool("lookup", lookup, {"n": ctx.state["count"]})
        return work(ctx.state)

    return run


def orchestrated(steps: int, db: Path, synchronous: str, calls: bool) -> tuple[float, float, int]:
    agent = Agent("worker", step_fn(calls), reads=["count"], writes=["count", "last"])
    machine = StateMachine(
        "loop",
        {"work": agent},
        {"work": ["work", None]},
        lambda state, cur, out: None if state["count"] >= steps else "work",
        start="work",
        max_steps=steps + 1,
    )
    store = SQLiteStateStore(db, synchronous=synchronous)
    orch = Orchestrator("bench.loop", machine, store=store, provider=FakeProvider(default="noted"))
    t0, c0 = time.perf_counter(), time.process_time()
    result = orch.run({"count": 0})
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert result.ok and result.state["count"] == steps, result.error
    checkpoints = len(store.history(result.trace_id))
    store.close()
    return elapsed, cpu, checkpoints


def measure(steps: int, tmp: Path, synchronous: str, calls: bool, runs: int = 3) -> tuple[list[float], list[float]]:
    """Per-step overhead in ms of `runs` runs (each a fresh database): wall times, CPU times."""
    wall, cpu = [], []
    for i in range(runs):
        base_wall, base_cpu = plain(steps, calls)
        orch_wall, orch_cpu, checkpoints = orchestrated(steps, tmp / f"bench-{calls}-{i}.db", synchronous, calls)
        assert checkpoints >= steps
        wall.append((orch_wall - base_wall) / steps * 1000)
        cpu.append((orch_cpu - base_cpu) / steps * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--synchronous", default="NORMAL", choices=["OFF", "NORMAL", "FULL"])
    args = parser.parse_args()
    exporter = Discard()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000))
    trace.set_tracer_provider(provider)
    with tempfile.TemporaryDirectory() as tmp:
        orchestrated(200, Path(tmp) / "warmup.db", args.synchronous, True)
        for calls, label in ((False, "empty step"), (True, "step with 1 model call + 1 tool call")):
            runs, cpu = measure(args.steps, Path(tmp), args.synchronous, calls)
            median = statistics.median(runs)
            print(
                f"{label}: {median:.3f} ms/step overhead (median of 3; runs {', '.join(f'{r:.3f}' for r in runs)}; "
                f"spread {min(runs):.3f}-{max(runs):.3f})  goal <= 1 ms: {'met' if median <= 1 else 'NOT met'}"
            )
            print(
                f"    CPU time: {statistics.median(cpu):.3f} ms/step (median of 3; spread {min(cpu):.3f}-"
                f"{max(cpu):.3f})"
            )
    provider.force_flush()
    print(
        f"steps per run: {args.steps}  SQLite synchronous={args.synchronous}  spans exported: {exporter.count}  "
        f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    provider.shutdown()


if __name__ == "__main__":
    main()
