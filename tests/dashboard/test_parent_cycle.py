"""A parent cycle in hostile input (a -> b -> c -> a) must not hang a page: every tree walk is bounded."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from tests.collector.otlp_builders import make_request, make_span
from tests.collector.test_late_parents import wait_for


def test_a_three_span_parent_cycle_renders_the_trace_page_and_its_json(server: Any) -> None:
    trace_id, now = os.urandom(16), time.time_ns()
    a, b, c = os.urandom(8), os.urandom(8), os.urandom(8)
    spans = [
        make_span(
            name,
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name},
            trace_id=trace_id,
            span_id=sid,
            parent=parent,
            start=now + i,
            end=now + 10**6,
        )
        for i, (name, sid, parent) in enumerate((("a", a, c), ("b", b, a), ("c", c, b)))
    ]
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=make_request(*spans).SerializeToString(),
        headers={**server.headers, "content-type": "application/x-protobuf"},
    )
    assert r.status_code == 200
    api = f"{server.url}/api/traces/{trace_id.hex()}"
    wait_for(lambda: httpx.get(api, headers=server.headers).status_code == 200)
    for path in ("", "/analysis"):
        started = time.monotonic()
        assert httpx.get(api + path, headers=server.headers, timeout=10).status_code == 200
        assert time.monotonic() - started < 5
    page = httpx.get(f"{server.url}/traces/{trace_id.hex()}", headers=server.headers, timeout=10)
    assert page.status_code == 200 and "a" in page.text
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
