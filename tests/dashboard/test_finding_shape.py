"""A finding has one shape in every endpoint: the trace page's and the agents page's JSON give what
`GET /api/findings` gives (`Finding.to_json`), `details` a JSON object."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tracehouse.store import Store
from tracehouse.store.findings import Finding, list_findings, write_findings

from .conftest import multi_agent_trace


def test_a_finding_has_one_shape_in_every_endpoint(client: TestClient, store: Store, project_id: str) -> None:
    trace_id = multi_agent_trace(project_id, time.time_ns() - 10**9).save(store)
    finding = Finding(
        id="f" * 32,
        kind="loop",
        severity="warning",
        trace_id=trace_id,
        span_ids=["0000000000000001"],
        agents=["planner"],
        wasted_tokens=12,
        wasted_cost_usd=0.25,
        explanation="planner repeated chat 3×",
        details={"pattern": "repeated_action", "repeats": 3},
        detected_at=datetime.now(UTC),
    )
    write_findings(store, project_id, [finding])
    (stored,) = list_findings(store, project_id, trace_id=trace_id)
    expected = stored.to_json()  # what GET /api/findings returns
    assert expected["details"] == {"pattern": "repeated_action", "repeats": 3}

    (on_trace,) = client.get(f"/api/traces/{trace_id}/analysis").json()["findings"]
    (on_agent,) = client.get("/api/agents", params={"agent": "planner", "range": "1h"}).json()["findings"]
    assert on_trace == expected and on_agent == expected
