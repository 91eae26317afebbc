"""A trace-list cursor the server did not issue (a float, a huge number, NaN, garbage) is a 400 naming the cursor,
on the JSON API and on the page, never a 500 from the store."""

from __future__ import annotations

import base64
import json
import time

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import multi_agent_trace
from tracehouse.store import Store


def forged(value: object, trace_id: object = "0" * 32) -> str:
    raw = json.dumps([value, trace_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_CURSORS = [
    ("start_time", forged(1.5)),
    ("duration", forged(2.5e18)),
    ("spans", forged(2**70)),
    ("errors", forged(True)),
    ("start_time", forged(float("nan"))),
    ("cost", forged(float("inf"))),
    ("cost", forged("1")),
    ("start_time", forged(1, 7)),
    ("start_time", "not a cursor"),
    ("start_time", base64.urlsafe_b64encode(b"[1,2,3]").decode()),
]


@pytest.mark.parametrize(("sort", "cursor"), BAD_CURSORS)
def test_forged_cursor_is_a_400_naming_the_cursor(
    client: TestClient, store: Store, project_id: str, sort: str, cursor: str
) -> None:
    multi_agent_trace(project_id, time.time_ns() - 60_000_000_000).save(store)
    api = client.get("/api/traces", params={"sort": sort, "cursor": cursor})
    assert api.status_code == 400, api.text
    assert "cursor" in api.json()["error"]
    page = client.get("/", params={"sort": sort, "cursor": cursor})
    assert page.status_code == 400 and "cursor" in page.text


def test_issued_cost_cursor_still_pages(client: TestClient, store: Store, project_id: str) -> None:
    t0 = time.time_ns() - 60_000_000_000
    ids = {multi_agent_trace(project_id, t0 + i, cost=0.01 * (i + 1)).save(store) for i in range(3)}
    seen: list[str] = []
    params = {"sort": "cost", "limit": "1"}
    while True:
        body = client.get("/api/traces", params=params).json()
        seen += [t["trace_id"] for t in body["traces"]]
        if not body["next_cursor"]:
            break
        params["cursor"] = body["next_cursor"]
    assert sorted(seen) == sorted(ids)
