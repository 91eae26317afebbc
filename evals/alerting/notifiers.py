"""Notifiers: a generic JSON webhook signed with HMAC-SHA256, a Slack-compatible incoming webhook, and the log.

Delivery happens on a background thread (`Dispatcher`), so a slow or dead receiver never blocks evaluation. Each
delivery is retried with exponential backoff (`backoff`, doubling, `max_attempts` in all); the outcome — which
notifiers succeeded, and the last error of those that failed — is reported to a callback that records it in the
alert's history.

Webhook requests carry `X-Tracehouse-Signature: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>` under the
notifier's secret, and `X-Tracehouse-Timestamp: <unix seconds>` (so a receiver can reject replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tracehouse.evals.alerting.rules import DESCRIPTION_MAX, Notifier

log = logging.getLogger("tracehouse.alerts")

SIGNATURE_HEADER = "X-Tracehouse-Signature"
TIMESTAMP_HEADER = "X-Tracehouse-Timestamp"


@dataclass
class Notification:
    """One state change worth telling someone about; `payload()` is the webhook body."""

    event_id: str
    event_at: str
    project_id: str
    rule: str
    status: str  # firing / resolved
    severity: str
    value: float | None
    threshold: float
    labels: dict[str, str]
    message: str
    since: str
    description: str = ""  # the operator's text (a rules-file rule)
    tenant_description: str = ""  # a tenant's text (a rule made through the API): never shown as the operator's
    repeat: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "version": 1,
            "source": "tracehouse",
            "event_id": self.event_id,
            "status": self.status,
            "rule": self.rule,
            "severity": self.severity,
            "project_id": self.project_id,
            "labels": self.labels,
            "value": self.value,
            "threshold": self.threshold,
            "since": self.since,
            "at": self.event_at,
            "repeat": self.repeat,
            "message": self.message,
            "description": self.description[:DESCRIPTION_MAX],
            "tenant_description": self.tenant_description[:DESCRIPTION_MAX],
        }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` over `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class DeliveryError(RuntimeError):
    """A notifier that did not accept a notification (the message says why, in one line)."""


def deliver(notifier: Notifier, note: Notification, client: httpx.Client) -> None:
    """One attempt; raises DeliveryError when the receiver did not answer 2xx."""
    if notifier.type == "log":
        level = logging.WARNING if note.status == "firing" else logging.INFO
        log.log(level, "alert %s %s [%s] %s", note.rule, note.status, note.project_id, note.message)
        return
    if notifier.type == "slack":
        icon = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}.get(note.status, "")
        body = json.dumps({"text": f"{icon} *{note.status.upper()}* {note.rule} ({note.severity}): {note.message}"})
    else:
        body = json.dumps(note.payload(), sort_keys=True)
    raw = body.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "tracehouse-alerts", **notifier.headers}
    secret = notifier.signing_secret()
    if notifier.type == "webhook" and secret:
        ts = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = ts
        headers[SIGNATURE_HEADER] = sign(secret, ts, raw)
    assert notifier.url is not None  # validated by the model
    try:
        response = client.post(notifier.url, content=raw, headers=headers, timeout=notifier.timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code} from {_host(notifier.url)}")


def _host(url: str) -> str:
    return httpx.URL(url).host or url


@dataclass
class Delivery:
    """The outcome of one notification across its notifiers."""

    note: Notification
    succeeded: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def error_text(self) -> str:
        return "; ".join(f"{name}: {err}" for name, err in sorted(self.errors.items()))


class Dispatcher:
    """Queue + worker thread delivering notifications with retries; `on_result(delivery)` is called after each."""

    def __init__(
        self,
        on_result: Callable[[Delivery], None] | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        max_queue: int = 10_000,
    ) -> None:
        self._queue: queue.Queue[tuple[Notification, list[Notifier]] | None] = queue.Queue(max_queue)
        self._on_result = on_result
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(follow_redirects=False)
        self.health: dict[str, dict[str, Any]] = {}  # notifier name -> last outcome, for the UI
        self._idle = threading.Condition()
        self._pending = 0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tracehouse-notify", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        self._client.close()

    def submit(self, note: Notification, notifiers: list[Notifier]) -> bool:
        """Queue a notification; False (and a log line) when the queue is full — evaluation never waits."""
        try:
            with self._idle:
                self._pending += 1
            self._queue.put_nowait((note, notifiers))
            return True
        except queue.Full:
            with self._idle:
                self._pending -= 1
            log.error("notification queue full; dropped %s %s", note.rule, note.status)
            return False

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every queued notification was delivered or gave up (tests and `alerts check`)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            note, notifiers = item
            try:
                self._deliver_all(note, notifiers)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver_all(self, note: Notification, notifiers: list[Notifier]) -> None:
        result = Delivery(note)
        for notifier in notifiers:
            error = self._deliver_with_retries(notifier, note)
            if error is None:
                result.succeeded.append(notifier.name)
            else:
                result.errors[notifier.name] = error
            self.health[notifier.name] = {
                "ok": error is None,
                "last_error": error,
                "at": time.time(),
                "rule": note.rule,
            }
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception:  # recording the outcome failed: say so, keep delivering
                log.exception("recording a notification outcome failed")

    def _deliver_with_retries(self, notifier: Notifier, note: Notification) -> str | None:
        delay = notifier.backoff
        error = "not attempted"
        for attempt in range(1, notifier.max_attempts + 1):
            if self._stop.is_set() and attempt > 1:
                return f"{error} (gave up: shutting down)"
            try:
                deliver(notifier, note, self._client)
                return None
            except DeliveryError as exc:
                error = str(exc)
                log.warning("notifier %s attempt %d/%d failed: %s", notifier.name, attempt, notifier.max_attempts, exc)
            if attempt < notifier.max_attempts:
                self._sleep(delay)
                delay = min(delay * 2, 60.0)
        return f"{error} (after {notifier.max_attempts} attempts)"
