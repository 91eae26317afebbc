"""The store against a real ClickHouse server: migrate, insert, dedup, and every query function.

Runs when TRACEHOUSE_TEST_CLICKHOUSE_URL is set (e.g. http://default:@127.0.0.1:8123); with
TRACEHOUSE_TEST_CLICKHOUSE_CLUSTER also set, the schema is the cluster one (`cluster_ddl`) applied ON CLUSTER.
Each run uses a database of its own and drops it afterwards.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse, urlunparse

import pytest

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.store import (
    Store,
    TraceFilter,
    get_trace_steps,
    get_trace_summary,
    group_stats,
    insert_steps,
    list_traces,
    time_series,
)
from tracehouse.store.cluster import apply_cluster_schema
from tracehouse.store.migrations import apply_retention, retention_ttls
from tracehouse.store.schema import SCHEMA_VERSION, SchemaOptions

URL = os.environ.get("TRACEHOUSE_TEST_CLICKHOUSE_URL", "")
CLUSTER = os.environ.get("TRACEHOUSE_TEST_CLICKHOUSE_CLUSTER") or None
pytestmark = pytest.mark.skipif(not URL, reason="TRACEHOUSE_TEST_CLICKHOUSE_URL is not set (no ClickHouse server)")


@pytest.fixture(scope="module")
def server_store() -> Iterator[Store]:
    database = "tracehouse_test_" + uuid.uuid4().hex[:10]
    parsed = urlparse(URL)
    store = Store(urlunparse(parsed._replace(path=f"/{database}")))
    if CLUSTER:
        apply_cluster_schema(store, SchemaOptions(database=database, cluster=CLUSTER))
    store.migrate()
    yield store
    store.command(f"DROP DATABASE IF EXISTS {database}" + (f" ON CLUSTER '{CLUSTER}' SYNC" if CLUSTER else ""))
    store.close()


def _trace(trace_id: str, start_ns: int) -> list[Step]:
    root = Step(
        "real",
        trace_id,
        trace_id[:16],
        "",
        start_ns,
        start_ns + 2 * 10**9,
        "invoke_workflow triage",
        status=Status.OK,
        service="svc",
        workflow="triage",
        step_type=StepType.WORKFLOW,
    )
    agent = Step(
        "real",
        trace_id,
        trace_id[16:],
        root.span_id,
        start_ns + 10**6,
        start_ns + 10**9,
        "invoke_agent router",
        status=Status.OK,
        service="svc",
        agent="router",
        step_type=StepType.AGENT,
        operation="invoke_agent",
    )
    chat = Step(
        "real",
        trace_id,
        uuid.uuid4().hex[:16],
        agent.span_id,
        start_ns + 2 * 10**6,
        start_ns + 5 * 10**8,
        "chat gpt-4o-mini",
        status=Status.ERROR,
        service="svc",
        agent="router",
        step_type=StepType.LLM,
        operation="chat",
        request_model="gpt-4o-mini",
        input_tokens=100,
        output_tokens=20,
        cost_usd=0.002,
        retry_attempt=2,
    )
    return [root, agent, chat]


def test_schema_is_current_with_every_table(server_store: Store) -> None:
    assert server_store.schema_version() == SCHEMA_VERSION
    assert server_store.migrate() == SCHEMA_VERSION
    assert apply_retention(server_store, 30) == []
    changed = apply_retention(server_store, 20)
    assert sorted(c.table for c in changed) == sorted(retention_ttls())


def test_query_functions_answer_on_a_server(server_store: Store) -> None:
    now = time.time_ns()
    trace_id = uuid.uuid4().hex
    steps = _trace(trace_id, now - 60 * 10**9)
    insert_steps(server_store, steps, version=1, dedup_token=f"real-{trace_id}")
    insert_steps(server_store, steps, version=1, dedup_token=f"real-{trace_id}")  # replay: counted once

    summary = get_trace_summary(server_store, "real", trace_id)
    assert summary is not None
    assert (summary.spans, summary.errors, summary.llm_calls, summary.retries) == (3, 1, 1, 1)
    assert summary.agents == ["router"] and summary.input_tokens == 100
    assert summary.cost_usd == pytest.approx(0.002)
    assert [s.span_id for s in get_trace_steps(server_store, "real", trace_id)] == [s.span_id for s in steps]
    page = list_traces(server_store, "real", TraceFilter(agent="router", limit=10))
    assert trace_id in [t.trace_id for t in page.traces]
    assert get_trace_summary(server_store, "someone-else", trace_id) is None

    until = datetime.now(UTC) + timedelta(minutes=1)
    since = until - timedelta(hours=1)
    stats = {g.key: g for g in group_stats(server_store, "real", since, until, "agent")}
    assert stats["router"].steps == 2 and stats["router"].errors == 0
    series = time_series(server_store, "real", since, until, "model")
    assert sum(p.calls for p in series if p.key == "gpt-4o-mini") == 1
