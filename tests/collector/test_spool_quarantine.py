"""A record the writer cannot write goes to quarantine with a metric and a /readyz line, never blocks what follows,
and `tracehouse spool list|show|replay|drop` inspect and replay it (issue 12, item 1, second half)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.collector.otlp_builders import make_request, make_span
from tests.collector.test_durability import stored_spans
from tracehouse.collector.quarantine import Quarantine
from tracehouse.collector.spool import Record, Spool

_GARBAGE = b"\x0a\xff\xff\xff\xff\x0f not a protobuf"


def spool_cmd(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracehouse", "spool", *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _request(trace_id: bytes, spans: int) -> bytes:
    now = time.time_ns()
    made = (
        make_span(f"s{i}", trace_id=trace_id, span_id=os.urandom(8), start=now, end=now + 10**6) for i in range(spans)
    )
    return make_request(*made).SerializeToString()


def test_poison_record_is_quarantined_reported_and_replayable(make_server: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_server(data_dir=data).stop()  # a store, a key and an empty spool
    spool = Spool(data / "spool", max_bytes=1 << 30)
    sent: dict[str, int] = {}
    for i in range(6):
        if i == 2:
            poison = spool.append("default", _GARBAGE)
        trace_id = os.urandom(16)
        spool.append("default", _request(trace_id, 4))
        sent[trace_id.hex()] = 4
    spool.close()

    server = make_server(data_dir=data, env={"TRACEHOUSE_WRITER_MAX_ATTEMPTS": "2"})
    assert stored_spans(server, list(sent)) == sent  # the records behind the poison one are written
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and any("quarantine" in p for p in ready["problems"]), ready
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "tracehouse_spool_quarantined_records_total 1.0" in metrics
    in_use = spool_cmd(data, "replay", "--all")
    assert in_use.returncode == 1 and "stop `tracehouse serve` first" in in_use.stderr
    server.stop()

    listed = spool_cmd(data, "list")
    header, row = listed.stdout.splitlines()
    assert listed.returncode == 0 and header.split()[0] == "SEQ" and row.split()[0] == str(poison), listed
    [record] = json.loads(spool_cmd(data, "list", "--json").stdout)["records"]
    assert record["seq"] == poison and record["project"] == "default" and "DecodeError" in record["why"]
    shown = json.loads(spool_cmd(data, "show", str(poison)).stdout)
    assert shown["project"] == "default" and "DecodeError" in shown["reason"] and "request_error" in shown

    # A record set aside by a since-fixed bug: replayed offline, written at the next start.
    fixed = os.urandom(16)
    Quarantine(data / "spool").put(Record(10_000, "default", _request(fixed, 3)), "EncodeError: a bug, since fixed")
    replayed = spool_cmd(data, "replay", "10000")
    assert replayed.returncode == 0 and "replayed 10000" in replayed.stdout, replayed.stderr
    dropped = spool_cmd(data, "drop", str(poison), "--yes")
    assert dropped.returncode == 0 and "dropped 1" in dropped.stdout
    assert "no records in quarantine" in spool_cmd(data, "list").stdout
    assert spool_cmd(data, "show", "12345").returncode == 1

    again = make_server(data_dir=data)
    assert stored_spans(again, [fixed.hex()]) == {fixed.hex(): 3}


def test_a_second_process_on_one_spool_is_refused_in_one_line(tmp_path: Path) -> None:
    """One process per spool: two would interleave appends and both claim the spool's id."""
    held = Spool(tmp_path / "spool", max_bytes=1 << 20)
    try:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "tracehouse",
                "serve",
                "--data-dir",
                str(tmp_path),
                "--port",
                "0",
                "--grpc-port",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert r.returncode == 1 and "Traceback" not in r.stderr
        expected = f"error: spool {tmp_path / 'spool'} is open in another process (a running server?)"
        assert r.stderr.strip() == expected
    finally:
        held.close()
