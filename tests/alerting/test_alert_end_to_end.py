"""A retry storm made by the real orchestrator + SDK (the demo) reaches a real `tracehouse serve`; its retry-rate
alert fires to a real webhook receiver on 127.0.0.1 exactly once, and resolves when the storm has left the window."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tracehouse.evals.alerting import verify
from tracehouse.orchestrator.demo import run_demo

from .receiver import webhook_receiver


@pytest.mark.slow
def test_retry_storm_fires_once_to_the_webhook_and_resolves(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with webhook_receiver() as hook:
        rules = tmp_path / "alerts.yaml"
        rules.write_text(
            "interval: 1s\n"
            "include_defaults: false\n"
            f"notifiers:\n  - {{name: hook, type: webhook, url: '{hook.url}', secret: s3cret, backoff: 100ms}}\n"
            "rules:\n"
            "  - {name: storm, metric: retry_rate, threshold: 0.1, window: 12s, severity: critical, notify: [hook]}\n"
        )
        server = make_server(env={"TRACEHOUSE_ALERTS_FILE": str(rules)})
        run_demo(server.url, server.api_key, echo=None)
        [fired] = hook.wait_for(1, timeout=30)
        body = fired.json()
        assert body["status"] == "firing" and body["rule"] == "storm" and body["value"] > 0.1
        assert verify(
            "s3cret", fired.headers["x-tracehouse-timestamp"], fired.body, fired.headers["x-tracehouse-signature"]
        )
        requests = hook.wait_for(2, timeout=40)  # the storm leaves the 12 s window
        assert [r.json()["status"] for r in requests] == ["firing", "resolved"]
        time.sleep(2)
        assert len(hook.requests) == 2  # no duplicate for the one firing
        history = httpx.get(f"{server.url}/api/alerts/history", headers=server.headers, timeout=10).json()["events"]
        states = [e["state"] for e in reversed(history) if e["rule"] == "storm"]
        assert states[-2:] == ["firing", "resolved"]
        assert all(e["notified"] == ["hook"] for e in history if e["state"] in ("firing", "resolved"))
        rules_state = httpx.get(f"{server.url}/api/alerts", headers=server.headers, timeout=10).json()["rules"]
        assert next(r for r in rules_state if r["name"] == "storm")["state"] == "resolved"
