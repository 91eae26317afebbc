"""A run spread over several traces joined by span links (AutoGen's runtime starts a trace per message) opens as one:
each trace names the others in both directions, and the list shows the group."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from tests.collector.otlp_builders import make_request, make_span
from tests.collector.test_late_parents import wait_for


def _linked(server: Any, trace_id: str) -> list[str]:
    r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers)
    return r.json()["linked_trace_ids"] if r.status_code == 200 else []


def test_span_links_join_traces_in_both_directions_and_group_them_in_the_list(server: Any) -> None:
    first, second, other = os.urandom(16), os.urandom(16), os.urandom(16)
    sender, now = os.urandom(8), time.time_ns()
    spans = [
        make_span("autogen send worker", {}, trace_id=first, span_id=sender, start=now, end=now + 10**6),
        make_span("autogen process worker", {}, trace_id=second, links=[(first, sender)], start=now, end=now + 10**6),
        make_span("unrelated", {}, trace_id=other, start=now, end=now + 10**6),
    ]
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=make_request(*spans).SerializeToString(),
        headers={**server.headers, "content-type": "application/x-protobuf"},
    )
    assert r.status_code == 200
    wait_for(lambda: _linked(server, first.hex()) == [second.hex()])
    assert _linked(server, second.hex()) == [first.hex()]
    assert _linked(server, other.hex()) == []
    listed = httpx.get(f"{server.url}/api/traces", params={"linked_to": first.hex()}, headers=server.headers).json()
    assert {t["trace_id"] for t in listed["traces"]} == {first.hex(), second.hex()}
    assert all(t["extra"]["linked"] == 1 for t in listed["traces"])
    page = httpx.get(f"{server.url}/", params={"range": "all"}, headers=server.headers)
    assert f"?linked_to={first.hex()}" in page.text
