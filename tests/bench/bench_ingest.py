"""End-to-end ingest benchmark: concurrent OTLP/HTTP senders -> `tracehouse serve` (embedded store) -> queryable.

Per run, a fresh server on an empty data directory; per mode (with and without content capture) `--runs` runs, and
the medians with their spread (min-max). Reported per run: spans/s accepted (answered 200), spans/s queryable end to
end (written to ClickHouse), the peak RSS of the whole server process tree (the server plus its encoder workers,
summed at each sample), and its CPU per span (user + system of every process in the tree). Spans are realistic
multi-agent GenAI traces (workflow -> agents -> chat + tool calls); with content, chat spans carry ~500 bytes of
messages and tools their arguments and result (~800 bytes a span on the wire); without, as the SDK sends them by
default (a content hash instead). `--reads` also times the trace list and one trace over HTTP after the load. Run:

    .venv/bin/python tests/bench/bench_ingest.py [--spans 300000] [--runs 3] [--mode both|content|plain]
        [--senders 4] [--batch 500] [--reads]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_normalise import T0, build_batch

_CONTENT = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_payloads(n_requests: int, batch: int, seed: int, content: bool) -> list[bytes]:
    out = []
    rng = random.Random(seed)
    shift = time.time_ns() - 3600 * 10**9 - T0  # within the last hour, so retention keeps it
    for i in range(n_requests):
        request = build_batch(batch, seed * 1_000_003 + i)
        instance = request.resource_spans[0].resource.attributes.add()  # each sender is its own service instance
        instance.key, instance.value.string_value = "service.instance.id", f"sender-{seed}"
        for span in request.resource_spans[0].scope_spans[0].spans:
            span.start_time_unix_nano += shift
            span.end_time_unix_nano += shift
            if not content:
                keep = [kv for kv in span.attributes if kv.key not in _CONTENT]
                del span.attributes[:]
                span.attributes.extend(keep)
                hash_kv = span.attributes.add()
                hash_kv.key = "tracehouse.content.hash"
                hash_kv.value.string_value = f"{rng.getrandbits(128):032x}"
        out.append(request.SerializeToString())
    return out


def sender(url: str, payloads: list[bytes], ready: mp.Barrier, results: mp.Queue) -> None:  # type: ignore[type-arg]
    client = httpx.Client(headers={"content-type": "application/x-protobuf"}, timeout=60)
    ready.wait()
    retries = 0
    for body in payloads:
        while True:
            r = client.post(url, content=body)
            if r.status_code == 200:
                break
            retries += 1
            time.sleep(float(r.headers.get("retry-after", "0.2")))
    results.put((retries, time.monotonic()))


def written(base: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("tracehouse_spans_written_total"):
            return float(line.split()[-1])
    return 0.0


def timed(fn, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), statistics.quantiles(samples, n=20)[18]


class TreeWatch:
    """Samples a process and all its descendants: peak of the summed RSS, and each process's last CPU times (a
    process that exits keeps its last sample, so its CPU is still counted)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.peak_by_pid: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        rss = 0
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        self.processes = max(self.processes, len(tree))
        for proc in tree:
            try:
                with proc.oneshot():
                    one = proc.memory_info().rss
                    rss += one
                    self.peak_by_pid[proc.pid] = max(self.peak_by_pid.get(proc.pid, 0), one)
                    t = proc.cpu_times()
                    self.cpu[proc.pid] = t.user + t.system
            except psutil.NoSuchProcess:
                continue
        self.peak_rss = max(self.peak_rss, rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())


@dataclass
class Run:
    accepted: float  # spans/s
    queryable: float  # spans/s
    peak_rss_mib: float
    cpu_us_per_span: float
    retries: int
    processes: int
    server_peak_mib: float  # the server process alone (HTTP, spool, writer, embedded ClickHouse)


def one_run(args: argparse.Namespace, payloads: list[list[bytes]], reads: bool) -> Run:
    data_dir = Path(tempfile.mkdtemp(prefix="th-bench-"))
    port, grpc_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tracehouse", "serve", "--no-auth", "--port", str(port)]
    command += ["--grpc-port", str(grpc_port), "--data-dir", str(data_dir)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        watch = TreeWatch(server.pid)
        ready = mp.Barrier(len(payloads) + 1)
        results: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        workers = [mp.Process(target=sender, args=(f"{base}/v1/traces", p, ready, results)) for p in payloads]
        for w in workers:
            w.start()
        watch.start()
        cpu_before = sum(p.cpu_times().user + p.cpu_times().system for p in [watch.root, *watch.root.children(True)])
        ready.wait()
        started = time.monotonic()
        ends, retries = [], 0
        for _ in workers:
            r, end = results.get()
            ends.append(end)
            retries += r
        accepted_s = max(ends) - started
        total = sum(len(p) for p in payloads) * args.batch
        while written(base) < total:
            time.sleep(0.05)
        queryable_s = time.monotonic() - started
        watch.stop()
        for w in workers:
            w.join()
        run = Run(
            accepted=total / accepted_s,
            queryable=total / queryable_s,
            peak_rss_mib=watch.peak_rss / 2**20,
            cpu_us_per_span=(watch.cpu_seconds - cpu_before) / total * 1e6,
            retries=retries,
            processes=watch.processes,
            server_peak_mib=watch.peak_by_pid.get(server.pid, 0) / 2**20,
        )
        if reads:
            print_reads(base, total)
        return run
    finally:
        server.terminate()
        server.wait(timeout=120)


def print_reads(base: str, total: int) -> None:
    traces = httpx.get(f"{base}/api/traces", params={"limit": 50}).json()["traces"]
    trace_id = traces[len(traces) // 2]["trace_id"]
    list_p50, list_p95 = timed(lambda: httpx.get(f"{base}/api/traces", params={"limit": 50}), 40)
    one_p50, one_p95 = timed(lambda: httpx.get(f"{base}/api/traces/{trace_id}"), 40)
    print(f"    trace list (50)  p50 {list_p50:.1f} ms  p95 {list_p95:.1f} ms   at {total:,} spans")
    print(f"    one trace        p50 {one_p50:.1f} ms  p95 {one_p95:.1f} ms")


def spread(values: list[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mode", choices=("both", "content", "plain"), default="both")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--reads", action="store_true", help="time the trace list and one trace after each load")
    args = parser.parse_args()
    n_requests = args.spans // args.batch
    per_sender = [n_requests // args.senders + (1 if i < n_requests % args.senders else 0) for i in range(args.senders)]
    modes = {"both": (True, False), "content": (True,), "plain": (False,)}[args.mode]
    load = psutil.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {psutil.cpu_count()} cores")
    for content in modes:
        label = "with content" if content else "without content"
        payloads = [make_payloads(count, args.batch, i + 1, content) for i, count in enumerate(per_sender)]
        wire = sum(len(b) for p in payloads for b in p) / (n_requests * args.batch)
        print(f"{label}: {n_requests * args.batch:,} spans, {wire:.0f} bytes/span on the wire, {args.senders} senders")
        runs = []
        for i in range(args.runs):
            run = one_run(args, payloads, args.reads)
            runs.append(run)
            print(
                f"  run {i + 1}: accepted {run.accepted:,.0f}/s, queryable {run.queryable:,.0f}/s, "
                f"tree peak RSS {run.peak_rss_mib:,.0f} MiB ({run.processes} processes; server alone "
                f"{run.server_peak_mib:,.0f}), "
                f"CPU {run.cpu_us_per_span:.0f} us/span, {run.retries} retried requests"
            )
        print(f"  {label}, median (min-max) of {len(runs)} runs:")
        print(f"    accepted (200 OK)     {spread([r.accepted for r in runs])} spans/s")
        print(f"    queryable end to end  {spread([r.queryable for r in runs])} spans/s")
        print(f"    process tree peak RSS {spread([r.peak_rss_mib for r in runs])} MiB")
        print(f"    process tree CPU      {spread([r.cpu_us_per_span for r in runs])} us/span")
    load = psutil.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
