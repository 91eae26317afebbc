"""Bad bodies get the right answer, and a crash leaves neither tracebacks nor a replay too slow to finish (issue 12,
"Wrong answers": deep JSON, bad gRPC bodies, 50 MB bodies, BrokenPipe after kill, replay in bounded slices)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import grpc
import httpx

from tests.collector.otlp_builders import make_request, make_span
from tests.collector.test_durability import send_traces, stored_spans
from tests.collector.test_receiver_answers import post
from tracehouse.collector.spool import Spool

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def test_deeply_nested_json_is_400(server: Any) -> None:
    r = post(server, b"[" * 100_000 + b"]" * 100_000)
    assert r.status_code == 400 and "nested too deeply" in r.json()["message"]
    value = '{"kvlistValue":{"values":[{"key":"k","value":' * 200 + '{"stringValue":"x"}' + "}]}}" * 200
    body = '{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":' + value + "}]}}]}"
    assert post(server, body.encode()).status_code == 400


def test_bad_grpc_body_is_invalid_argument(server: Any) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        export = channel.unary_unary(_EXPORT)  # raw bytes in and out
        try:
            export(
                b"\x0a\xff\xff\xff\xff\x0f garbage",
                timeout=10,
                metadata=(("authorization", f"Bearer {server.api_key}"),),
            )
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT and "protobuf" in (exc.details() or "")
        else:
            raise AssertionError("a garbage body was accepted")


def test_50_mb_body_is_413_not_a_reset(server: Any) -> None:
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=b"\0" * (50 * 1024 * 1024),
        timeout=60,
        headers={**server.headers, "content-type": "application/x-protobuf"},
    )
    assert r.status_code == 413


def test_kill_9_leaves_no_encoder_tracebacks(make_server: Any) -> None:
    server = make_server()
    send_traces(server, traces=30, spans_per_trace=20)  # keep the encoders busy
    server.kill()
    time.sleep(3)  # the orphaned encoders notice the closed pipe and exit; anything they print lands in the log
    log = server.log()
    assert "Traceback" not in log and "BrokenPipe" not in log, log[-3000:]


def test_crash_loop_makes_progress_through_a_backlog(make_server: Any, tmp_path: Path) -> None:
    """A backlog replayed after each restart, with kill -9 right after the first checkpoint moves: every start
    writes something (bounded slices), and in the end every span is stored once."""
    data = tmp_path / "loop"
    first = make_server(data_dir=data)
    first.stop()
    spool = Spool(data / "spool", max_bytes=1 << 32)
    sent: dict[str, int] = {}
    now = time.time_ns()
    for _ in range(200):
        trace_id = os.urandom(16)
        spans = [
            make_span(
                f"s{i}",
                trace_id=trace_id,
                span_id=os.urandom(8),
                start=now,
                end=now + 1000,
                attrs={"gen_ai.operation.name": "chat", "pad": "x" * 400},
            )
            for i in range(50)
        ]
        spool.append("default", make_request(*spans).SerializeToString())
        sent[trace_id.hex()] = 50
    spool.close()
    checkpoint = data / "spool" / "checkpoint"
    done = 0
    for _ in range(3):
        server = make_server(data_dir=data)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and int(checkpoint.read_text() if checkpoint.exists() else 0) <= done:
            time.sleep(0.05)
        server.kill()
        now_done = int(checkpoint.read_text())
        assert now_done > done, "a start wrote nothing before it was killed"
        done = now_done
    assert done < 200, "the first starts were meant to be killed part-way"
    last = make_server(data_dir=data)
    assert stored_spans(last, list(sent), timeout=90) == sent
