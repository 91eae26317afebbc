"""The alert engine on a real embedded store: pending → firing → resolved with history, one notification per
firing to a real local webhook (signed), repeat interval, silences, failing notifiers retried and recorded,
per-group instances, and rules edited through the API."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracehouse.evals.alerting import AlertEngine, AlertService, RulesFile, verify
from tracehouse.evals.alerting.api import router as alerts_router
from tracehouse.evals.detect import Finding, Kind, Severity
from tracehouse.store import Store, insert_steps
from tracehouse.store.alerts import list_events, write_records
from tracehouse.store.findings import write_findings

from ..detect.traces import TraceBuilder
from .receiver import webhook_receiver

SECRET = "hook-secret"


def _ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


def _calls(store: Store, project: str, at: datetime, *, calls: int, retries: int, agent: str = "worker") -> None:
    b = TraceBuilder(project_id=project, t0_ns=_ns(at))
    root = b.agent(agent, duration=1_000_000_000)
    for i in range(calls):
        b.llm(agent, root, content_hash=f"c{i}", attempt=2 if i < retries else 1, error=i < retries, cost=0.01)
    insert_steps(store, b.steps, version=1, dedup_token=uuid.uuid4().hex)


def _engine(store: Store, project: str, url: str, **rule: Any) -> AlertEngine:
    config = RulesFile.model_validate(
        {
            "include_defaults": False,
            "notifiers": [{"name": "hook", "type": "webhook", "url": url, "secret": SECRET, "backoff": "50ms"}],
            "rules": [
                {
                    "name": "storm",
                    "metric": "retry_rate",
                    "threshold": 0.3,
                    "window": "60s",
                    "project": project,
                    "notify": ["hook"],
                    **rule,
                }
            ],
        }
    )
    engine = AlertEngine(store, config)
    engine.dispatcher.start()
    return engine


def _states(engine: AlertEngine, project: str) -> list[str]:
    return [i.state for i in engine.instances(project, "storm")]


def test_pending_then_firing_once_then_resolved_with_history_and_signed_webhooks(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    _calls(store, project_id, now - timedelta(seconds=10), calls=10, retries=5)
    with webhook_receiver() as hook:
        engine = _engine(store, project_id, hook.url, **{"for": "30s"})
        try:
            engine.evaluate_project(project_id, now)
            assert _states(engine, project_id) == ["pending"]
            engine.evaluate_project(project_id, now + timedelta(seconds=31))
            engine.evaluate_project(project_id, now + timedelta(seconds=35))  # still firing: no second notification
            assert _states(engine, project_id) == ["firing"]
            engine.evaluate_project(project_id, now + timedelta(seconds=200))  # the storm left the window
            assert _states(engine, project_id) == ["resolved"]
            assert engine.dispatcher.wait_idle(10)
        finally:
            engine.dispatcher.stop()
        bodies = [r.json() for r in hook.requests]
        assert [b["status"] for b in bodies] == ["firing", "resolved"]
        assert bodies[0]["rule"] == "storm" and bodies[0]["value"] == pytest.approx(0.5)
        for r in hook.requests:
            assert verify(SECRET, r.headers["x-tracehouse-timestamp"], r.body, r.headers["x-tracehouse-signature"])
    events = list_events(store, project_id)
    assert [e["state"] for e in reversed(events)] == ["pending", "firing", "resolved"]
    assert all(e["notified"] == ["hook"] for e in events if e["state"] != "pending")


def test_state_survives_a_restart_without_renotifying(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    _calls(store, project_id, now - timedelta(seconds=5), calls=10, retries=6)
    with webhook_receiver() as hook:
        first = _engine(store, project_id, hook.url)
        first.evaluate_project(project_id, now)
        first.dispatcher.wait_idle(10)
        first.dispatcher.stop()
        second = _engine(store, project_id, hook.url)  # a restarted server
        second.evaluate_project(project_id, now + timedelta(seconds=5))
        second.dispatcher.wait_idle(10)
        second.dispatcher.stop()
        assert _states(second, project_id) == ["firing"]
        assert len(hook.requests) == 1


def test_repeat_interval_renotifies_a_long_firing(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    _calls(store, project_id, now - timedelta(seconds=5), calls=10, retries=6)
    with webhook_receiver() as hook:
        engine = _engine(store, project_id, hook.url, window="1h", repeat_interval="10m")
        for minutes in (0, 5, 11):
            engine.evaluate_project(project_id, now + timedelta(minutes=minutes))
        engine.dispatcher.wait_idle(10)
        engine.dispatcher.stop()
        assert [(r.json()["status"], r.json()["repeat"]) for r in hook.requests] == [
            ("firing", False),
            ("firing", True),
        ]


def test_a_silence_suppresses_notifications_but_not_state(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    _calls(store, project_id, now - timedelta(seconds=5), calls=10, retries=6)
    with webhook_receiver() as hook:
        engine = _engine(store, project_id, hook.url, window="1h")
        engine.add_silence(
            project_id,
            rule="storm",
            labels={},
            starts_at=now - timedelta(seconds=1),
            ends_at=now + timedelta(minutes=1),
            comment="deploying",
        )
        engine.evaluate_project(project_id, now)
        assert _states(engine, project_id) == ["firing"]
        assert engine.instances(project_id, "storm")[0].silenced
        engine.evaluate_project(
            project_id, now + timedelta(minutes=2)
        )  # silence over, still firing: now it is announced
        engine.dispatcher.wait_idle(10)
        engine.dispatcher.stop()
        assert [r.json()["status"] for r in hook.requests] == ["firing"]


def test_a_failing_notifier_is_retried_with_backoff_and_its_failure_recorded(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    _calls(store, project_id, now - timedelta(seconds=5), calls=10, retries=6)
    with webhook_receiver(statuses=[500, 503]) as flaky:
        engine = _engine(store, project_id, flaky.url)
        engine.evaluate_project(project_id, now)
        engine.dispatcher.wait_idle(10)
        engine.dispatcher.stop()
        assert len(flaky.requests) == 3  # two failures, then delivered
    [fired] = [e for e in list_events(store, project_id) if e["state"] == "firing"]
    assert fired["notified"] == ["hook"] and fired["notify_error"] == ""

    other = "t" + uuid.uuid4().hex[:12]
    _calls(store, other, now - timedelta(seconds=5), calls=10, retries=6)
    with webhook_receiver(statuses=[500] * 10) as dead:
        engine = _engine(store, other, dead.url)
        started = time.perf_counter()
        engine.evaluate_project(other, now)
        assert time.perf_counter() - started < 2.0  # delivery never blocks evaluation
        engine.dispatcher.wait_idle(10)
        engine.dispatcher.stop()
        assert len(dead.requests) == 4  # max_attempts
    [failed] = [e for e in list_events(store, other) if e["state"] == "firing"]
    assert (
        failed["notified"] == []
        and "HTTP 500" in failed["notify_error"]
        and "after 4 attempts" in failed["notify_error"]
    )
    assert next(n for n in engine.notifier_health() if n["name"] == "hook")["last_ok"] is False


def test_group_by_gives_one_alert_per_agent(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    _calls(store, project_id, now - timedelta(seconds=5), calls=10, retries=8, agent="flaky")
    _calls(store, project_id, now - timedelta(seconds=5), calls=10, retries=0, agent="steady")
    with webhook_receiver() as hook:
        engine = _engine(store, project_id, hook.url, group_by="agent", metric="error_rate")
        engine.evaluate_project(project_id, now)
        engine.dispatcher.wait_idle(10)
        engine.dispatcher.stop()
        states = {i.instance: i.state for i in engine.instances(project_id, "storm")}
        assert states == {"agent=flaky": "firing", "agent=steady": "inactive"}
        assert [r.json()["labels"] for r in hook.requests] == [{"agent": "flaky"}]


def test_findings_and_eval_pass_rate_metrics(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    write_findings(
        store,
        project_id,
        [
            Finding(
                id=uuid.uuid4().hex,
                kind=Kind.LOOP,
                severity=Severity.WARNING,
                trace_id="a" * 32,
                span_ids=[],
                agents=["x"],
                wasted_tokens=1,
                wasted_cost_usd=0.1,
                explanation="loop",
                detected_at=now,
            ),
        ],
    )
    cols = [
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
    ]
    rows = [
        [project_id, f"{i:032x}", "", "correct", 1.0, "", "test", "r", "s", "x", int(i < 1), "", now] for i in range(4)
    ]
    store.insert("scores", [list(c) for c in zip(*rows, strict=True)], cols)
    config = RulesFile.model_validate(
        {
            "include_defaults": False,
            "rules": [
                {
                    "name": "loops",
                    "metric": "findings",
                    "filters": {"kind": "loop"},
                    "threshold": 0,
                    "project": project_id,
                },
                {"name": "quality", "metric": "eval_pass_rate", "op": "<", "threshold": 0.5, "project": project_id},
            ],
        }
    )
    engine = AlertEngine(store, config)
    engine.evaluate_project(project_id, now + timedelta(seconds=1))
    engine.dispatcher.wait_idle(5)
    assert [i.state for i in engine.instances(project_id, "loops")] == ["firing"]
    [quality] = engine.instances(project_id, "quality")
    assert quality.state == "firing" and quality.value == pytest.approx(0.25)


def test_spend_spike_needs_the_baseline(store: Store, project_id: str) -> None:
    now = datetime.now(UTC)
    _calls(store, project_id, now - timedelta(minutes=5), calls=20, retries=0)  # $0.20 in 15 min: $0.8/h
    config = RulesFile.model_validate({"include_defaults": True})
    engine = AlertEngine(store, config)
    engine.evaluate_project(project_id, now)
    assert [i.state for i in engine.instances(project_id, "spend-spike")] == ["inactive"]  # no baseline: no spike


def _app(store: Store, service: AlertService) -> TestClient:
    app = FastAPI()
    app.include_router(alerts_router)
    app.state.store = store
    app.state.settings = type("S", (), {"no_auth": True})()
    app.state.alert_service = service
    return TestClient(app)


def test_rules_and_silences_are_editable_through_the_api(store: Store) -> None:
    service = AlertService(store)
    client = _app(store, service)
    project = "default"
    write_records(store, [{"project_id": project, "record": "rule", "rule": "errors", "deleted": 1}])  # clean slate
    listed = client.get("/api/alerts").json()
    assert {"retry-storm", "loops", "spend-spike"} <= {r["name"] for r in listed["rules"]}
    assert all((r["origin"], r["source"]) == ("default", "default") for r in listed["rules"])  # shipped: one word

    rule = {"name": "errors", "metric": "error_rate", "threshold": 0.1, "window": "5m", "for": "1m"}
    created = client.post("/api/alerts/rules", json=rule)
    assert created.status_code == 201 and created.json()["for"] == "1m"
    assert client.post("/api/alerts/rules", json=rule).status_code == 409
    bad = client.post("/api/alerts/rules", json={**rule, "name": "e2", "threshold": "x"})
    assert bad.status_code == 400 and "threshold" in bad.json()["detail"]
    assert client.put("/api/alerts/rules/errors", json={**rule, "threshold": 0.2}).json()["threshold"] == 0.2
    # a file rule can be replaced and deleted for this project
    assert client.put("/api/alerts/rules/loops", json={"metric": "findings", "threshold": 3}).status_code == 200
    assert client.delete("/api/alerts/rules/spend-spike").status_code == 204
    names = {r["name"]: (r["origin"], r["source"]) for r in client.get("/api/alerts").json()["rules"]}
    assert names["errors"] == ("api", "api") and "spend-spike" not in names
    assert names["loops"] == ("api", "api (replaces default)")
    assert client.delete("/api/alerts/rules/nope").status_code == 404

    silence = client.post("/api/alerts/silences", json={"rule": "errors", "duration": "2h", "comment": "deploy"})
    assert silence.status_code == 201
    sid = silence.json()["id"]
    assert [s["id"] for s in client.get("/api/alerts/silences").json()["silences"]] == [sid]
    assert client.delete(f"/api/alerts/silences/{sid}").status_code == 204
    assert client.get("/api/alerts/silences").json()["silences"] == []
    check = client.post("/api/alerts/check")
    assert check.status_code == 200 and check.json()["evaluation"]["last_at"]
    assert "events" in client.get("/api/alerts/history").json()
    # restore the file rules for other tests using the default project
    for name in ("errors", "loops"):
        client.delete(f"/api/alerts/rules/{name}")
    write_records(
        store, [{"project_id": project, "record": "rule", "rule": n, "deleted": 1} for n in ("loops", "spend-spike")]
    )
    service.stop()


def test_checking_one_project_reads_and_changes_no_other_project(store: Store) -> None:
    """`POST /api/alerts/check` with one project's key evaluates that project only (issue 13)."""
    mine, theirs = "a" + uuid.uuid4().hex[:10], "b" + uuid.uuid4().hex[:10]
    now = datetime.now(UTC)
    for project in (mine, theirs):
        _calls(store, project, now - timedelta(seconds=5), calls=10, retries=8)
    config = RulesFile.model_validate(
        {
            "include_defaults": False,
            "notifiers": [],
            "rules": [{"name": "storm", "metric": "retry_rate", "threshold": 0.3, "window": "60s", "for": "0s"}],
        }
    )
    engine = AlertEngine(store, config)
    transitions = engine.evaluate_project(mine, now)
    assert transitions and {t.project_id for t in transitions} == {mine}
    assert engine.instances(theirs, "storm") == []
    engine.evaluate_all_projects(now)
    assert engine.instances(theirs, "storm")
