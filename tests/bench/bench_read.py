"""The clicks users make most, over HTTP against a real `tracehouse serve`: the trace list (50), one trace's steps, and
the trace page, at 20k and at 1M stored steps, right after a bulk load (merges still running) and once settled.

    .venv/bin/python tests/bench/bench_read.py [--steps 20000 1000000] [--runs 3] [--requests 60] [--settle 60]

Each run fills a fresh embedded store directly (50k traces of 20 steps over 7 days for 1M), starts `serve` on it,
and times each route `--requests` times. Printed per route: the median over the runs of each run's p50 and p95, with
the spread (min-max), and the peak RSS / CPU of the server's whole process tree. Not a test: numbers depend on the
machine and its load (printed).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_dashboard import PROJECT, fill  # noqa: E402
from tests.conftest import ServerProcess, free_port  # noqa: E402
from tracehouse.store import Store  # noqa: E402
from tracehouse.store.keys import KeyRing  # noqa: E402


def tree_rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def tree_cpu_s(pid: int) -> float:
    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def time_route(client: httpx.Client, make: Callable[[], str], n: int) -> tuple[float, float]:
    client.get(make())  # warm
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(make())
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (r.status_code, r.text[:300])
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def one_run(steps: int, requests: int, settle: float) -> tuple[dict[str, tuple[float, float]], float, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-read-"))
    data = tmp / "data"
    try:
        store = Store(f"chdb://{data / 'clickhouse'}")
        store.migrate()
        ids = fill(store, steps)
        key, _ = KeyRing(store).create(PROJECT, "bench")
        store.close()
        server = ServerProcess(data, free_port(), free_port()).start(timeout=180)
        assert server.proc is not None
        pid = server.proc.pid
        peak, cpu0 = tree_rss_mb(pid), tree_cpu_s(pid)
        rng = random.Random(1)
        routes: dict[str, Callable[[], str]] = {
            "/api/traces?limit=50": lambda: "/api/traces?limit=50",
            "/api/traces/{id}": lambda: f"/api/traces/{rng.choice(ids)}",
            "/traces/{id} (page)": lambda: f"/traces/{rng.choice(ids)}",
        }
        out: dict[str, tuple[float, float]] = {}
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            client.cookies.set("tracehouse_key", key)
            for phase in ("fresh", "settled"):
                if phase == "settled":
                    time.sleep(settle)
                for name, make in routes.items():
                    out[f"{name} [{phase}]"] = time_route(client, make, requests)
                    peak = max(peak, tree_rss_mb(pid))
        cpu = tree_cpu_s(pid) - cpu0
        server.stop()
        return out, peak, cpu
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, nargs="+", default=[20_000, 1_000_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--settle", type=float, default=60.0, help="seconds between the fresh and the settled timings")
    args = ap.parse_args()
    for steps in args.steps:
        p50s: dict[str, list[float]] = defaultdict(list)
        p95s: dict[str, list[float]] = defaultdict(list)
        peaks, cpus = [], []
        for run in range(args.runs):
            print(f"{steps:,} steps, run {run + 1}/{args.runs} (load avg {os.getloadavg()[0]:.1f})", flush=True)
            out, peak, cpu = one_run(steps, args.requests, args.settle)
            peaks.append(peak)
            cpus.append(cpu)
            for name, (p50, p95) in out.items():
                p50s[name].append(p50)
                p95s[name].append(p95)
        print(f"\n{steps:,} steps: median of {args.runs} runs (min-max), ms")
        print(f"{'route':36} {'p50':>20} {'p95':>20}")
        for name in p50s:
            a, b = p50s[name], p95s[name]
            print(
                f"{name:36} {statistics.median(a):7.1f} ({min(a):.1f}-{max(a):.1f})"
                f" {statistics.median(b):7.1f} ({min(b):.1f}-{max(b):.1f})"
            )
        print(
            f"server process tree: peak RSS {statistics.median(peaks):.0f} MiB ({min(peaks):.0f}-{max(peaks):.0f}),"
            f" CPU while timing {statistics.median(cpus):.1f} s\n",
            flush=True,
        )


if __name__ == "__main__":
    main()
