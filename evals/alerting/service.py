"""Alert evaluation inside `tracehouse serve`: the engine, run as a cluster-wide job (`tracehouse.jobs`: only the
replica holding the jobs lease evaluates, every `interval_s`), plus its notifier dispatcher (`start`/`stop`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracehouse.evals.alerting.engine import AlertEngine, Transition
from tracehouse.evals.alerting.rules import METRICS, RulesFile, load_rules_file
from tracehouse.store.client import Store, StoreError, iso_z

log = logging.getLogger("tracehouse.alerts")

# How far back a new holder looks for notifications left undelivered: older news is not worth a page any more.
REDELIVERY_WINDOW = timedelta(hours=1)


class AlertService:
    """`AlertService(store, rules_file)`: loads and validates the rules file at construction (a bad file raises
    `RuleFileError` with one line naming the field). As a job, `run_once()` evaluates (every `interval_s`: the
    file's `interval`, default 30 s) and `take_over()` reloads the alert states a previous holder left in the store.
    `check()` runs one evaluation now (the API's `POST /api/alerts/check`), where `runs_here()` says this replica
    evaluates."""

    name = "alerts"

    def __init__(self, store: Store, rules_file: str | Path | None = None, *, interval_s: float | None = None) -> None:
        self.store = store
        self.rules_file = Path(rules_file) if rules_file else None
        config = load_rules_file(self.rules_file) if self.rules_file else RulesFile()
        self.engine = AlertEngine(store, config)
        self.interval_s = interval_s if interval_s is not None else config.interval
        # Set by the server to "this replica holds the jobs lease"; alone (tests, one process) it always evaluates.
        self.runs_here: Callable[[], bool] = lambda: True

    def start(self) -> None:
        self.engine.dispatcher.start()

    def stop(self) -> None:
        self.engine.dispatcher.stop()

    def run_once(self) -> None:
        try:
            self.engine.evaluate_all_projects()
            self.engine.last_error = None
        except StoreError as exc:
            self.engine.last_error = str(exc)
            log.warning("alert evaluation failed (retrying next tick): %s", exc)
        except Exception as exc:  # an engine bug: shown on the Alerts page; the runner logs it with its traceback
            self.engine.last_error = f"{type(exc).__name__}: {exc}"
            raise

    def take_over(self) -> None:
        """Start from what the previous holder left: its alert states, and what it recorded but never delivered."""
        self.engine.reload()
        queued = self.engine.redeliver_undelivered(datetime.now(UTC) - REDELIVERY_WINDOW)
        if queued:
            log.warning("re-sending %d notification(s) a previous holder recorded but did not deliver", queued)

    def check(self, project: str) -> list[Transition]:
        """Evaluate one project's rules now; the caller checks `runs_here()` first (another replica's pass would
        notify twice)."""
        self.engine.dispatcher.start()
        return self.engine.evaluate_project(project)

    def overview(self, project: str) -> dict[str, Any]:
        """Every rule of the project with its state, the notifiers, active silences and the evaluation status: what
        `GET /api/alerts` returns and the dashboard's Alerts page shows."""
        engine = self.engine
        if not self.runs_here():  # the holder's states are in the store, not in this replica's memory
            engine.reload()
        return {
            "rules": engine.overview(project),
            "notifiers": engine.notifier_health(),
            "silences": [s.to_json() for s in engine.silences(project)],
            "metrics": list(METRICS),
            "evaluation": {
                "interval_s": self.interval_s,
                "last_at": _iso(engine.last_evaluation),
                "last_duration_s": engine.last_duration_s,
                "last_error": engine.last_error,
                "rules_file": str(self.rules_file) if self.rules_file else None,
            },
        }


def _iso(value: datetime | None) -> str | None:
    return iso_z(value) if value else None
