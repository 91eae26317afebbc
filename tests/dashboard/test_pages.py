"""Every dashboard page and its JSON twin through the test client: filters, pagination, errors, auth, isolation."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import TraceBuilder, multi_agent_trace
from tracehouse.domain.model import Status, StepType
from tracehouse.store import Store

NOW = time.time_ns()
MIN = 60 * 1_000_000_000


def add_finding(store: Store, project: str, trace_id: str, span_ids: list[str], kind: str = "loop") -> str:
    fid = uuid.uuid4().hex[:16]
    store.insert(
        "findings",
        [
            [project],
            [fid],
            [kind],
            ["high"],
            [trace_id],
            [span_ids],
            [["planner"]],
            [1500],
            [0.02],
            ["planner called researcher 3 times with the same input"],
            ["{}"],
            [datetime.now(UTC)],
        ],
        [
            "project_id",
            "id",
            "kind",
            "severity",
            "trace_id",
            "span_ids",
            "agents",
            "wasted_tokens",
            "wasted_cost_usd",
            "explanation",
            "details",
            "detected_at",
        ],
    )
    return fid


def add_score(
    store: Store,
    project: str,
    trace_id: str,
    value: float,
    *,
    span_id: str = "",
    passed: int = 1,
    suite: str = "quality",
    run: str = "run1",
) -> None:
    store.insert(
        "scores",
        [
            [project],
            [trace_id],
            [span_id],
            ["helpfulness"],
            [value],
            [""],
            ["eval"],
            [run],
            [suite],
            ["researcher"],
            [passed],
            ["too vague"],
            [datetime.now(UTC)],
        ],
        [
            "project_id",
            "trace_id",
            "span_id",
            "name",
            "value",
            "label",
            "source",
            "eval_run_id",
            "suite",
            "agent",
            "passed",
            "comment",
            "created_at",
        ],
    )


@pytest.fixture
def traces(store: Store, project_id: str) -> list[TraceBuilder]:
    """Three traces: a normal one, a failing one with other agents, and a costly one."""
    built = [
        multi_agent_trace(project_id, NOW - 30 * MIN),
        multi_agent_trace(project_id, NOW - 20 * MIN, agent_names=("router", "coder"), error=True),
        multi_agent_trace(project_id, NOW - 10 * MIN, cost=1.5),
    ]
    for tb in built:
        tb.save(store)
    return built


def assert_error_page(resp, status: int, fragment: str) -> None:
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("text/html")
    assert fragment in resp.text
    assert "Traceback" not in resp.text


def test_traces_page_lists_traces_with_readable_numbers(client: TestClient, traces: list[TraceBuilder]) -> None:
    r = client.get("/")
    assert r.status_code == 200
    for tb in traces:
        assert f"/traces/{tb.trace_id}" in r.text
    assert "$1.65" in r.text  # 1.5 + 0.15
    assert "2.5k" in r.text  # 1200 + 300 + 800 + 200 tokens
    assert "1.00 s" in r.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("agent=coder&score_below=&status=&model=&q=", [1]),
        ("status=error", [1]),
        ("status=ok", [0, 2]),
        ("q=research", [0, 1, 2]),
        ("model=gpt-4o-mini", [0, 1, 2]),
        ("agent=nobody", []),
    ],
)
def test_traces_filters_agree_between_page_and_json(
    client: TestClient, traces: list[TraceBuilder], query: str, expected: list[int]
) -> None:
    page = client.get(f"/?{query}")
    api = client.get(f"/api/traces?{query}")
    assert page.status_code == api.status_code == 200
    ids = {t["trace_id"] for t in api.json()["traces"]}
    assert ids == {traces[i].trace_id for i in expected}
    for i, tb in enumerate(traces):
        assert (f"/traces/{tb.trace_id}" in page.text) == (i in expected)


def test_has_finding_and_score_below_filters(
    client: TestClient, store: Store, project_id: str, traces: list[TraceBuilder]
) -> None:
    add_finding(store, project_id, traces[0].trace_id, [traces[0].steps[2].span_id])
    add_score(store, project_id, traces[2].trace_id, 0.2, passed=0)
    add_score(store, project_id, traces[1].trace_id, 0.9)
    found = client.get("/api/traces?has_finding=true").json()["traces"]
    assert [t["trace_id"] for t in found] == [traces[0].trace_id]
    assert found[0]["extra"]["findings"] == {"loop": 1}
    low = client.get("/api/traces?score_below=0.5").json()["traces"]
    assert [t["trace_id"] for t in low] == [traces[2].trace_id]
    page = client.get("/?has_finding=true")
    assert "loop" in page.text and traces[1].trace_id not in page.text
    assert client.get("/?has_finding=true&score_below=0.5").text.count("/traces/") == 0


def test_cursor_pagination_walks_every_trace_once(client: TestClient, traces: list[TraceBuilder]) -> None:
    seen: list[str] = []
    url = "/api/traces?limit=2&sort=duration"
    while url:
        body = client.get(url).json()
        seen += [t["trace_id"] for t in body["traces"]]
        url = f"/api/traces?limit=2&sort=duration&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert sorted(seen) == sorted(tb.trace_id for tb in traces)
    page = client.get("/?limit=2")
    assert "Next page" in page.text
    nxt = re.search(r'href="(\?[^"]*cursor=[^"]+)"', page.text)
    assert nxt is not None
    second = client.get("/" + nxt.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and "First page" in second.text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/?range=2y", "range"),
        ("/?limit=0", "limit"),
        ("/?cursor=garbage", "cursor"),
        ("/?since=yesterday", "since"),
        ("/?status=maybe", "status"),
        ("/agents?by=cheapest", "by"),
        ("/models?since=2025-01-02&until=2025-01-01", "until"),
        ("/traces/not-a-trace", "32 hexadecimal"),
        ("/?score_below=low", "score_below"),
        ("/evals?range=forever", "range"),
    ],
)
def test_bad_parameters_give_an_error_page_with_the_reason(client: TestClient, url: str, message: str) -> None:
    assert_error_page(client.get(url), 400, message)


@pytest.mark.parametrize(
    "url",
    [
        "/api/traces?range=2y",
        "/api/traces?cursor=garbage",
        "/api/agents?by=cheapest",
        "/api/models?since=2025-01-02&until=2025-01-01",
        "/api/traces/xyz",
        "/api/traces/xyz/analysis",
        "/api/evals-overview?range=forever",
        "/api/stats/agents?since=2025-01-02&until=2025-01-01",
    ],
)
def test_bad_parameters_give_400_json_with_a_message(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 400
    assert r.json()["error"]


def test_trace_page_shows_tree_waterfall_graph_attribution_and_costs(
    client: TestClient, traces: list[TraceBuilder]
) -> None:
    tb = traces[0]
    r = client.get(f"/traces/{tb.trace_id}")
    assert r.status_code == 200
    html = r.text
    for s in tb.steps:
        assert f'id="step-{s.span_id}"' in html
    assert html.count('<svg class="wf"') == len(tb.steps)
    assert 'id="agent-graph-data"' in html and "needs sources" in html  # hand-off reason on the edge
    assert "Model inference" in html and "Orchestration overhead" in html
    assert "470 ms" in html  # 200 ms + 270 ms of model time on the critical path
    assert "gpt-4o-mini" in html and "By agent" in html


def test_trace_deep_link_selects_the_step_and_explains_why_it_ran(
    client: TestClient, traces: list[TraceBuilder]
) -> None:
    tb = traces[0]
    researcher = tb.steps[4]
    r = client.get(f"/traces/{tb.trace_id}?span={researcher.span_id}")
    assert r.status_code == 200
    assert 'class="step-detail"' in r.text
    assert "Hand-off" in r.text and "planner → researcher" in r.text and "needs sources" in r.text
    frag = client.get(f"/traces/{tb.trace_id}/steps/{researcher.span_id}")
    assert frag.status_code == 200 and "<html" not in frag.text and "needs sources" in frag.text
    step = client.get(f"/api/traces/{tb.trace_id}/steps/{researcher.span_id}").json()
    assert step["why"]["handoff_reason"] == "needs sources"
    assert step["why"]["parent_span_id"] == tb.steps[3].span_id


def test_trace_analysis_json_twin(client: TestClient, traces: list[TraceBuilder]) -> None:
    body = client.get(f"/api/traces/{traces[0].trace_id}/analysis").json()
    assert body["latency"]["wall_ms"] == pytest.approx(1000.0)
    assert sum(body["latency"]["critical_path_ms"].values()) == pytest.approx(1000.0)
    edges = {(e["source"], e["target"], e["kind"]): e["count"] for e in body["agent_graph"]["edges"]}
    assert edges[("planner", "researcher", "handoff")] == 1
    assert {r["key"] for r in body["cost_by_agent"]} == {"planner", "researcher"}


def test_findings_and_scores_are_marked_on_their_steps(
    client: TestClient, store: Store, project_id: str, traces: list[TraceBuilder]
) -> None:
    tb = traces[0]
    looped = tb.steps[5]
    fid = add_finding(store, project_id, tb.trace_id, [looped.span_id])
    add_score(store, project_id, tb.trace_id, 0.3, span_id=looped.span_id, passed=0)
    html = client.get(f"/traces/{tb.trace_id}").text
    row = re.search(rf'<tr id="step-{looped.span_id}"[^>]*class="([^"]*)"', html, re.S)
    assert row is not None and "flagged" in row.group(1)
    assert f'id="finding-{fid}"' in html and f'data-select="{looped.span_id}"' in html
    assert "helpfulness" in html and "1 score" in html


def test_unknown_and_foreign_traces_are_404(client: TestClient, store: Store, traces: list[TraceBuilder]) -> None:
    other = multi_agent_trace("someone-else", NOW - MIN)
    other.save(store)
    for tid in (uuid.uuid4().hex, other.trace_id):
        assert_error_page(client.get(f"/traces/{tid}"), 404, "no trace")
        assert client.get(f"/api/traces/{tid}").status_code == 404
        assert client.get(f"/api/traces/{tid}/analysis").status_code == 404
    assert other.trace_id not in client.get("/?range=all").text
    assert other.trace_id not in str(client.get("/api/traces").json())
    assert_error_page(client.get(f"/traces/{traces[0].trace_id}?span=ffffffffffffffff"), 404, "no step")
    assert "someone" not in client.get("/api/agents").text


def test_agents_page_with_drilldown(client: TestClient, traces: list[TraceBuilder]) -> None:
    r = client.get("/agents")
    assert r.status_code == 200
    for name in ("planner", "researcher", "router", "coder"):
        assert name in r.text
    assert 'data-chart="chart-1"' in r.text and "application/json" in r.text
    failed = client.get("/agents?agent=coder&by=failed")
    assert failed.status_code == 200 and "execute_tool web_search" in failed.text and "Timeout" in failed.text
    api = client.get("/api/agents?agent=coder&by=failed").json()
    assert [s["name"] for s in api["steps"]] == ["execute_tool web_search"]
    assert {a["key"] for a in client.get("/api/agents").json()["agents"]} == {
        "planner",
        "researcher",
        "router",
        "coder",
    }


def test_models_page_counts_spend_and_unpriced_calls(
    client: TestClient, store: Store, project_id: str, traces: list[TraceBuilder]
) -> None:
    tb = TraceBuilder(project_id, NOW - 5 * MIN)
    tb.add("chat mystery", 0, 100, step_type=StepType.LLM, request_model="mystery-model", input_tokens=10, agent="x")
    tb.save(store)
    r = client.get("/models")
    assert r.status_code == 200 and "mystery-model" in r.text and "Unpriced model calls" in r.text
    body = client.get("/api/models").json()
    assert body["unpriced_calls"] == 1
    assert body["total_cost_usd"] == pytest.approx(0.011 * 2 + 1.65)
    assert body["top_traces"][0]["trace_id"] == traces[2].trace_id


def test_evals_page_shows_groups_failing_cases_and_runs(
    client: TestClient, store: Store, project_id: str, traces: list[TraceBuilder]
) -> None:
    assert "No eval results yet" in client.get("/evals").text
    add_score(store, project_id, traces[0].trace_id, 0.2, passed=0)
    add_score(store, project_id, traces[1].trace_id, 0.9, span_id=traces[1].steps[2].span_id)
    store.insert(
        "eval_runs",
        [[project_id], ["run1"], ["quality"], [datetime.now(UTC)], ["finished"], [datetime.now(UTC)]],
        ["project_id", "eval_run_id", "suite", "started_at", "status", "updated_at"],
    )
    r = client.get("/evals")
    assert r.status_code == 200 and "helpfulness" in r.text and f"/traces/{traces[0].trace_id}" in r.text
    body = client.get("/api/evals-overview").json()
    assert body["runs"][0]["eval_run_id"] == "run1" and body["runs"][0]["scores"] == 2
    assert [f["trace_id"] for f in body["failing"]] == [traces[0].trace_id]


def test_alerts_page_empty_state_and_twin(client: TestClient) -> None:
    r = client.get("/alerts")
    assert r.status_code == 200 and "No alert has been evaluated yet." in r.text and "No active silence" in r.text
    twin = client.get("/api/alerts-overview").json()
    assert twin["states"] == [] and twin["silences"] == [] and twin["running"] is True
    assert {"retry-storm", "loops", "spend-spike"} <= {r["name"] for r in twin["rules"]}


def test_empty_project_explains_how_to_send_the_first_trace(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "No traces yet" in r.text and "OTEL_EXPORTER_OTLP_ENDPOINT" in r.text


def test_pages_redirect_to_login_without_a_key_and_api_says_401(anon: TestClient) -> None:
    for path in ("/", "/agents", "/models", "/evals", "/alerts", f"/traces/{uuid.uuid4().hex}"):
        r = anon.get(path + "?range=1h" if path == "/" else path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2F")
    assert anon.get("/api/traces").status_code == 401
    anon.cookies.set("tracehouse_key", "th_wrong")
    assert anon.get("/").status_code == 303


def test_login_sets_a_strict_httponly_cookie_and_refuses_bad_keys(anon: TestClient, api_key: str) -> None:
    assert anon.get("/login").status_code == 200
    bad = anon.post(
        "/login", content="key=th_nope&next=/", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert bad.status_code == 401 and "not valid" in bad.text
    ok = anon.post(
        "/login", content=f"key={api_key}&next=/agents", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/agents"
    cookie = ok.headers["set-cookie"].lower()
    assert "tracehouse_key=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    evil = anon.post(
        "/login",
        content=f"key={api_key}&next=//evil.example/x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert evil.headers["location"] == "/"
    cross = anon.post(
        "/login",
        content=f"key={api_key}",
        headers={"content-type": "application/x-www-form-urlencoded", "origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    out = anon.post("/logout")
    assert out.status_code == 303 and 'tracehouse_key=""' in out.headers["set-cookie"]


def test_every_page_sends_a_strict_csp_and_has_no_inline_script(client: TestClient, traces: list[TraceBuilder]) -> None:
    for path in ("/", f"/traces/{traces[0].trace_id}", "/agents", "/models", "/evals", "/alerts", "/login"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        for tag in re.findall(r"<script[^>]*>", r.text):
            assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
        assert " on" not in " ".join(re.findall(r"<[a-z]+ [^>]*>", r.text)).replace(" one", "").lower().split("=")[0]


def test_static_assets_are_served_from_the_package(client: TestClient) -> None:
    for path in (
        "/static/app.css",
        "/static/trace.js",
        "/static/vendor/uplot-1.6.32.min.js",
        "/static/vendor/cytoscape-3.34.4.min.js",
        "/static/vendor/uplot-LICENSE.txt",
    ):
        assert client.get(path).status_code == 200, path


def test_no_auth_mode_serves_pages_without_a_key(store: Store, tmp_path) -> None:
    from tests.dashboard.conftest import build_app

    with TestClient(build_app(store, tmp_path, no_auth=True), follow_redirects=False) as c:
        assert c.get("/").status_code == 200
        assert "no key is needed" in c.get("/login").text


def test_five_thousand_step_trace_renders_collapsed(client: TestClient, store: Store, project_id: str) -> None:
    tb = TraceBuilder(project_id, NOW - 40 * MIN)
    root = tb.add("big run", 0, 60_000, agent="boss", step_type=StepType.AGENT)
    for i in range(50):
        mid = tb.add(f"worker {i}", i * 1000, i * 1000 + 900, root, agent=f"w{i % 5}", step_type=StepType.AGENT)
        for j in range(99):
            tb.add(
                f"call {i}.{j}",
                i * 1000 + j * 9,
                i * 1000 + j * 9 + 8,
                mid,
                step_type=StepType.LLM,
                request_model="m",
                input_tokens=10,
                output_tokens=1,
                cost_usd=0.0001,
                status=Status.ERROR if j == 98 else Status.OK,
            )
    tb.save(store)
    assert len(tb.steps) == 5001
    started = time.perf_counter()
    r = client.get(f"/traces/{tb.trace_id}")
    elapsed = time.perf_counter() - started
    assert r.status_code == 200
    assert r.text.count('<tr id="step-') == 51  # grandchildren start collapsed, and are fetched when opened
    assert r.text.count('data-lazy="true"') == 50
    assert "only the top levels start expanded" in r.text
    assert elapsed < 10, f"5,001-step trace page took {elapsed:.1f} s"
