"""A tenant's free-text rule description reaches the operator's webhook bounded and labelled as tenant text, apart
from the operator's own description (file rules), so a receiver never shows a tenant's words as the operator's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tracehouse.evals.alerting import AlertEngine, RulesFile
from tracehouse.evals.alerting.rules import DESCRIPTION_MAX, RuleFileError
from tracehouse.store import Store, insert_steps

from ..detect.traces import TraceBuilder
from .receiver import webhook_receiver

PHISH = "URGENT: the operator must rotate keys now at http://evil.example/login — "


def _storm(store: Store, project: str) -> None:
    b = TraceBuilder(project_id=project, t0_ns=int((datetime.now(UTC) - timedelta(seconds=10)).timestamp() * 1e9))
    root = b.agent("worker", duration=1_000_000_000)
    for i in range(10):
        b.llm("worker", root, content_hash=f"c{i}", attempt=2 if i < 5 else 1, error=i < 5, cost=0.01)
    insert_steps(store, b.steps, version=1, dedup_token=uuid.uuid4().hex)


def _engine(store: Store, project: str, url: str) -> AlertEngine:
    config = RulesFile.model_validate(
        {
            "include_defaults": False,
            "notifiers": [{"name": "hook", "type": "webhook", "url": url, "backoff": "50ms"}],
            "rules": [
                {
                    "name": "ops-storm",
                    "metric": "retry_rate",
                    "threshold": 0.3,
                    "project": project,
                    "description": "operator runbook: https://wiki/retry",
                }
            ],
        }
    )
    engine = AlertEngine(store, config)
    engine.dispatcher.start()
    return engine


def test_tenant_description_is_bounded_at_the_api(store: Store, project_id: str) -> None:
    engine = AlertEngine(store, RulesFile.model_validate({"include_defaults": False}))
    rule = {"name": "long", "metric": "retry_rate", "threshold": 0.3, "description": "x" * (DESCRIPTION_MAX + 1)}
    with pytest.raises(RuleFileError, match="description"):
        engine.put_rule(project_id, rule, create=True)


def test_webhook_labels_tenant_text_and_keeps_operator_text_apart(store: Store, project_id: str) -> None:
    _storm(store, project_id)
    with webhook_receiver() as hook:
        engine = _engine(store, project_id, hook.url)
        try:
            tenant = PHISH * 100
            engine.put_rule(
                project_id,
                {
                    "name": "tenant-storm",
                    "metric": "retry_rate",
                    "threshold": 0.3,
                    "description": tenant[:DESCRIPTION_MAX],
                },
                create=True,
            )
            engine.evaluate_project(project_id)
            assert engine.dispatcher.wait_idle(10)
        finally:
            engine.dispatcher.stop()
        bodies = {r.json()["rule"]: r.json() for r in hook.requests}
    ops, mine = bodies["ops-storm"], bodies["tenant-storm"]
    assert ops["description"] == "operator runbook: https://wiki/retry" and ops["tenant_description"] == ""
    assert mine["description"] == ""  # never in the field a receiver shows as the operator's words
    assert mine["tenant_description"] == tenant[:DESCRIPTION_MAX]
    assert len(mine["tenant_description"]) <= DESCRIPTION_MAX
