"""A full disk under the spool: appends land whole or not at all, ingest answers 503 + Retry-After (gRPC UNAVAILABLE
+ RetryInfo), /readyz says not ready, and what is acked once space returns survives kill -9 (issue 12, item 2).

The disk is real: a small tmpfs mounted by the test (root only; skipped with the reason otherwise).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from tests.collector.otlp_builders import make_request, make_span
from tests.collector.test_durability import send_traces, stored_spans
from tests.collector.test_receiver_answers import json_span, otlp_json, post
from tracehouse.collector.spool import Record, Spool, SpoolWriteFailed, encode_record


@contextlib.contextmanager
def small_fs(directory: Path, size: str) -> Iterator[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fill(path: Path, leave: int = 0) -> None:
    """Write `path` until the file system is full, then give back `leave` bytes (whole pages)."""
    chunk = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        os.ftruncate(fd, max(os.fstat(fd).st_size - leave, 0))
    finally:
        os.close(fd)


def assert_grpc_unavailable_with_retry_info(port: int, key: str) -> None:
    """OTLP/gRPC's equivalent of 503 + Retry-After: UNAVAILABLE with a RetryInfo in the status details."""
    now = time.time_ns()
    request = make_request(make_span("refused", trace_id=os.urandom(16), span_id=os.urandom(8), start=now, end=now))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as failure:
        TraceServiceStub(channel).Export(request, timeout=10, metadata=(("authorization", f"Bearer {key}"),))
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    status = Status.FromString(dict(failure.value.trailing_metadata() or ())["grpc-status-details-bin"])
    retry = RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds > 0


def test_append_that_hits_a_full_disk_is_cut_back_and_later_appends_survive_reopen(tmp_path: Path) -> None:
    with small_fs(tmp_path / "fs", "1m") as fs:
        spool = Spool(fs / "spool", max_bytes=1 << 30, min_free_bytes=0)
        overhead = len(encode_record(Record(0, "p", b"")))
        first = b"a" * (4096 - overhead)  # one whole page: no slack after it, so the next record must find new pages
        assert spool.append("p", first) == 1
        segment = sorted((fs / "spool").glob("seg-*.log"))[-1]
        fill(fs / "ballast", leave=8192)
        free = spool.free_bytes()
        assert 0 < free <= 8192
        with pytest.raises(SpoolWriteFailed, match="No space left"):
            spool.append("p", b"x" * free)  # passes the free-space check; its header does not fit
        assert segment.stat().st_size == 4096  # the half-written record was cut back
        assert not spool.problems()[0]
        (fs / "ballast").unlink()
        assert spool.append("p", b"after") == 2
        spool.close()
        reopened = Spool(fs / "spool", max_bytes=1 << 30)
        assert [(r.seq, r.payload) for r in reopened.read(0, 10, 1 << 30)] == [(1, first), (2, b"after")]
        reopened.close()


def test_disk_full_answers_503_and_requests_acked_after_space_returns_survive_kill_9(
    make_server: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with small_fs(data / "spool", "2m") as spool_dir:
        env = {"TRACEHOUSE_SPOOL_MIN_FREE_BYTES": "0", "TRACEHOUSE_SPOOL_SEGMENT_BYTES": str(64 * 1024)}
        server = make_server(data_dir=data, env=env)
        before = send_traces(server, traces=5, spans_per_trace=5)
        assert len(before) == 5

        fill(spool_dir / "ballast")
        body = otlp_json([json_span(os.urandom(16).hex(), os.urandom(8).hex(), "refused")])
        r = post(server, json.dumps(body).encode())
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0, r.text
        assert_grpc_unavailable_with_retry_info(server.grpc_port, server.api_key)
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "not ready", ready.text

        (spool_dir / "ballast").unlink()
        after = send_traces(server, traces=10, spans_per_trace=5)
        assert len(after) == 10
        assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
        server.kill()

        again = make_server(data_dir=data, env=env)
        sent = {**before, **after}
        assert stored_spans(again, list(sent)) == sent
        again.stop()
