"""The scores API (post your own, read back, 400 naming the bad field), eval runs and quality attribution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracehouse.store import Store
from tracehouse.store.scores import Score, insert_scores

from .conftest import EvalApp

TRACE = "a" * 32
SPAN = "b" * 16


def test_post_one_score_and_a_list_then_read_them_back(evals_app: EvalApp) -> None:
    c = evals_app.client
    one = c.post(
        "/api/scores",
        json={"trace_id": TRACE, "name": "thumbs", "value": 1, "label": "up", "source": "human", "comment": "nice"},
    )
    assert one.status_code == 200 and one.json() == {"accepted": 1}
    many = c.post(
        "/api/scores",
        json=[
            {"trace_id": TRACE, "span_id": SPAN, "name": "helpful", "value": 0.5},
            {"trace_id": "c" * 32, "name": "thumbs", "passed": False},
        ],
    )
    assert many.json() == {"accepted": 2}
    scores = c.get("/api/scores", params={"trace_id": TRACE}).json()["scores"]
    assert {s["name"] for s in scores} == {"thumbs", "helpful"}
    thumbs = next(s for s in scores if s["name"] == "thumbs")
    for key in ("trace_id", "span_id", "name", "value", "label", "source", "eval_run_id", "comment", "created_at"):
        assert key in thumbs
    assert (
        thumbs["value"] == 1.0 and thumbs["label"] == "up" and thumbs["source"] == "human" and thumbs["span_id"] == ""
    )
    by_name = c.get("/api/scores", params={"name": "thumbs"}).json()["scores"]
    assert {s["trace_id"] for s in by_name} == {TRACE, "c" * 32}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert c.get("/api/scores", params={"since": future}).json()["scores"] == []


def test_reposting_the_same_score_replaces_it(evals_app: EvalApp) -> None:
    c = evals_app.client
    c.post("/api/scores", json={"trace_id": TRACE, "name": "thumbs", "value": 0, "source": "human"})
    c.post("/api/scores", json={"trace_id": TRACE, "name": "thumbs", "value": 1, "source": "human"})
    scores = c.get("/api/scores", params={"trace_id": TRACE}).json()["scores"]
    assert [s["value"] for s in scores] == [1.0]


def test_a_bad_field_is_a_400_naming_it(evals_app: EvalApp) -> None:
    c = evals_app.client
    cases = [
        ({"trace_id": TRACE, "name": "x", "valeu": 1}, "valeu: unknown field"),
        ({"trace_id": "xyz", "name": "x", "value": 1}, "trace_id: must be 32 hex characters"),
        ({"trace_id": TRACE, "name": "x", "value": "high"}, "value: must be a number"),
        ({"trace_id": TRACE, "value": 1}, "name: required"),
        ({"trace_id": TRACE, "name": "x"}, "value: a score needs a value, a label or passed"),
        ({"trace_id": TRACE, "name": "x", "value": 1, "span_id": "12"}, "span_id: must be 16 hex characters or empty"),
        (
            [{"trace_id": TRACE, "name": "x", "value": 1}, {"trace_id": TRACE, "name": "y", "passed": "maybe"}],
            "[1].passed: must be true or false",
        ),
    ]
    for body, detail in cases:
        response = c.post("/api/scores", json=body)
        assert response.status_code == 400, body
        assert response.json()["detail"] == detail
    assert c.post("/api/scores", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert c.get("/api/scores", params={"trace_id": TRACE}).json()["scores"] == []  # nothing half-written


def test_scores_need_a_key_and_stay_in_their_project(evals_app: EvalApp, store: Store) -> None:
    insert_scores(store, [Score(project_id="someone-else", trace_id=TRACE, name="secret", value=1.0)])
    assert evals_app.client.get("/api/scores", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert evals_app.client.get("/api/scores", params={"trace_id": TRACE}).json()["scores"] == []


def test_eval_runs_round_trip(evals_app: EvalApp) -> None:
    c = evals_app.client
    started = datetime.now(UTC).isoformat()
    body = {"eval_run_id": "run-1", "suite": "s", "started_at": started}
    assert c.post("/api/eval-runs", json=body).status_code == 200
    done = {**body, "finished_at": started, "status": "failed", "summary": {"passed": False, "traces": 3}}
    c.post("/api/eval-runs", json=done)
    runs = c.get("/api/eval-runs").json()["eval_runs"]
    assert len(runs) == 1 and runs[0]["status"] == "failed" and runs[0]["summary"]["traces"] == 3
    assert c.get("/api/eval-runs/run-1").json()["suite"] == "s"
    assert c.get("/api/eval-runs/nope").status_code == 404
    assert c.post("/api/eval-runs", json={**body, "status": "weird"}).json()["detail"].startswith("status:")


def test_quality_per_agent_and_version_with_trend(evals_app: EvalApp, store: Store) -> None:
    p = evals_app.project_id
    now = datetime.now(UTC)
    rows = [
        ("writer", "1", 0.2, False),
        ("writer", "1", 0.4, False),
        ("writer", "2", 0.9, True),
        ("writer", "2", 1.0, True),
        ("planner", "", 1.0, True),
    ]
    insert_scores(
        store,
        [
            Score(
                project_id=p,
                trace_id=f"{i:032x}",
                name="q",
                value=v,
                passed=ok,
                agent=a,
                agent_version=ver,
                suite="s",
                source="eval",
                created_at=now,
            )
            for i, (a, ver, v, ok) in enumerate(rows)
        ],
    )
    agents = evals_app.client.get("/api/quality/agents", params={"suite": "s"}).json()["agents"]
    by_key = {(a["agent"], a["agent_version"]): a for a in agents}
    assert by_key[("writer", "1")]["pass_rate"] == 0.0 and by_key[("writer", "1")]["mean"] == pytest.approx(0.3)
    assert by_key[("writer", "2")]["pass_rate"] == 1.0 and by_key[("writer", "2")]["failed"] == 0
    assert by_key[("planner", "")]["scores"] == 1
    assert len(by_key[("writer", "1")]["trend"]) == 1 and by_key[("writer", "1")]["trend"][0]["scores"] == 2
