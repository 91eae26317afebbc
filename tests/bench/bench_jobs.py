"""Do the trace finaliser and the detectors keep up with ingest? Writes `--rate` traces a second into an embedded
store for `--seconds` (20 steps each; every `--split`-th trace arrives in two batches a second apart, so the
finaliser has work), runs the finaliser and the detection service as `tracehouse serve` runs them (their own
threads, their default intervals), and measures, per trace, the time from going quiet (its last write) to being
settled (traces written by two batches) and to being scanned by the detectors.

    .venv/bin/python tests/bench/bench_jobs.py [--rate 1000] [--seconds 60] [--runs 3]

Goal: 95 % of traces finalised and scanned within 10 s of going quiet at 1,000 traces/s. Not a test: the numbers
depend on the machine and its load (printed).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_dashboard import trace_steps  # noqa: E402
from tracehouse.collector import finaliser as finaliser_module  # noqa: E402
from tracehouse.collector.finaliser import Finaliser  # noqa: E402
from tracehouse.domain.model import Step  # noqa: E402
from tracehouse.evals.detect import service as detect_module  # noqa: E402
from tracehouse.evals.detect.service import DetectionService  # noqa: E402
from tracehouse.store import Store, insert_steps  # noqa: E402
from tracehouse.store.traces import EndedTrace  # noqa: E402
from tracehouse.store.versions import batch_version  # noqa: E402


class Clocks:
    """When each trace went quiet, was settled and was scanned (monotonic seconds)."""

    def __init__(self) -> None:
        self.quiet: dict[str, float] = {}
        self.settled: dict[str, float] = {}
        self.scanned: dict[str, float] = {}
        self.split: set[str] = set()
        self.lock = threading.Lock()


CLOCKS = Clocks()


def instrument(clocks: Clocks) -> None:
    """Record the moment each trace passes through the finaliser's settle and the detectors' scan."""
    settle, scan = Finaliser._settle, detect_module.scan_traces

    def timed_settle(self: Finaliser, project_id: str, group: list[finaliser_module.Candidate]) -> int:
        n = settle(self, project_id, group)
        now = time.monotonic()
        with clocks.lock:
            for c in group:
                clocks.settled.setdefault(c.trace_id, now)
        return n

    def timed_scan(store: Store, project_id: str, traces: Sequence[EndedTrace], config: object = None) -> object:
        report = scan(store, project_id, traces, config)  # type: ignore[arg-type]
        now = time.monotonic()
        with clocks.lock:
            for t in traces:
                clocks.scanned.setdefault(t.trace_id, now)
        return report

    Finaliser._settle = timed_settle  # type: ignore[method-assign]
    detect_module.scan_traces = timed_scan  # type: ignore[assignment]


def write(store: Store, clocks: Clocks, rate: int, seconds: float, split: int) -> None:
    """`rate` traces a second in ticks of 0.1 s, cloned from a template with fresh trace ids (building Steps from
    scratch is slower than the rate being measured)."""
    rng = random.Random(5)
    tick = 0.1
    per_tick = max(1, int(rate * tick))
    template = [trace_steps(rng, time.time_ns() - 2 * 10**9, uuid.uuid4().hex, 20) for _ in range(per_tick)]
    held: list[list[Step]] = []  # second halves of split traces, written one tick later
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        started = time.monotonic()
        batch: list[Step] = [s for rest in held for s in rest]
        later: list[list[Step]] = []
        whole: list[str] = []
        for steps in template:
            tid = uuid.uuid4().hex
            fresh = [replace(s, trace_id=tid) for s in steps]
            n += 1
            if n % split == 0:
                batch.extend(fresh[:10])
                later.append(fresh[10:])
            else:
                batch.extend(fresh)
                whole.append(tid)
        insert_steps(store, batch, version=batch_version(time.time_ns()), dedup_token=uuid.uuid4().hex)
        now = time.monotonic()
        with clocks.lock:
            for tid in whole:
                clocks.quiet[tid] = now
            for rest in held:
                clocks.quiet[rest[0].trace_id] = now
                clocks.split.add(rest[0].trace_id)
        held = later
        time.sleep(max(0.0, tick - (time.monotonic() - started)))


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def one_run(rate: int, seconds: float, split: int, drain: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    try:
        store = Store(f"chdb://{tmp / 'store'}")
        store.migrate()
        CLOCKS.__init__()  # type: ignore[misc]
        clocks = CLOCKS
        finaliser, detector = Finaliser(store), DetectionService(store, lookback_s=5)
        stop = threading.Event()

        def loop(job: Finaliser | DetectionService) -> None:
            while not stop.is_set():
                job.run_once()
                stop.wait(job.interval_s)

        threads = [threading.Thread(target=loop, args=(j,), daemon=True) for j in (finaliser, detector)]
        for t in threads:
            t.start()
        write(store, clocks, rate, seconds, split)
        time.sleep(drain)
        stop.set()
        for t in threads:
            t.join(30)
        quiet = clocks.quiet
        scan_lag = [clocks.scanned[k] - v for k, v in quiet.items() if k in clocks.scanned]
        settle_lag = [clocks.settled[k] - quiet[k] for k in clocks.split if k in clocks.settled and k in quiet]
        missed_scan = sum(1 for k in quiet if k not in clocks.scanned)
        missed_settle = sum(1 for k in clocks.split if k not in clocks.settled)
        store.close()
        return {
            "traces": len(quiet),
            "written/s": len(quiet) / seconds,
            "scanned p50 s": percentile(scan_lag, 0.5),
            "scanned p95 s": percentile(scan_lag, 0.95) if not missed_scan else float("inf"),
            "not scanned": missed_scan,
            "settled p50 s": percentile(settle_lag, 0.5),
            "settled p95 s": percentile(settle_lag, 0.95) if not missed_settle else float("inf"),
            "not settled": missed_settle,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=1000, help="traces written per second")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--split", type=int, default=5, help="every Nth trace arrives in two batches")
    ap.add_argument("--drain", type=float, default=15.0, help="seconds after the last write before stopping")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    instrument(CLOCKS)
    results: list[dict[str, float]] = []
    for run in range(args.runs):
        print(f"run {run + 1}/{args.runs} (load avg {os.getloadavg()[0]:.1f})", flush=True)
        results.append(one_run(args.rate, args.seconds, args.split, args.drain))
        print("  " + ", ".join(f"{k} {v:.2f}" for k, v in results[-1].items()), flush=True)
    print(f"\nmedian of {args.runs} runs (min-max):")
    for key in results[0]:
        xs = [r[key] for r in results]
        print(f"  {key:16} {statistics.median(xs):9.2f} ({min(xs):.2f}-{max(xs):.2f})")


if __name__ == "__main__":
    main()
