"""More than one replica: the jobs lease in the store elects one runner of the cluster-wide jobs, so a firing alert
is notified once, and a runner that takes over after the holder died reads the alert state it left and neither
repeats nor loses a notification. Two runners in one process against the real embedded store (two servers cannot
share the embedded engine)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from tests.alerting.receiver import webhook_receiver
from tests.detect.traces import TraceBuilder
from tracehouse.evals.alerting import AlertEngine, AlertService, RulesFile
from tracehouse.jobs import Job, JobRunner
from tracehouse.store import Store, insert_steps
from tracehouse.store.alerts import list_events
from tracehouse.store.leases import Lease, current_lease

TTL, SETTLE = 1.5, 0.1


def lease_name() -> str:
    return "test-" + uuid.uuid4().hex[:10]


def runner(store: Store, name: str, owner: str, jobs: list[Job]) -> JobRunner:
    return JobRunner(Lease(store, name, owner=owner, ttl_s=TTL, settle_s=SETTLE), jobs)


class Counter:
    name, interval_s = "count", 0.0

    def __init__(self) -> None:
        self.runs = 0

    def run_once(self) -> None:
        self.runs += 1


def test_two_runners_racing_for_a_free_lease_elect_one(store: Store) -> None:
    for _ in range(3):
        name = lease_name()
        leases = [Lease(store, name, owner=f"r{i}", ttl_s=TTL, settle_s=SETTLE) for i in range(2)]
        results: dict[str, bool] = {}
        threads = [
            threading.Thread(target=lambda le=le, out=results: out.update({le.owner: le.acquire()})) for le in leases
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == [False, True], results
        holder = current_lease(store, name)
        assert holder is not None and results[holder.owner] is True


def test_only_the_holder_runs_jobs_and_the_other_takes_over_after_expiry(store: Store) -> None:
    name = lease_name()
    jobs = [Counter(), Counter()]
    a, b = (runner(store, name, owner, [job]) for owner, job in zip("ab", jobs, strict=True))
    assert a.renew() and not b.renew()
    assert a.tick() == ["count"] and b.tick() == []
    assert b.renew() is False  # still live: renewing is not stealing
    time.sleep(TTL + 0.2)  # a dies: no renewal, no release
    assert not a.holds
    assert b.renew() and b.tick() == ["count"]
    assert not a.renew() and a.tick() == []  # the old holder comes back as a follower
    assert (jobs[0].runs, jobs[1].runs) == (1, 1)


def test_a_clean_stop_hands_over_at_once(store: Store) -> None:
    name = lease_name()
    a = JobRunner(Lease(store, name, owner="a", ttl_s=30, settle_s=SETTLE))
    b = JobRunner(Lease(store, name, owner="b", ttl_s=30, settle_s=SETTLE))
    assert a.renew() and not b.renew()
    a.stop()  # releases the lease
    assert b.renew()


def _storm(store: Store, project: str) -> None:
    b = TraceBuilder(project_id=project, t0_ns=time.time_ns())
    root = b.agent("worker", duration=100_000_000)
    for i in range(10):
        b.llm("worker", root, content_hash=f"c{i}", attempt=2 if i < 6 else 1, error=i < 6, cost=0.01)
    insert_steps(store, b.steps, version=1, dedup_token=uuid.uuid4().hex)


def _service(store: Store, project: str, url: str) -> AlertService:
    """One replica's alert service: a storm rule for this test's project, notifying the test's webhook."""
    config = RulesFile.model_validate(
        {
            "include_defaults": False,
            "notifiers": [{"name": "hook", "type": "webhook", "url": url, "backoff": "50ms"}],
            "rules": [{"name": "storm", "metric": "retry_rate", "threshold": 0.3, "window": "8s", "project": project}],
        }
    )
    service = AlertService(store, interval_s=0.2)
    service.engine = AlertEngine(store, config)
    return service


def _mine(requests: Any, project_id: str) -> list[dict[str, Any]]:
    """This test's notifications: the session's store holds other tests' projects and rules, and a pass over every
    project notifies for them too."""
    return [body for body in (r.json() for r in requests) if body.get("project_id") == project_id]


def test_failover_neither_repeats_nor_loses_a_notification(store: Store, project_id: str) -> None:
    name = lease_name()
    with webhook_receiver() as hook:
        services = [_service(store, project_id, hook.url) for _ in range(2)]
        a, b = (runner(store, name, owner, [s]) for owner, s in zip("ab", services, strict=True))
        for service, held_by in zip(services, (a, b), strict=True):
            service.runs_here = lambda held_by=held_by: held_by.holds
            service.start()
        try:
            assert b.renew() and b.tick() == ["alerts"]  # b evaluates first: nothing fires yet
            time.sleep(TTL + 0.2)  # b stalls past its lease
            _storm(store, project_id)
            for _ in range(2):  # both replicas tick as often as they like: only the holder evaluates
                a.renew(), b.renew()
                a.tick(), b.tick()
            assert a.holds and not b.holds
            hook.wait_for(1)
            time.sleep(TTL + 0.2)  # a dies mid-firing, without releasing the lease
            assert b.renew() and b.tick() == ["alerts"]  # took over: the alert still fires, already announced
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(_mine(hook.requests, project_id)) < 2:  # the storm left
                b.renew()
                b.tick()
                time.sleep(0.5)
            assert services[1].engine.dispatcher.wait_idle(10)
        finally:
            for s in services:
                s.stop()
        bodies = _mine(hook.requests, project_id)
    assert [(x["rule"], x["status"]) for x in bodies] == [("storm", "firing"), ("storm", "resolved")]
    assert len({x["event_id"] for x in bodies}) == 2


def test_a_notification_the_dead_holder_never_delivered_is_sent_by_the_next(store: Store, project_id: str) -> None:
    name = lease_name()
    _storm(store, project_id)
    with webhook_receiver() as hook:
        dead, heir = (_service(store, project_id, hook.url) for _ in range(2))
        a, b = runner(store, name, "a", [dead]), runner(store, name, "b", [heir])
        heir.start()  # the dead holder's notifier never runs: it dies with the firing recorded, not delivered
        try:
            assert a.renew() and a.tick() == ["alerts"]
            time.sleep(TTL + 0.2)
            assert b.renew() and b.tick() == ["alerts"]
            assert heir.engine.dispatcher.wait_idle(10)
            hook.wait_for(1)
            assert heir.engine.dispatcher.wait_idle(10)
            bodies = _mine(hook.requests, project_id)
        finally:
            heir.stop()
    assert [(x["rule"], x["status"]) for x in bodies] == [("storm", "firing")]
    history = list_events(store, project_id)
    firing = [e for e in history if e["state"] == "firing"]
    assert len(firing) == 1 and firing[0]["notified"] == ["hook", "log"] and firing[0]["notify_error"] == ""


def test_alerts_check_is_refused_on_a_replica_that_does_not_evaluate(store: Store) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from tracehouse.evals.alerting.api import router

    app = FastAPI()
    app.include_router(router)
    app.state.store = store
    app.state.settings = type("S", (), {"no_auth": True})()
    app.state.alert_service = AlertService(store)
    app.state.alert_service.runs_here = lambda: False
    answer = TestClient(app).post("/api/alerts/check")
    assert answer.status_code == 409 and "lease" in answer.text
    assert TestClient(app).get("/api/alerts").status_code == 200  # reading the state works anywhere
