"""Orchestration overhead per step: state write + checkpoint (SQLite, one transaction) + span, against calling the same
fake agent in a plain loop. A script, not a test:

    .venv/bin/python tests/bench/bench_orchestrator.py [--steps 3000] [--synchronous NORMAL|FULL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from tracehouse.orchestrator import Agent, FakeProvider, Orchestrator, StateMachine
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


def plain(steps: int) -> float:
    state: dict[str, Any] = {"count": 0}
    t0 = time.perf_counter()
    while state["count"] < steps:
        state.update(work(state))
    return time.perf_counter() - t0


def orchestrated(steps: int, db: Path, synchronous: str) -> tuple[float, int]:
    agent = Agent("worker", lambda ctx: work(ctx.state), reads=["count"], writes=["count", "last"])
    machine = StateMachine(
        "loop",
        {"work": agent},
        {"work": ["work", None]},
        lambda state, cur, out: None if state["count"] >= steps else "work",
        start="work",
        max_steps=steps + 1,
    )
    store = SQLiteStateStore(db, synchronous=synchronous)
    orch = Orchestrator("bench.loop", machine, store=store, provider=FakeProvider())
    t0 = time.perf_counter()
    result = orch.run({"count": 0})
    elapsed = time.perf_counter() - t0
    assert result.ok and result.state["count"] == steps, result.error
    checkpoints = len(store.history(result.trace_id))
    store.close()
    return elapsed, checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--synchronous", default="NORMAL", choices=["OFF", "NORMAL", "FULL"])
    args = parser.parse_args()
    exporter = Discard()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000))
    trace.set_tracer_provider(provider)
    with tempfile.TemporaryDirectory() as tmp:
        orchestrated(200, Path(tmp) / "warmup.db", args.synchronous)
        base = plain(args.steps)
        orch, checkpoints = orchestrated(args.steps, Path(tmp) / "bench.db", args.synchronous)
    provider.force_flush()
    per_step_ms = (orch - base) / args.steps * 1000
    print(f"steps: {args.steps}  checkpoints: {checkpoints}  spans exported: {exporter.count}")
    print(f"plain loop: {base * 1000:.1f} ms  ({base / args.steps * 1e6:.2f} µs/step)")
    print(
        f"orchestrated (SQLite synchronous={args.synchronous}): {orch * 1000:.1f} ms "
        f"({orch / args.steps * 1000:.3f} ms/step)"
    )
    print(
        f"overhead per step: {per_step_ms:.3f} ms   ratio orchestrated/plain: {orch / base:.0f}x   "
        f"goal < 1 ms/step: {'met' if per_step_ms < 1 else 'NOT met'}"
    )
    provider.shutdown()


if __name__ == "__main__":
    main()
