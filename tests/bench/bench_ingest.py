"""End-to-end ingest benchmark: concurrent OTLP/HTTP senders -> `tracehouse serve` (embedded store) -> queryable.

Reports spans/s accepted (answered 200), spans/s queryable end to end (written to ClickHouse), the server's peak
RSS, and p50 / p95 of the trace-list and trace-detail API calls once the store holds all the spans. Spans are
realistic multi-agent GenAI traces (workflow -> agents -> chat + tool calls, ~14 attributes each); by default
without content capture, as the SDK sends them. Run:

    .venv/bin/python tests/bench/bench_ingest.py [--spans 1000000] [--senders 4] [--batch 500] [--content]
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
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_normalise import T0, build_batch


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


_CONTENT = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"}


def sender(url: str, payloads: list[bytes], ready: mp.Barrier, results: mp.Queue) -> None:  # type: ignore[type-arg]
    client = httpx.Client(headers={"content-type": "application/x-protobuf"}, timeout=60)
    ready.wait()
    spans = retries = 0
    for body in payloads:
        while True:
            r = client.post(url, content=body)
            if r.status_code == 200:
                break
            retries += 1
            time.sleep(float(r.headers.get("retry-after", "0.2")))
        spans += 1
    results.put((spans, retries, time.monotonic()))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--content", action="store_true", help="include prompt/completion content attributes")
    args = parser.parse_args()
    n_requests = args.spans // args.batch
    per_sender = [n_requests // args.senders + (1 if i < n_requests % args.senders else 0) for i in range(args.senders)]

    data_dir = Path(tempfile.mkdtemp(prefix="th-bench-"))
    port, grpc_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracehouse",
            "serve",
            "--no-auth",
            "--port",
            str(port),
            "--grpc-port",
            str(grpc_port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        proc = psutil.Process(server.pid)
        peak = [0]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()

        print(f"building {n_requests} requests of {args.batch} spans ({'with' if args.content else 'without'} content)")
        ready = mp.Barrier(args.senders + 1)
        results: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        workers = []
        for i, count in enumerate(per_sender):
            payloads = make_payloads(count, args.batch, i + 1, args.content)
            w = mp.Process(target=sender, args=(f"{base}/v1/traces", payloads, ready, results))
            w.start()
            workers.append(w)
        ready.wait()
        started = time.monotonic()
        ends, retries = [], 0
        for _ in workers:
            _, r, end = results.get()
            ends.append(end)
            retries += r
        accepted_s = max(ends) - started
        total = n_requests * args.batch
        while written(base) < total:
            time.sleep(0.1)
        queryable_s = time.monotonic() - started
        for w in workers:
            w.join()
        stop.set()

        traces = httpx.get(f"{base}/api/traces", params={"limit": 50}).json()["traces"]
        trace_id = traces[len(traces) // 2]["trace_id"]
        list_p50, list_p95 = timed(lambda: httpx.get(f"{base}/api/traces", params={"limit": 50}), 40)
        agent_p50, agent_p95 = timed(lambda: httpx.get(f"{base}/api/traces", params={"agent": "billing"}), 20)
        one_p50, one_p95 = timed(lambda: httpx.get(f"{base}/api/traces/{trace_id}"), 40)
        stats_p50, stats_p95 = timed(lambda: httpx.get(f"{base}/api/stats/agents"), 10)

        print(f"spans: {total:,} from {args.senders} senders ({retries} retried requests after 503)")
        print(f"accepted (200 OK):        {total / accepted_s:,.0f} spans/s")
        print(f"queryable end to end:     {total / queryable_s:,.0f} spans/s")
        print(f"server peak RSS:          {peak[0] / 2**20:,.0f} MiB")
        print(f"trace list (50)   p50 {list_p50:.1f} ms  p95 {list_p95:.1f} ms   at {total:,} spans")
        print(f"trace list agent  p50 {agent_p50:.1f} ms  p95 {agent_p95:.1f} ms")
        print(f"one trace         p50 {one_p50:.1f} ms  p95 {one_p95:.1f} ms")
        print(f"agent stats 24h   p50 {stats_p50:.1f} ms  p95 {stats_p95:.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
