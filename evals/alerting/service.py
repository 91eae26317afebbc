"""Alert evaluation inside `tracehouse serve`: the engine on a schedule (a background thread) plus its notifier
dispatcher, started and stopped together."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracehouse.collector.store.client import Store, StoreError
from tracehouse.evals.alerting.engine import AlertEngine, Transition
from tracehouse.evals.alerting.rules import METRICS, RulesFile, load_rules_file

log = logging.getLogger("tracehouse.alerts")


class AlertService:
    """`AlertService(store, rules_file)`: loads and validates the rules file at construction (a bad file raises
    `RuleFileError` with one line naming the field), evaluates every `interval_s` (the file's `interval`, default
    30 s) once started. `check()` runs one evaluation now (the API's `POST /api/alerts/check`)."""

    def __init__(self, store: Store, rules_file: str | Path | None = None, *, interval_s: float | None = None) -> None:
        self.store = store
        self.rules_file = Path(rules_file) if rules_file else None
        config = load_rules_file(self.rules_file) if self.rules_file else RulesFile()
        self.engine = AlertEngine(store, config)
        self.interval_s = interval_s if interval_s is not None else config.interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self.engine.dispatcher.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tracehouse-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.engine.dispatcher.stop()

    def check(self) -> list[Transition]:
        """Evaluate now (also works when the schedule is not running: notifications are then delivered inline)."""
        transitions = self.engine.evaluate()
        if self._thread is None:
            self.engine.dispatcher.start()
        return transitions

    def overview(self, project: str) -> dict[str, Any]:
        """Every rule of the project with its state, the notifiers, active silences and the evaluation status: what
        `GET /api/alerts` returns and the dashboard's Alerts page shows."""
        engine = self.engine
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

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.engine.evaluate()
                self.engine.last_error = None
            except StoreError as exc:
                self.engine.last_error = str(exc)
                log.warning("alert evaluation failed (retrying next tick): %s", exc)
            except Exception as exc:  # an engine bug must not stop alerting; logged with its traceback
                self.engine.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("alert evaluation failed")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
