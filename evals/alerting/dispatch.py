"""Notifier dispatch for the alert engine: which notifiers a rule's news goes to, the notification made from an alert
event, an outbox a pass fills and sends only once its states are stored, and each delivery's outcome written back
onto its event (`notifiers.Dispatcher` does the sending, on its own thread)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from tracehouse.evals.alerting.notifiers import Delivery, Dispatcher, Notification
from tracehouse.evals.alerting.rules import Notifier, Rule
from tracehouse.evals.alerting.states import Instance, instance_key
from tracehouse.store.client import iso_z


@dataclass(frozen=True)
class AlertEvent:
    """An event the engine recorded, as a notification needs it."""

    id: str
    at: datetime
    message: str
    status: str  # firing / resolved
    repeat: bool


class NotifierDispatch:
    """`targets(rule)`, `queue(...)` during a pass, `flush()` after its states are written; `health()` for the page."""

    def __init__(
        self,
        notifiers: list[Notifier],
        record: Callable[[dict[str, Any]], None],
        is_file_rule: Callable[[Rule], bool],
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.notifiers: dict[str, Notifier] = {n.name: n for n in notifiers}
        if "log" not in self.notifiers:
            self.notifiers["log"] = Notifier(name="log", type="log")
        self._record = record
        self._is_file_rule = is_file_rule
        self.dispatcher = dispatcher or Dispatcher(self.record_delivery)
        self._outbox: list[tuple[Notification, list[Notifier]]] = []

    def targets(self, rule: Rule) -> list[Notifier]:
        return [self.notifiers[n] for n in (rule.notify or list(self.notifiers)) if n in self.notifiers]

    def note(self, rule: Rule, inst: Instance, event: AlertEvent) -> Notification:
        from_file = self._is_file_rule(rule)
        return Notification(
            event_id=event.id,
            event_at=iso_z(event.at),
            project_id=inst.project_id,
            rule=rule.name,
            status=event.status,
            severity=rule.severity,
            value=inst.value,
            threshold=rule.threshold,
            labels=inst.labels,
            message=event.message,
            since=iso_z(inst.since),
            description=rule.description if from_file else "",
            tenant_description="" if from_file else rule.description,
            repeat=event.repeat,
        )

    def queue(self, rule: Rule, inst: Instance, event: AlertEvent) -> None:
        """Hold a notification until the pass's states are stored (`flush`)."""
        self._outbox.append((self.note(rule, inst, event), self.targets(rule)))

    def discard(self) -> None:
        self._outbox = []

    def flush(self) -> None:
        for note, targets in self._outbox:
            self.dispatcher.submit(note, targets)
        self._outbox = []

    def resend(self, rule: Rule, inst: Instance, event: AlertEvent) -> bool:
        """Send again now what was recorded but never delivered; False when the queue is full."""
        return self.dispatcher.submit(self.note(rule, inst, event), self.targets(rule))

    def record_delivery(self, delivery: Delivery) -> None:
        """Rewrite the event with what the notifiers said (same key, later updated_at)."""
        note = delivery.note
        at = datetime.fromisoformat(note.event_at.replace("Z", "+00:00"))
        self._record(
            {
                "project_id": note.project_id,
                "id": note.event_id,
                "rule": note.rule,
                "instance": instance_key(note.labels),
                "state": "repeat" if note.repeat else note.status,
                "severity": note.severity,
                "value": note.value,
                "labels": note.labels,
                "message": note.message,
                "notified": delivery.succeeded,
                "notify_error": delivery.error_text,
                "at": at,
                "updated_at": max(datetime.now(UTC), at + timedelta(milliseconds=1)),
            }
        )

    def health(self) -> list[dict[str, Any]]:
        out = []
        for name, n in sorted(self.notifiers.items()):
            health = self.dispatcher.health.get(name, {})
            out.append(
                {
                    "name": name,
                    "type": n.type,
                    "url_host": urlparse(n.url).hostname if n.url else None,
                    "signed": bool(n.signing_secret()),
                    "last_ok": health.get("ok"),
                    "last_error": health.get("last_error"),
                    "last_attempt_at": iso_z(datetime.fromtimestamp(health["at"], UTC)) if "at" in health else None,
                }
            )
        return out
