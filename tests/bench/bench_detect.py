"""Benchmark (a script, not a test): detector throughput over stored traces, and alert-rule evaluation time with
1M steps stored in an embedded store.

    .venv/bin/python tests/bench/bench_detect.py [--steps 1000000] [--traces-to-scan 5000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.evals.alerting import AlertEngine, RulesFile
from tracehouse.evals.detect import scan_traces
from tracehouse.store import Store, insert_steps
from tracehouse.store.traces import traces_ended

PROJECT = "bench"
STEPS_PER_TRACE = 20


def _trace(rng: random.Random, t0: int) -> list[Step]:
    trace_id = uuid.uuid4().hex
    agents = ["planner", "researcher", "writer", "critic"]
    root = Step(
        PROJECT,
        trace_id,
        uuid.uuid4().hex[:16],
        "",
        t0,
        t0 + 5_000_000_000,
        "invoke_workflow",
        step_type=StepType.WORKFLOW,
        status=Status.OK,
    )
    steps = [root]
    storm = rng.random() < 0.05
    for i in range(STEPS_PER_TRACE - 1):
        agent = agents[i % 4]
        start = t0 + (i + 1) * 200_000_000
        attempt = (i % 4) + 1 if storm and i < 8 else 1
        steps.append(
            Step(
                PROJECT,
                trace_id,
                uuid.uuid4().hex[:16],
                root.span_id,
                start,
                start + 150_000_000,
                f"chat {agent}",
                status=Status.ERROR if attempt < 4 and storm and i < 8 else Status.OK,
                agent=agent,
                operation="chat",
                step_type=StepType.LLM if i % 3 else StepType.TOOL,
                provider="openai",
                request_model="gpt-4o-mini",
                input_tokens=200,
                output_tokens=50,
                cost_usd=0.0002,
                tool_name="" if i % 3 else "search",
                retry_attempt=attempt,
                content_hash=f"{trace_id}{i // 4 if storm else i}",
            )
        )
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--traces-to-scan", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(7)
    store = Store(f"chdb://{tempfile.mkdtemp(prefix='bench-detect-')}")
    store.migrate()
    now = datetime.now(UTC)
    n_traces = args.steps // STEPS_PER_TRACE
    span_ns = int(timedelta(hours=2).total_seconds() * 1e9)
    t_start = int((now - timedelta(hours=2)).timestamp() * 1e9)
    started = time.perf_counter()
    batch: list[Step] = []
    for i in range(n_traces):
        batch.extend(_trace(rng, t_start + (i * span_ns) // n_traces))
        if len(batch) >= 100_000:
            insert_steps(store, batch, version=1, dedup_token=uuid.uuid4().hex)
            batch = []
    insert_steps(store, batch, version=1, dedup_token=uuid.uuid4().hex)
    print(f"stored {n_traces * STEPS_PER_TRACE:,} steps in {n_traces:,} traces: {time.perf_counter() - started:.1f} s")

    traces = traces_ended(store, now - timedelta(hours=3), now, scope=PROJECT, limit=args.traces_to_scan)
    started = time.perf_counter()
    report = scan_traces(store, PROJECT, traces)
    took = time.perf_counter() - started
    rate = f"{report.traces / took:,.0f} traces/s ({report.steps / took:,.0f} steps/s)"
    print(
        f"detectors: {report.traces:,} traces / {report.steps:,} steps in {took:.2f} s = {rate}, "
        f"{len(report.findings)} findings"
    )

    config = RulesFile.model_validate(
        {
            "include_defaults": True,
            "rules": [
                {
                    "name": "errors-by-agent",
                    "metric": "error_rate",
                    "threshold": 0.5,
                    "window": "1h",
                    "group_by": "agent",
                },
                {"name": "p95", "metric": "p95_latency_ms", "threshold": 10_000, "window": "1h", "group_by": "model"},
                {"name": "amplification", "metric": "retry_amplification", "threshold": 2, "window": "30m"},
            ],
        }
    )
    engine = AlertEngine(store, config)
    engine.evaluate_all_projects(now)  # warm-up (loads state)
    for rule in engine.file_rules:
        single = AlertEngine(store, RulesFile.model_validate({"include_defaults": False, "rules": [rule.to_json()]}))
        single.load()
        best = min(_timed(lambda single=single: single.evaluate_all_projects(now)) for _ in range(3))
        print(f"rule {rule.name:<20} {rule.describe():<60} {best * 1000:7.1f} ms")
    whole = min(_timed(lambda: engine.evaluate_all_projects(now)) for _ in range(3))
    print(f"all {len(engine.file_rules)} rules in one pass: {whole * 1000:.1f} ms")
    store.close()


def _timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
