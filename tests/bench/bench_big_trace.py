"""One 100k-step trace: what its first API page, its page view and opening a collapsed subtree cost, in-process and
over HTTP against a real `tracehouse serve`, with the server process tree's peak RSS (server plus its workers).

    .venv/bin/python tests/bench/bench_big_trace.py [--steps 100000] [--runs 3] [--old]

Fills a fresh embedded store (`step_columns` + `Store.insert`) with 2 x (runs + 1) copies of the trace, nested
workflow -> 40 agent runs -> 25 turns -> 10 model/tool calls -> 10 sub-steps with ~200 bytes of content a step, so
each run's "first view" finds nothing cached. Times the reads in-process (TestClient over the same store), then
closes the store, starts `tracehouse serve` on it and times them over HTTP on the other copies. Prints medians with
min-max. `--old` also times the read the API did before it paged (every column of every step, as JSON).
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import ServerProcess, free_port  # noqa: E402
from tests.dashboard.bigtrace import FANOUT_100K, big_trace_steps  # noqa: E402
from tests.dashboard.conftest import build_app  # noqa: E402
from tracehouse.dashboard.api.traces import step_json  # noqa: E402
from tracehouse.domain.tree import TraceTree  # noqa: E402
from tracehouse.store import Store, get_trace_steps, get_trace_summary  # noqa: E402
from tracehouse.store.keys import DEFAULT_PROJECT  # noqa: E402
from tracehouse.store.steps import STEP_COLUMNS, step_columns  # noqa: E402

BATCH = 20_000


def fill(store: Store, n: int, copies: int) -> list[tuple[str, str]]:
    """`copies` traces of `n` steps; for each, its id and the span id of a collapsed agent run (a row a user opens)."""
    out = []
    started = time.perf_counter()
    for seed in range(copies):
        trace_id = uuid.uuid4().hex
        steps = big_trace_steps(DEFAULT_PROJECT, trace_id, time.time_ns() - 3600 * 10**9, n, FANOUT_100K, seed=seed)
        for i in range(0, len(steps), BATCH):
            batch = steps[i : i + BATCH]
            store.insert("steps", step_columns(batch, 1), STEP_COLUMNS, dedup_token=uuid.uuid4().hex)
        tree = TraceTree(steps)
        runs = tree.children[tree.roots[0]]
        out.append((trace_id, runs[len(runs) // 2]))
    print(f"filled {copies} traces of {n:,} steps in {time.perf_counter() - started:.1f} s", flush=True)
    return out


def reads(get: Callable[[str], Any], traces: list[tuple[str, str]]) -> None:
    """Per trace (the first only warms up): its first API page, its first page view (nothing cached), opening a
    collapsed agent run, and the page viewed again."""
    names = [
        "GET /api/traces/{id} (first page, 2000 steps)",
        "GET /traces/{id} (first view)",
        "GET /api/traces/{id}/children/{agent run}",
        "GET /traces/{id} (viewed again)",
    ]
    times: dict[str, list[float]] = {k: [] for k in names}
    sizes: dict[str, int] = {}
    for n, (trace_id, run) in enumerate(traces):
        paths = [
            f"/api/traces/{trace_id}",
            f"/traces/{trace_id}",
            f"/api/traces/{trace_id}/children/{run}",
            f"/traces/{trace_id}",
        ]
        for name, path in zip(names, paths, strict=True):
            t = time.perf_counter()
            r = get(path)
            elapsed = (time.perf_counter() - t) * 1000
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            if n:
                times[name].append(elapsed)
                sizes[name] = len(r.content)
    for name in names:
        ts = times[name]
        print(
            f"  {name:48} median {statistics.median(ts):8.1f} ms  ({min(ts):.1f}-{max(ts):.1f})"
            f"  {sizes[name] / 1024:8.1f} KiB",
            flush=True,
        )


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of a process and all its children (the server's encoder workers)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker that exited between the two calls
            total += p.memory_info().rss
    return total


class PeakRss:
    """Samples the RSS of a process and all its children every 50 ms; `peak` is the largest sum seen."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.proc))
            time.sleep(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--old", action="store_true", help="also time the unpaged read (every column of every step)")
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-bigtrace-"))
    store = Store(f"chdb://{data_dir / 'clickhouse'}")
    store.migrate()
    traces = fill(store, args.steps, 2 * args.runs + 2)
    inproc, http_traces = traces[: args.runs + 1], traces[args.runs + 1 :]
    trace_id = traces[0][0]

    print(f"in-process (TestClient), {args.runs} runs each (one trace each):")
    app = build_app(store, data_dir / "inproc")
    key, _ = app.state.keyring.create(DEFAULT_PROJECT, "bench")
    with TestClient(app) as client:
        client.cookies.set("tracehouse_key", key)
        reads(client.get, inproc)
    if args.old:
        summary = get_trace_summary(store, DEFAULT_PROJECT, trace_id)
        assert summary is not None

        t = time.perf_counter()
        steps = get_trace_steps(store, DEFAULT_PROJECT, trace_id, around=(summary.start_time, summary.end_time))
        size = len(json.dumps([step_json(s) for s in steps]))
        print(
            f"  unpaged read (every column of every step, as JSON; one run): "
            f"{(time.perf_counter() - t) * 1000:.0f} ms, {size / 2**20:.1f} MiB"
        )
    store.close()

    server = ServerProcess(data_dir=data_dir, port=free_port(), grpc_port=free_port())
    server.start(timeout=120)
    assert server.proc is not None
    try:
        idle = tree_rss(psutil.Process(server.proc.pid))
        rss = PeakRss(server.proc.pid)
        print(f"over HTTP (tracehouse serve), {args.runs} runs each (one trace each):")
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as http:
            reads(http.get, http_traces)
            clicks = rss.stop()
            rss = PeakRss(server.proc.pid)
            t = time.perf_counter()
            pages, cursor, total = 0, None, 0
            while True:
                params: dict[str, str | int] = {"limit": 10000}
                if cursor:
                    params["cursor"] = cursor
                body = http.get(f"/api/traces/{trace_id}", params=params).json()
                pages, total, cursor = pages + 1, total + len(body["steps"]), body["next_cursor"]
                if cursor is None:
                    break
            walk = time.perf_counter() - t
        pages_peak = rss.stop()
        print(f"  every step through the API: {total:,} steps in {pages} pages of 10000, {walk:.1f} s (one run)")
        print(
            f"server process tree RSS: {idle / 2**20:.0f} MiB after start; peak {clicks / 2**20:.0f} MiB during the"
            f" reads above, {pages_peak / 2**20:.0f} MiB while paging through every step"
        )
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
