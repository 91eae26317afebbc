"""A trace of a few thousand steps through the JSON API and the trace page: pages of steps that together are the
trace, in tree order, exactly once; opaque cursors; a subtree on demand; a page whose size does not grow with the
trace."""

from __future__ import annotations

import base64
import dataclasses
import re
import time
import uuid
from typing import cast

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.dashboard.bigtrace import big_trace_steps
from tracehouse.client import Client, summary_from_json
from tracehouse.dashboard import analysis, views
from tracehouse.dashboard.views import MAX_ROWS
from tracehouse.domain.model import Step
from tracehouse.domain.tree import TraceTree
from tracehouse.evals.sources import ApiSource
from tracehouse.settings import ClientSettings
from tracehouse.store import Store, insert_steps

N = 3000
FANOUT = (6, 8, 8, 10)


@pytest.fixture
def big(store: Store, project_id: str) -> tuple[str, list[Step]]:
    trace_id = uuid.uuid4().hex
    steps = big_trace_steps(project_id, trace_id, time.time_ns() - 3600 * 10**9, N, FANOUT)
    insert_steps(store, steps, version=1, dedup_token=uuid.uuid4().hex)
    return trace_id, steps


def test_pages_of_steps_are_the_whole_trace_in_tree_order_exactly_once(
    client: TestClient, big: tuple[str, list[Step]]
) -> None:
    trace_id, steps = big
    seen: list[dict[str, object]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 700}
        if cursor:
            params["cursor"] = cursor
        r = client.get(f"/api/traces/{trace_id}", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["trace_id"] == trace_id and body["summary"]["spans"] == N
        assert len(body["steps"]) <= 700
        seen.extend(body["steps"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    want = [sid for sid, _ in TraceTree(steps).order]
    got = [s["span_id"] for s in seen]
    assert got == want
    assert len(set(got)) == N
    by_id = {s.span_id: s for s in steps}
    for s in seen:  # every field, content and tool calls included
        src = by_id[str(s["span_id"])]
        assert s["input_preview"] == src.input_preview
        assert s["attributes"] == src.attributes
        assert s["tool_calls"] == [{"id": c.id, "name": c.name} for c in src.tool_calls]


def test_a_small_trace_is_one_page_in_tree_order(client: TestClient, store: Store, project_id: str) -> None:
    trace_id = uuid.uuid4().hex
    steps = big_trace_steps(project_id, trace_id, time.time_ns() - 3600 * 10**9, 40, (3, 4, 3))
    insert_steps(store, steps, version=1, dedup_token=uuid.uuid4().hex)
    body = client.get(f"/api/traces/{trace_id}").json()
    assert body["next_cursor"] is None
    assert [s["span_id"] for s in body["steps"]] == [sid for sid, _ in TraceTree(steps).order]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        _b64(b"[1, 2]"),
        _b64(b'{"after": 12}'),
        _b64(b'{"after": "zz"}'),
        _b64(b'{"after": "ffffffffffffffff"}'),  # well formed, but no such step in this trace
        _b64(b"\xff\xfe"),
    ],
)
def test_a_forged_steps_cursor_is_a_400(client: TestClient, big: tuple[str, list[Step]], cursor: str) -> None:
    trace_id, _ = big
    r = client.get(f"/api/traces/{trace_id}", params={"cursor": cursor, "limit": 100})
    assert r.status_code == 400, r.text
    assert "cursor" in r.text and "Traceback" not in r.text


def test_the_cursor_is_opaque(client: TestClient, big: tuple[str, list[Step]]) -> None:
    trace_id, _ = big
    cursor = client.get(f"/api/traces/{trace_id}", params={"limit": 10}).json()["next_cursor"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert client.get(f"/api/traces/{trace_id}", params={"limit": 10001}).status_code == 400


def test_a_subtree_request_returns_exactly_the_children(client: TestClient, big: tuple[str, list[Step]]) -> None:
    trace_id, steps = big
    tree = TraceTree(steps)
    parent = tree.roots[0]
    agent_run = tree.children[parent][2]
    r = client.get(f"/api/traces/{trace_id}/children/{agent_run}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [c["span_id"] for c in body["children"]] == tree.children[agent_run]
    assert all(c["depth"] == 2 and c["parent_span_id"] == agent_run for c in body["children"])
    assert [c["children"] for c in body["children"]] == [
        len(tree.children.get(c, [])) for c in tree.children[agent_run]
    ]
    # Paged: a step with more children than `limit`.
    got: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"/api/traces/{trace_id}/children/{parent}", params=params).json()
        got += [c["span_id"] for c in page["children"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert got == tree.children[parent]
    leaf = tree.order[-1][0]
    assert client.get(f"/api/traces/{trace_id}/children/{leaf}").json()["children"] == []
    assert client.get(f"/api/traces/{trace_id}/children/{'e' * 16}").status_code == 404
    assert client.get(f"/api/traces/{trace_id}/children/xyz").status_code == 400
    assert (
        client.get(f"/api/traces/{trace_id}/children/{parent}", params={"cursor": _b64(b'{"after": -1}')}).status_code
        == 400
    )


def test_the_page_of_a_big_trace_sends_only_its_shown_rows(client: TestClient, big: tuple[str, list[Step]]) -> None:
    trace_id, steps = big
    tree = TraceTree(steps)
    r = client.get(f"/traces/{trace_id}")
    assert r.status_code == 200
    rows = re.findall(r'<tr id="step-([0-9a-f]+)"', r.text)
    assert rows == [sid for sid, d in tree.order if d <= 2]  # the levels that fit in the row budget (1 + 6 + 48)
    assert 'data-lazy="true"' in r.text
    assert tree.order[-1][0] not in r.text
    # A deep link opens onto its step (its ancestors' children are sent), still bounded.
    deep = tree.order[-1][0]
    r = client.get(f"/traces/{trace_id}", params={"span": deep})
    assert r.status_code == 200
    rows = re.findall(r'<tr id="step-([0-9a-f]+)"', r.text)
    assert deep in rows and len(rows) <= MAX_ROWS
    assert "selected" in r.text


def test_a_big_trace_that_grows_shows_its_new_steps(
    client: TestClient, store: Store, big: tuple[str, list[Step]], project_id: str
) -> None:
    """The analysis a big trace's page keeps for its subtrees is dropped as soon as the trace changes."""
    trace_id, steps = big
    agent_run = TraceTree(steps).children[steps[0].span_id][0]
    assert client.get(f"/traces/{trace_id}").status_code == 200
    assert client.get(f"/api/traces/{trace_id}", params={"limit": 1000}).json()["next_cursor"]  # order kept
    before = client.get(f"/api/traces/{trace_id}/children/{agent_run}").json()["children"]
    late = Step(
        project_id=project_id,
        trace_id=trace_id,
        span_id="00ff00ff00ff00ff",
        parent_span_id=agent_run,
        start_time_ns=steps[-1].end_time_ns + 1,
        end_time_ns=steps[-1].end_time_ns + 1000,
        name="late step",
    )
    insert_steps(store, [late], version=2, dedup_token=uuid.uuid4().hex)
    after = client.get(f"/api/traces/{trace_id}/children/{agent_run}").json()["children"]
    assert [c["span_id"] for c in after] == [c["span_id"] for c in before] + [late.span_id]
    assert after[-1]["name"] == "late step"
    ids, cursor = [], None
    while True:
        body = client.get(f"/api/traces/{trace_id}", params={"limit": 1000, **({"cursor": cursor} if cursor else {})})
        ids += [x["span_id"] for x in body.json()["steps"]]
        cursor = body.json()["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == N + 1 and late.span_id in ids


def test_one_steps_own_time_is_what_the_whole_trace_analysis_says(project_id: str) -> None:
    steps = big_trace_steps(project_id, uuid.uuid4().hex, 10**18, 500, (3, 5, 6, 6))
    steps.append(dataclasses.replace(steps[3], span_id="00000000000abcde", start_time_ns=steps[3].start_time_ns - 10))
    steps[-1].parent_span_id = steps[1].span_id  # a child that starts before its parent: clipped to it
    tree = analysis.build_tree(steps)
    want = analysis.self_times(tree)
    assert {sid: views.self_ns(tree, sid) for sid in tree.by_id} == want


def test_an_eval_source_reads_every_page_of_a_big_trace(client: TestClient, big: tuple[str, list[Step]]) -> None:
    trace_id, steps = big
    settings = ClientSettings(url="http://testserver", api_key=None)
    source = ApiSource(Client(settings, http=cast(httpx.Client, client)))  # TestClient is one
    summary = summary_from_json(client.get(f"/api/traces/{trace_id}").json()["summary"])
    got = source.load(summary).steps
    assert [s.span_id for s in got] == [sid for sid, _ in TraceTree(steps).order]
