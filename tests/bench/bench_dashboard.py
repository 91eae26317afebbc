"""Dashboard server time at volume: fills an embedded store with 1M steps (50k traces of 20 steps over 7 days, 6 agents,
4 models), then times every page and JSON twin in-process (TestClient) and prints p50 / p95 per route.

    .venv/bin/python tests/bench/bench_dashboard.py [--steps 1000000] [--requests 40]

The goal is p95 < 200 ms per page. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.dashboard.conftest import build_app  # noqa: E402
from tracehouse.domain.model import Status, Step, StepType  # noqa: E402
from tracehouse.store import Store, insert_steps  # noqa: E402

AGENTS = ["planner", "researcher", "coder", "reviewer", "router", "writer"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "unpriced-local"]
PROJECT = "bench"


def trace_steps(rng: random.Random, t0: int, trace_id: str, n: int) -> list[Step]:
    """A workflow -> agents -> llm/tool tree of n steps."""
    ms = 1_000_000
    steps = [
        Step(
            PROJECT,
            trace_id,
            uuid.uuid4().hex[:16],
            "",
            t0,
            t0 + 4000 * ms,
            "bench run",
            service="bench",
            step_type=StepType.WORKFLOW,
            operation="invoke_workflow",
            workflow="bench",
            status=Status.OK,
        )
    ]
    agent_step = steps[0]
    for i in range(1, n):
        if i % 5 == 1:
            a = AGENTS[rng.randrange(len(AGENTS))]
            agent_step = Step(
                PROJECT,
                trace_id,
                uuid.uuid4().hex[:16],
                steps[0].span_id,
                t0 + i * 190 * ms,
                t0 + i * 190 * ms + 900 * ms,
                f"invoke_agent {a}",
                service="bench",
                agent=a,
                step_type=StepType.AGENT,
                operation="invoke_agent",
                status=Status.OK,
            )
            steps.append(agent_step)
            continue
        llm = rng.random() < 0.6
        model = MODELS[rng.randrange(len(MODELS))]
        start = agent_step.start_time_ns + (i % 5) * 150 * ms
        steps.append(
            Step(
                PROJECT,
                trace_id,
                uuid.uuid4().hex[:16],
                agent_step.span_id,
                start,
                start + rng.randrange(20, 140) * ms,
                f"chat {model}" if llm else "execute_tool search",
                service="bench",
                agent=agent_step.agent,
                step_type=StepType.LLM if llm else StepType.TOOL,
                operation="chat" if llm else "execute_tool",
                request_model=model if llm else "",
                input_tokens=rng.randrange(100, 3000) if llm else None,
                output_tokens=rng.randrange(10, 500) if llm else None,
                cost_usd=(rng.random() / 100 if model != "unpriced-local" else None) if llm else None,
                tool_name="" if llm else "search",
                status=Status.ERROR if rng.random() < 0.02 else Status.OK,
                retry_attempt=2 if rng.random() < 0.03 else 0,
                attributes={"bench.i": str(i)},
            )
        )
    return steps


def fill(store: Store, total: int, per_trace: int = 20, days: int = 7) -> list[str]:
    rng = random.Random(7)
    now = time.time_ns()
    span = days * 86400 * 1_000_000_000
    ids: list[str] = []
    batch: list[Step] = []
    version = 0
    started = time.perf_counter()
    for _ in range(total // per_trace):
        tid = uuid.uuid4().hex
        ids.append(tid)
        batch.extend(trace_steps(rng, now - rng.randrange(span), tid, per_trace))
        if len(batch) >= 100_000:
            version += 1
            insert_steps(store, batch, version=version, dedup_token=uuid.uuid4().hex)
            batch = []
    if batch:
        insert_steps(store, batch, version=version + 1, dedup_token=uuid.uuid4().hex)
    print(f"filled {total:,} steps ({len(ids):,} traces) in {time.perf_counter() - started:.1f} s", flush=True)
    return ids


def settle(store: Store, timeout: float) -> None:
    """Bring the store to the shape a server that has been ingesting for days has: every past day merged (a bulk
    load leaves dozens of overlapping parts per day, which no long-running server has), today's parts left to the
    background merges for at most `timeout` seconds."""
    if timeout <= 0:
        return
    past = store.rows(
        "SELECT DISTINCT partition_id FROM system.parts WHERE active AND database = {d:String} AND table = 'steps'"
        " AND max_date < today()",
        {"d": store.database},
    )
    for row in past:
        store.command(f"OPTIMIZE TABLE {{db}}.steps PARTITION ID '{row['partition_id']}' FINAL")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and store.rows("SELECT count() AS n FROM system.merges")[0]["n"]:
        time.sleep(1)
    parts = store.rows(
        "SELECT count() AS n FROM system.parts WHERE active AND database = {d:String} AND table = 'steps'",
        {"d": store.database},
    )[0]["n"]
    print(f"past days merged; steps in {parts} active parts when timing started")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument(
        "--settle",
        type=float,
        default=120.0,
        help="merge past days, then wait up to this long for today's merges (0: no settling)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dash-"))
    store = Store(f"chdb://{tmp / 'store'}")
    store.migrate()
    ids = fill(store, args.steps)
    settle(store, args.settle)
    app = build_app(store, tmp / "data")
    key, _ = app.state.keyring.create(PROJECT, "bench")
    client = TestClient(app)
    client.cookies.set("tracehouse_key", key)
    rng = random.Random(1)
    routes = {
        "/ (traces, 24h)": lambda: "/",
        "/?range=7d": lambda: "/?range=7d",
        "/?agent=coder&status=error": lambda: "/?agent=coder&status=error&range=7d",
        "/?sort=cost (7d)": lambda: "/?sort=cost&range=7d",
        "/traces/{id}": lambda: f"/traces/{rng.choice(ids)}",
        "/agents (24h)": lambda: "/agents",
        "/agents?agent=coder": lambda: "/agents?agent=coder&by=slowest",
        "/agents?range=7d": lambda: "/agents?range=7d",
        "/models (24h)": lambda: "/models",
        "/models?range=7d": lambda: "/models?range=7d",
        "/evals": lambda: "/evals",
        "/alerts": lambda: "/alerts",
        "/api/traces": lambda: "/api/traces?range=24h",
        "/api/traces/{id}/analysis": lambda: f"/api/traces/{rng.choice(ids)}/analysis",
        "/api/agents": lambda: "/api/agents",
        "/api/models": lambda: "/api/models",
    }
    print(f"{'route':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, make in routes.items():
        client.get(make())  # warm caches
        times = []
        for _ in range(args.requests):
            t = time.perf_counter()
            r = client.get(make())
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (name, r.status_code, r.text[:200])
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        flag = "" if p95 < 200 else "  <-- over 200 ms"
        print(f"{name:34} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}{flag}", flush=True)
    store.close()


if __name__ == "__main__":
    main()
