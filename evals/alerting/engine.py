"""The alert engine: evaluates rules on a schedule, moves each alert instance through inactive → pending → firing →
resolved, records history, and hands notifications to the dispatcher (once per firing, again only after the
rule's repeat interval, never while silenced).

An alert instance is (project, rule, label set): a rule with `group_by: agent` has one instance per agent.
Rules come from the rules file (or the shipped defaults) for every project, and from the API per project: a rule
created through the API with a file rule's name replaces it for that project, a deleted one hides it.
State is kept in memory and in the `alerts` table, so a restart neither forgets a firing alert nor re-notifies it.
A pass writes the new states before it hands any notification to the dispatcher, so whoever evaluates next (this
process after a restart, or another replica that took the jobs lease over and called `reload()`) sees that the
firing was announced and does not announce it again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from tracehouse.evals.alerting.notifiers import Delivery, Dispatcher, Notification
from tracehouse.evals.alerting.rules import (
    Notifier,
    Rule,
    RuleFileError,
    RulesFile,
    effective_file_rules,
    format_duration,
    parse_rule,
)
from tracehouse.store.alerts import (
    PENDING_DELIVERY,
    MetricRow,
    load_records,
    metric_values,
    undelivered_events,
    write_events,
    write_records,
)
from tracehouse.store.client import Store, StoreError
from tracehouse.store.scope import ALL_PROJECTS, Scope

log = logging.getLogger("tracehouse.alerts")

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


class RuleNotFound(KeyError):
    """No rule of that name in the project."""


class RuleConflict(ValueError):
    """A rule of that name already exists in the project."""


@dataclass
class Instance:
    project_id: str
    rule: str
    instance: str
    labels: dict[str, str]
    state: str = INACTIVE
    severity: str = "warning"
    value: float | None = None
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    notified_at: datetime | None = None
    silenced: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.project_id, self.rule, self.instance)

    def to_json(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "labels": self.labels,
            "state": self.state,
            "value": self.value,
            "since": _iso(self.since),
            "notified_at": _iso(self.notified_at) if self.notified_at else None,
            "silenced": self.silenced,
        }


@dataclass
class Silence:
    id: str
    project_id: str
    rule: str | None
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, inst: Instance) -> bool:
        return (
            inst.project_id == self.project_id
            and (self.rule in (None, "", "*") or self.rule == inst.rule)
            and all(inst.labels.get(k) == v for k, v in self.labels.items())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "labels": self.labels,
            "starts_at": _iso(self.starts_at),
            "ends_at": _iso(self.ends_at),
            "comment": self.comment,
            "created_by": self.created_by,
        }


@dataclass
class Transition:
    project_id: str
    rule: str
    instance: str
    previous: str
    state: str
    value: float | None
    notified: bool


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instance_key(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class AlertEngine:
    """Rules + state + silences for every project; `evaluate()` is one pass (thread-safe)."""

    def __init__(
        self,
        store: Store,
        config: RulesFile | None = None,
        *,
        dispatcher: Dispatcher | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.config = config or RulesFile()
        self.file_rules = effective_file_rules(self.config)
        self.notifiers: dict[str, Notifier] = {n.name: n for n in self.config.notifiers}
        if "log" not in self.notifiers:
            self.notifiers["log"] = Notifier(name="log", type="log")
        self.dispatcher = dispatcher or Dispatcher(self._record_delivery)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._states: dict[tuple[str, str, str], Instance] = {}
        self._outbox: list[tuple[Notification, list[Notifier]]] = []  # sent once the pass's states are written
        self._loaded = False
        self.last_evaluation: datetime | None = None
        self.last_duration_s: float | None = None
        self.last_error: str | None = None
        self.rule_errors: dict[tuple[str, str], str] = {}

    # -- state persistence -----------------------------------------------------------------------------------------
    def load(self) -> None:
        """Read the persisted alert states (once; later passes keep them in memory)."""
        with self._lock:
            if not self._loaded:
                self.reload()

    def reload(self) -> None:
        """Replace the states in memory with the stored ones: what a replica taking over evaluation must start from."""
        with self._lock:
            self._states = {}
            for r in load_records(self.store, "state", scope=ALL_PROJECTS):
                inst = Instance(
                    project_id=r["project_id"],
                    rule=r["rule"],
                    instance=r["instance"],
                    labels=r["labels"],
                    state=r["state"] or INACTIVE,
                    severity=r["severity"] or "warning",
                    value=r["value"],
                    since=r["since"],
                    notified_at=r["notified_at"],
                )
                self._states[inst.key] = inst
            self._loaded = True

    def _persist(self, instances: Iterable[Instance]) -> None:
        write_records(
            self.store,
            [
                {
                    "project_id": i.project_id,
                    "record": "state",
                    "rule": i.rule,
                    "instance": i.instance,
                    "state": i.state,
                    "severity": i.severity,
                    "value": i.value,
                    "labels": i.labels,
                    "since": i.since,
                    "notified_at": i.notified_at,
                    "updated_at": self.clock(),
                }
                for i in instances
            ],
        )

    # -- rules -----------------------------------------------------------------------------------------------------
    def api_rules(self, scope: Scope) -> dict[str, dict[str, tuple[Rule | None, datetime]]]:
        """project -> name -> (rule, or None for a deletion) as stored through the API."""
        out: dict[str, dict[str, tuple[Rule | None, datetime]]] = {}
        for r in load_records(self.store, "rule", scope=scope):
            rule: Rule | None = None
            if not r["deleted"]:
                try:
                    rule = Rule.model_validate(json.loads(r["body"]))
                except ValueError:
                    log.error("stored rule %s of project %s is no longer valid; ignored", r["rule"], r["project_id"])
                    continue
            out.setdefault(r["project_id"], {})[r["rule"]] = (rule, r["updated_at"])
        return out

    def rules_for(self, project_id: str) -> list[tuple[Rule, str]]:
        """The project's effective rules with their origin ('file' or 'api')."""
        stored = self.api_rules(project_id).get(project_id, {})
        out: dict[str, tuple[Rule, str]] = {
            r.name: (r, "file") for r in self.file_rules if r.project in (None, project_id)
        }
        for name, (rule, _) in stored.items():
            if rule is None:
                out.pop(name, None)
            else:
                out[name] = (rule, "api")
        return sorted(out.values(), key=lambda x: x[0].name)

    def put_rule(self, project_id: str, data: Any, *, name: str | None = None, create: bool = False) -> Rule:
        """Create (`create=True`) or replace a project's rule; one-line RuleFileError when invalid."""
        rule = parse_rule(data, "rule")
        if name is not None and rule.name != name:
            raise RuleFileError(f"rule: name: cannot rename {name!r} to {rule.name!r} (delete and create instead)")
        for notifier in rule.notify or []:
            if notifier not in self.notifiers:
                raise RuleFileError(f"rule: notify: no notifier named {notifier!r}")
        rule = rule.model_copy(update={"project": project_id})
        with self._lock:
            existing = {r.name for r, _ in self.rules_for(project_id)}
            if create and rule.name in existing:
                raise RuleConflict(f"a rule named {rule.name!r} already exists")
            if not create and rule.name not in existing:
                raise RuleNotFound(rule.name)
            write_records(
                self.store,
                [
                    {
                        "project_id": project_id,
                        "record": "rule",
                        "rule": rule.name,
                        "body": json.dumps(rule.to_json()),
                        "updated_at": self.clock(),
                    }
                ],
            )
        return rule

    def delete_rule(self, project_id: str, name: str) -> None:
        with self._lock:
            if name not in {r.name for r, _ in self.rules_for(project_id)}:
                raise RuleNotFound(name)
            write_records(
                self.store,
                [{"project_id": project_id, "record": "rule", "rule": name, "deleted": 1, "updated_at": self.clock()}],
            )
            resolved = [i for i in self._states.values() if i.project_id == project_id and i.rule == name]
            for inst in resolved:
                inst.state, inst.since, inst.notified_at = INACTIVE, self.clock(), None
            self._persist(resolved)

    # -- silences --------------------------------------------------------------------------------------------------
    def silences(self, scope: Scope, *, include_expired: bool = False) -> list[Silence]:
        now = self.clock()
        out = []
        for r in load_records(self.store, "silence", scope=scope):
            if r["deleted"]:
                continue
            body = json.loads(r["body"])
            s = Silence(
                id=r["rule"],
                project_id=r["project_id"],
                rule=body.get("rule"),
                labels=body.get("labels", {}),
                starts_at=datetime.fromisoformat(body["starts_at"]),
                ends_at=datetime.fromisoformat(body["ends_at"]),
                comment=body.get("comment", ""),
                created_by=body.get("created_by", ""),
            )
            if include_expired or s.ends_at > now:
                out.append(s)
        return sorted(out, key=lambda s: s.ends_at)

    def add_silence(
        self,
        project_id: str,
        *,
        rule: str | None,
        labels: dict[str, str],
        duration_s: float | None = None,
        ends_at: datetime | None = None,
        starts_at: datetime | None = None,
        comment: str = "",
        created_by: str = "",
    ) -> Silence:
        start = starts_at or self.clock()
        end = ends_at or (start + timedelta(seconds=duration_s or 3600))
        if end <= start:
            raise RuleFileError("silence: ends_at: must be after starts_at")
        s = Silence(uuid.uuid4().hex[:16], project_id, rule or None, dict(labels), start, end, comment, created_by)
        body = {**s.to_json(), "starts_at": start.isoformat(), "ends_at": end.isoformat()}
        write_records(
            self.store,
            [
                {
                    "project_id": project_id,
                    "record": "silence",
                    "rule": s.id,
                    "body": json.dumps(body),
                    "updated_at": self.clock(),
                }
            ],
        )
        return s

    def delete_silence(self, project_id: str, silence_id: str) -> None:
        if silence_id not in {s.id for s in self.silences(project_id)}:
            raise RuleNotFound(silence_id)
        write_records(
            self.store,
            [
                {
                    "project_id": project_id,
                    "record": "silence",
                    "rule": silence_id,
                    "deleted": 1,
                    "updated_at": self.clock(),
                }
            ],
        )

    # -- evaluation ------------------------------------------------------------------------------------------------
    def evaluate_all_projects(self, now: datetime | None = None) -> list[Transition]:
        """One pass over every rule of every project (the jobs runner's pass). A rule whose query fails is skipped
        (error kept per rule)."""
        return self._evaluate(now, None)

    def evaluate_project(self, project: str, now: datetime | None = None) -> list[Transition]:
        """One pass over the rules as they apply to one project: its own rules, and the file rules it did not
        replace, queried for its data only (`POST /api/alerts/check` with that project's key)."""
        return self._evaluate(now, project)

    def _evaluate(self, now: datetime | None, only: str | None) -> list[Transition]:
        started = time.perf_counter()
        with self._lock:
            self.load()
            now = now or self.clock()
            api = self.api_rules(ALL_PROJECTS)
            silences = [s for s in self.silences(ALL_PROJECTS, include_expired=False) if s.active(now)]
            transitions: list[Transition] = []
            changed: list[Instance] = []
            self._outbox = []
            # File rules: one query for all projects, minus projects that replaced or deleted the rule.
            for rule in self.file_rules:
                if not rule.enabled or (only is not None and rule.project not in (None, only)):
                    continue
                overridden = {p for p, rules in api.items() if rule.name in rules}
                if only is not None and only in overridden:
                    continue
                self._evaluate_rule(rule, rule.project or only, overridden, now, silences, transitions, changed)
            for project, rules in api.items():
                if only is not None and project != only:
                    continue
                for stored, _ in rules.values():
                    if stored is not None and stored.enabled:
                        self._evaluate_rule(stored, project, set(), now, silences, transitions, changed)
            try:
                self._persist(changed)  # before any notification leaves: a successor must know it was sent
            except StoreError:
                self._loaded = False  # memory ran ahead of the store: start the next pass from the store again
                raise
            for note, targets in self._outbox:
                self.dispatcher.submit(note, targets)
            self._outbox = []
            self.last_evaluation = now
            self.last_duration_s = time.perf_counter() - started
            return transitions

    def _evaluate_rule(
        self,
        rule: Rule,
        project: str | None,
        excluded: set[str],
        now: datetime,
        silences: list[Silence],
        transitions: list[Transition],
        changed: list[Instance],
    ) -> None:
        scope = project or "*"
        try:
            rows = self._query(rule, project, now)
            self.rule_errors.pop((scope, rule.name), None)
        except (StoreError, ValueError) as exc:
            self.rule_errors[(scope, rule.name)] = str(exc)
            log.warning("rule %s (%s) could not be evaluated: %s", rule.name, scope, exc)
            return
        seen: set[tuple[str, str, str]] = set()
        for row, value, active in rows:
            if row.project_id in excluded:
                continue
            labels: dict[str, str] = {rule.group_by: row.key} if rule.group_by else {}
            key = (row.project_id, rule.name, _instance_key(labels))
            seen.add(key)
            inst = self._states.get(key) or Instance(row.project_id, rule.name, key[2], labels)
            self._states[key] = inst
            self._step(rule, inst, value, active, now, silences, transitions, changed)
        for key, inst in list(self._states.items()):
            if key[1] == rule.name and key not in seen and key[0] not in excluded and (project in (None, key[0])):
                self._step(rule, inst, None, False, now, silences, transitions, changed)

    def _query(self, rule: Rule, project: str | None, now: datetime) -> list[tuple[MetricRow, float, bool]]:
        since = now - timedelta(seconds=rule.window)
        filters = rule.filters.model_dump(exclude_none=True)
        scope: Scope = ALL_PROJECTS if project is None else project  # a file rule without a project covers all
        rows = metric_values(self.store, rule.metric, since, now, scope=scope, filters=filters, group_by=rule.group_by)
        base: dict[tuple[str, str], MetricRow] = {}
        if rule.baseline is not None:
            lo = since - timedelta(seconds=rule.baseline.window)
            for b in metric_values(
                self.store, rule.metric, lo, since, scope=scope, filters=filters, group_by=rule.group_by
            ):
                base[(b.project_id, b.key)] = b
        compare = _OPS[rule.op]
        out = []
        for row in rows:
            active = row.samples >= rule.min_samples and compare(row.value, rule.threshold)
            if active and rule.baseline is not None:
                past = base.get((row.project_id, row.key))
                active = past is not None and compare(row.value, rule.baseline.factor * past.value)
            out.append((row, row.value, active))
        return out

    def _step(
        self,
        rule: Rule,
        inst: Instance,
        value: float | None,
        active: bool,
        now: datetime,
        silences: list[Silence],
        transitions: list[Transition],
        changed: list[Instance],
    ) -> None:
        previous = inst.state
        inst.value = value
        inst.severity = rule.severity
        inst.silenced = any(s.matches(inst) for s in silences)
        notify: str | None = None
        if active:
            if inst.state in (INACTIVE, RESOLVED):
                inst.state, inst.since, inst.notified_at = PENDING, now, None
            if inst.state == PENDING and (now - inst.since).total_seconds() >= rule.for_:
                inst.state, inst.since = FIRING, now
            if inst.state == FIRING and not inst.silenced:
                if inst.notified_at is None:
                    notify = "firing"
                elif (now - inst.notified_at).total_seconds() >= rule.repeat_interval:
                    notify = "repeat"
        elif inst.state == PENDING:
            inst.state, inst.since = INACTIVE, now
        elif inst.state == FIRING:
            # Tell whoever heard "firing" that it is over (a firing never announced is resolved silently).
            notify = "resolved" if inst.notified_at is not None and not inst.silenced else None
            inst.state, inst.since, inst.notified_at = RESOLVED, now, None
        if notify is not None and notify != "resolved":
            inst.notified_at = now
        if previous == inst.state and notify is None:
            return
        changed.append(inst)
        transitions.append(
            Transition(inst.project_id, rule.name, inst.instance, previous, inst.state, value, notify is not None)
        )
        self._record(rule, inst, previous, now, notify)

    def _record(self, rule: Rule, inst: Instance, previous: str, now: datetime, notify: str | None) -> None:
        shown = "n/a" if inst.value is None else f"{inst.value:.4g}"
        where = f" [{inst.instance}]" if inst.instance else ""
        state = "firing" if notify == "repeat" else inst.state
        message = f"{rule.name}{where}: {rule.describe()} is {shown} ({previous} → {state})"
        if inst.state == FIRING and rule.for_:
            message += f", true for {format_duration(rule.for_)}"
        event_id = uuid.uuid4().hex[:16]
        targets = self._targets(rule)
        suppressed = "silenced" if inst.silenced and inst.state in (FIRING, RESOLVED) and notify is None else ""
        write_events(
            self.store,
            [
                {
                    "project_id": inst.project_id,
                    "id": event_id,
                    "rule": rule.name,
                    "instance": inst.instance,
                    "state": "repeat" if notify == "repeat" else inst.state,
                    "severity": rule.severity,
                    "value": inst.value,
                    "labels": inst.labels,
                    "message": message,
                    "notified": [],
                    "notify_error": PENDING_DELIVERY if notify and targets else suppressed,
                    "at": now,
                    "updated_at": now,
                }
            ],
        )
        if notify is None or not targets:
            return
        note = self._note(
            rule,
            event_id,
            now,
            inst,
            message,
            "resolved" if notify == "resolved" else "firing",
            repeat=notify == "repeat",
        )
        self._outbox.append((note, targets))

    def _targets(self, rule: Rule) -> list[Notifier]:
        return [self.notifiers[n] for n in (rule.notify or list(self.notifiers)) if n in self.notifiers]

    def _note(
        self, rule: Rule, event_id: str, at: datetime, inst: Instance, message: str, status: str, *, repeat: bool
    ) -> Notification:
        from_file = any(rule is r for r in self.file_rules)  # API rules are parsed anew from the store each pass
        return Notification(
            event_id=event_id,
            event_at=_iso(at),
            project_id=inst.project_id,
            rule=rule.name,
            status=status,
            severity=rule.severity,
            value=inst.value,
            threshold=rule.threshold,
            labels=inst.labels,
            message=message,
            since=_iso(inst.since),
            description=rule.description if from_file else "",
            tenant_description="" if from_file else rule.description,
            repeat=repeat,
        )

    def redeliver_undelivered(self, since: datetime) -> int:
        """Hand the notifiers again what a previous process recorded but never saw delivered ("pending delivery"
        since `since`): called on taking evaluation over, so a holder that died between writing a firing and
        delivering it does not lose the notification. Returns how many were queued."""
        queued = 0
        with self._lock:
            self.load()
            rules: dict[str, dict[str, Rule]] = {}
            for event in undelivered_events(self.store, since):
                project = event["project_id"]
                if project not in rules:
                    rules[project] = {r.name: r for r, _ in self.rules_for(project)}
                rule = rules[project].get(event["rule"])
                targets = self._targets(rule) if rule is not None else []
                if rule is None or not targets:
                    continue  # the rule is gone since: nothing left to tell
                key = (project, event["rule"], event["instance"])
                inst = self._states.get(key) or Instance(project, event["rule"], event["instance"], event["labels"])
                inst = Instance(**{**inst.__dict__, "value": event["value"], "labels": event["labels"]})
                status = "resolved" if event["state"] == RESOLVED else "firing"
                note = self._note(
                    rule, event["id"], event["at"], inst, event["message"], status, repeat=event["state"] == "repeat"
                )
                queued += int(self.dispatcher.submit(note, targets))
        return queued

    def _record_delivery(self, delivery: Delivery) -> None:
        """Rewrite the event with what the notifiers said (same key, later updated_at)."""
        note = delivery.note
        at = datetime.fromisoformat(note.event_at.replace("Z", "+00:00"))
        write_events(
            self.store,
            [
                {
                    "project_id": note.project_id,
                    "id": note.event_id,
                    "rule": note.rule,
                    "instance": _instance_key(note.labels),
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
            ],
        )

    # -- views -----------------------------------------------------------------------------------------------------
    def instances(self, project_id: str, rule: str) -> list[Instance]:
        with self._lock:
            return sorted(
                (i for i in self._states.values() if i.project_id == project_id and i.rule == rule),
                key=lambda i: i.instance,
            )

    def overview(self, project_id: str) -> list[dict[str, Any]]:
        """Every effective rule of the project with its instances and overall state (the Alerts page's list)."""
        self.load()
        order = {FIRING: 3, PENDING: 2, RESOLVED: 1, INACTIVE: 0}
        out = []
        for rule, origin in self.rules_for(project_id):
            instances = self.instances(project_id, rule.name)
            state = max((i.state for i in instances), key=lambda s: order.get(s, 0), default=INACTIVE)
            error = self.rule_errors.get((project_id, rule.name)) or self.rule_errors.get(("*", rule.name))
            out.append(
                {
                    **rule.to_json(),
                    "origin": origin,
                    "state": state,
                    "expression": rule.describe(),
                    "instances": [i.to_json() for i in instances],
                    "error": error,
                }
            )
        return out

    def notifier_health(self) -> list[dict[str, Any]]:
        out = []
        for name, n in sorted(self.notifiers.items()):
            health = self.dispatcher.health.get(name, {})
            out.append(
                {
                    "name": name,
                    "type": n.type,
                    "url_host": _host_only(n.url),
                    "signed": bool(n.signing_secret()),
                    "last_ok": health.get("ok"),
                    "last_error": health.get("last_error"),
                    "last_attempt_at": _iso(datetime.fromtimestamp(health["at"], UTC)) if "at" in health else None,
                }
            )
        return out


def _host_only(url: str | None) -> str | None:
    return urlparse(url).hostname if url else None
