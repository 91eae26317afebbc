"""Declaring the response models changed no JSON answer: every route answers the same JSON with its model as with
the bare `dict` it returned before (a model drops the keys it does not declare and coerces the values it types, so a
model that is not field for field the old JSON shows here as a difference)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.dashboard.conftest import multi_agent_trace
from tests.detect.traces import TraceBuilder
from tracehouse import admin
from tracehouse.dashboard.api import overview as overview_api
from tracehouse.domain.model import StepType
from tracehouse.evals import api as evals_api
from tracehouse.evals.alerting import api as alerts_api
from tracehouse.evals.alerting.service import AlertService
from tracehouse.evals.detect import api as findings_api
from tracehouse.settings import load_settings
from tracehouse.store import Store, insert_steps
from tracehouse.store.keys import KeyRing

ROUTERS = (overview_api.router, findings_api.router, alerts_api.router, evals_api.router, admin.router)
MIN = timedelta(minutes=1)


def without_models(router: APIRouter) -> APIRouter:
    """The same routes as before they declared a model: FastAPI infers one from the `dict[str, Any]` they return."""
    bare = APIRouter()
    for route in router.routes:
        assert isinstance(route, APIRoute)
        bare.add_api_route(
            route.path,
            route.endpoint,
            methods=sorted(route.methods),
            status_code=route.status_code,
            route_class_override=type(route),
        )
    return bare


def json_kind(value: Any) -> str:
    # JSON has one number type: 3 and 3.0 are the same answer.
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


def differences(new: Any, old: Any, path: str = "$", *, values: bool = True) -> list[str]:
    """Where two JSON documents differ: keys and JSON types, and with `values` the values and list lengths (without,
    a null matches anything: two calls that change state may differ in what they found, not in their shape)."""
    if not values and (new is None or old is None):
        return []
    if json_kind(new) != json_kind(old):
        return [f"{path}: {json_kind(new)} with the model, {json_kind(old)} before"]
    if isinstance(new, dict):
        found = [
            f"{path}.{k}: {'added' if k in new else 'dropped'} by the model" for k in sorted(new.keys() ^ old.keys())
        ]
        for k in sorted(new.keys() & old.keys()):
            found += differences(new[k], old[k], f"{path}.{k}", values=values)
        return found
    if isinstance(new, list):
        found = (
            [f"{path}: {len(new)} items with the model, {len(old)} before"] if values and len(new) != len(old) else []
        )
        for i, (n, o) in enumerate(zip(new, old, strict=False)):
            found += differences(n, o, f"{path}[{i}]", values=values)
        return found
    return [f"{path}: {new!r} with the model, {old!r} before"] if values and new != old else []


@dataclass
class Twins:
    """The same routes over the same state, with their response models (`new`) and without (`old`)."""

    new: TestClient
    old: TestClient
    admin_headers: dict[str, str]

    def same(self, method: str, url: str, **kw: Any) -> None:
        new, old = self.new.request(method, url, **kw), self.old.request(method, url, **kw)
        assert new.status_code == old.status_code and new.status_code < 300, (url, new.text, old.text)
        assert differences(new.json(), old.json()) == [], url

    def same_shape(self, method: str, url: str, new_kw: dict[str, Any], old_kw: dict[str, Any]) -> Any:
        """For calls that change state (each twin is called once): the same keys and types; returns the new answer
        and the old one."""
        new, old = self.new.request(method, url, **new_kw), self.old.request(method, url, **old_kw)
        assert new.status_code == old.status_code and new.status_code < 300, (url, new.text, old.text)
        assert differences(new.json(), old.json(), values=False) == [], url
        return new.json(), old.json()


def twin_apps(store: Store, data_dir: Path, project: str, *, alerts: bool) -> Twins:
    new_app, old_app = FastAPI(), FastAPI()
    for router in ROUTERS:
        new_app.include_router(router)
        old_app.include_router(without_models(router))
    new_app.state.store = store
    new_app.state.settings = load_settings(no_auth=False, data_dir=data_dir)
    new_app.state.keyring = KeyRing(store)
    new_app.state.admin_token = secrets.token_urlsafe(24)
    if alerts:  # not started: rules are evaluated on demand, and this replica counts as the jobs-lease holder
        new_app.state.alert_service = AlertService(store)
    old_app.state = new_app.state
    key, _ = new_app.state.keyring.create(project, "twins")
    headers = {"Authorization": f"Bearer {key}"}
    return Twins(
        TestClient(new_app, headers=headers),
        TestClient(old_app, headers=headers),
        {admin.ADMIN_HEADER: new_app.state.admin_token},
    )


def loop_trace(project: str, at: datetime) -> TraceBuilder:
    """Two agents handing off to each other twice: the loop detector's finding."""
    b = TraceBuilder(project_id=project, t0_ns=int(at.timestamp() * 1e9))
    current = b.agent("a", b.step(StepType.WORKFLOW, "", duration=2_000_000_000))
    for source, target in [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]:
        handoff = b.step(StepType.HANDOFF, source, current, handoff=(source, target), duration=100_000_000)
        current = b.agent(target, handoff, duration=50_000_000)
        b.llm(target, current, tokens=100, cost=0.01)
    return b


@pytest.fixture
def twins(store: Store, project_id: str, tmp_path: Path) -> Iterator[Twins]:
    """Twin apps over a project with traces (one failed, one looping), scores, an eval run, findings, alert rules
    that fire, a silence and their history."""
    now = datetime.now(UTC)
    failed = multi_agent_trace(project_id, int((now - 10 * MIN).timestamp() * 1e9), error=True).save(store)
    multi_agent_trace(project_id, int((now - 20 * MIN).timestamp() * 1e9), cost=0.0).save(store)
    loop = loop_trace(project_id, now - 5 * MIN)
    insert_steps(store, loop.steps, version=1, dedup_token=uuid.uuid4().hex)
    t = twin_apps(store, tmp_path, project_id, alerts=True)
    scores = [
        {
            "trace_id": failed,
            "name": "correct",
            "value": 0.2,
            "passed": False,
            "suite": "qa",
            "eval_run_id": "run-1",
            "agent": "researcher",
            "comment": "wrong source",
        },
        {"trace_id": failed, "span_id": "", "name": "tone", "label": "ok", "source": "human"},
    ]
    assert t.new.post("/api/scores", json=scores).status_code == 200
    run = {
        "eval_run_id": "run-1",
        "suite": "qa",
        "started_at": (now - 15 * MIN).isoformat(),
        "status": "failed",
        "finished_at": (now - 14 * MIN).isoformat(),
        "summary": {"correct": {"mean": 0.2, "threshold": 0.8}},
    }
    assert t.new.post("/api/eval-runs", json=run).status_code == 200
    assert t.new.post("/api/detect/run", json={"since": (now - 60 * MIN).isoformat()}).status_code == 200
    rule = {
        "name": "errors-by-agent",
        "metric": "error_rate",
        "op": ">",
        "threshold": 0,
        "window": "1h",
        "group_by": "agent",
        "baseline": {"window": "1d", "factor": 2},
    }
    assert t.new.post("/api/alerts/rules", json=rule).status_code == 201
    silence = {"rule": "errors-by-agent", "labels": {"agent": "researcher"}, "duration": "1h", "comment": "known"}
    assert t.new.post("/api/alerts/silences", json=silence).status_code == 201
    assert t.new.post("/api/alerts/check").status_code == 200
    yield t
    t.new.close()
    t.old.close()


def test_every_read_answers_the_same_json_with_its_model(twins: Twins) -> None:
    now = datetime.now(UTC)
    window = {"since": (now - 60 * MIN).isoformat(), "until": (now + MIN).isoformat()}
    for url, params in [
        ("/api/agents", window),
        ("/api/agents", {**window, "agent": "researcher", "by": "failed"}),
        ("/api/agents", {**window, "agent": "planner"}),
        ("/api/models", window),
        ("/api/evals-overview", window),
        ("/api/evals-overview", {**window, "suite": "qa"}),
        ("/api/alerts-overview", window),
        ("/api/findings", {}),
        ("/api/scores", {}),
        ("/api/eval-runs", {}),
        ("/api/eval-runs/run-1", {}),
        ("/api/quality/agents", {**window, "bucket_seconds": 600}),
        ("/api/quality/failures", window),
        ("/api/alerts", {}),
        ("/api/alerts/history", {}),
        ("/api/alerts/silences", {"expired": True}),
    ]:
        twins.same("GET", url, params=params)
    twins.same("GET", "/api/admin/keys", headers=twins.admin_headers)
    twins.same("GET", "/api/admin/proof", params={"challenge": "c" * 32})


def test_every_write_answers_the_same_json_with_its_model(twins: Twins, project_id: str) -> None:
    now = datetime.now(UTC)
    twins.same("PUT", "/api/alerts/rules/errors-by-agent", json={"metric": "error_rate", "threshold": 0.5})
    twins.same("POST", "/api/eval-runs", json={"eval_run_id": "run-2", "suite": "qa", "started_at": now.isoformat()})
    twins.same("POST", "/api/scores", json={"trace_id": "ab" * 16, "name": "n", "value": 1})

    def rule(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "metric": "error_rate",
            "threshold": 0,
            "window": "1h",
            "notify": [],
            "project": project_id,
        }

    new_rule = twins.new.post("/api/alerts/rules", json=rule("new-errors")).json()
    new_check = twins.new.post("/api/alerts/check").json()
    # Past the transitions, a check answers the rules' state after it: what the bare `GET /api/alerts` says now.
    assert (
        differences({k: v for k, v in new_check.items() if k != "transitions"}, twins.old.get("/api/alerts").json())
        == []
    )
    old_rule = twins.old.post("/api/alerts/rules", json=rule("old-errors")).json()
    old_check = twins.old.post("/api/alerts/check").json()  # finds its own new rule firing, as the first did
    assert differences(new_rule, old_rule, values=False) == []
    assert new_check["transitions"] and old_check["transitions"]
    assert differences(new_check["transitions"], old_check["transitions"], values=False) == []
    detect = {"json": {"since": (now - 60 * MIN).isoformat(), "until": now.isoformat()}}
    twins.same_shape("POST", "/api/detect/run", detect, detect)
    silence = {"json": {"labels": {"agent": "planner"}, "duration": "2h"}}
    twins.same_shape("POST", "/api/alerts/silences", silence, silence)
    new_key = {"json": {"project": project_id, "name": "k"}, "headers": twins.admin_headers}
    created, old_created = twins.same_shape("POST", "/api/admin/keys", new_key, new_key)
    revoked = twins.new.delete(f"/api/admin/keys/{created['prefix']}", headers=twins.admin_headers).json()
    old_revoked = twins.old.delete(f"/api/admin/keys/{old_created['prefix']}", headers=twins.admin_headers).json()
    assert differences(revoked, old_revoked, values=False) == []


def test_the_alerts_overview_without_alert_evaluation_is_unchanged(
    store: Store, project_id: str, tmp_path: Path
) -> None:
    t = twin_apps(store, tmp_path, project_id, alerts=False)
    with t.new, t.old:
        t.same("GET", "/api/alerts-overview", params={"range": "all", "until": datetime.now(UTC).isoformat()})
        assert t.new.get("/api/alerts-overview").json()["evaluation"] == {}
