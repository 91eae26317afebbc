"""The alert engine: evaluates rules on a schedule and keeps each alert instance's state, from three parts —
the rule repository (`repository.py`: rules, silences, stored states and history), the state machine (`states.py`:
pure, a rule and its evaluation in, transitions out) and notifier dispatch (`dispatch.py`).

Rules come from the rules file (or the shipped defaults) for every project, and from the API per project.
State is kept in memory and in the `alerts` table, so a restart neither forgets a firing alert nor re-notifies it.
A pass writes the new states before it hands any notification to the dispatcher, so whoever evaluates next (this
process after a restart, or another replica that took the jobs lease over and called `reload()`) sees that the
firing was announced and does not announce it again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tracehouse.evals.alerting.dispatch import AlertEvent, NotifierDispatch
from tracehouse.evals.alerting.notifiers import Dispatcher
from tracehouse.evals.alerting.repository import RuleEntry, RuleRepository, Silence
from tracehouse.evals.alerting.rules import Rule, RuleFileError, RulesFile, format_duration, parse_rule
from tracehouse.evals.alerting.states import (
    FIRING,
    INACTIVE,
    PENDING,
    RESOLVED,
    Instance,
    Notify,
    Transition,
    advance,
    instance_key,
    judge,
)
from tracehouse.store.alerts import PENDING_DELIVERY, MetricRow, metric_values, undelivered_events
from tracehouse.store.client import Store, StoreError
from tracehouse.store.scope import ALL_PROJECTS, Scope

log = logging.getLogger("tracehouse.alerts")


class AlertEngine:
    """Evaluation over every project: reads metrics, steps each instance through the state machine, stores the new
    states, then hands the notifications to dispatch. `evaluate_*()` is one pass (thread-safe)."""

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
        self.clock = clock or (lambda: datetime.now(UTC))
        self.repository = RuleRepository(store, self.config, self.clock)
        self.file_rules = self.repository.file_rules
        self.dispatch = NotifierDispatch(
            self.config.notifiers, self.repository.record_event, self.repository.is_file_rule, dispatcher
        )
        self.dispatcher = self.dispatch.dispatcher
        self.notifiers = self.dispatch.notifiers
        self._lock = threading.RLock()
        self._states: dict[tuple[str, str, str], Instance] = {}
        self._loaded = False
        self.last_evaluation: datetime | None = None
        self.last_duration_s: float | None = None
        self.last_error: str | None = None
        self.rule_errors: dict[tuple[str, str], str] = {}

    # -- state kept in memory --------------------------------------------------------------------------------------
    def load(self) -> None:
        """Read the persisted alert states (once; later passes keep them in memory)."""
        with self._lock:
            if not self._loaded:
                self.reload()

    def reload(self) -> None:
        """Replace the states in memory with the stored ones: what a replica taking over evaluation must start from."""
        with self._lock:
            self._states = {inst.key: inst for inst in self.repository.load_states()}
            self._loaded = True

    # -- rules and silences (the repository's, with what evaluation must know) -------------------------------------
    def rules_for(self, project_id: str) -> list[RuleEntry]:
        """The project's rules in effect with their origin ("default", "file" or "api")."""
        return self.repository.rules_for(project_id)

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
            self.repository.put_rule(project_id, rule, create=create)
        return rule

    def delete_rule(self, project_id: str, name: str) -> None:
        with self._lock:
            self.repository.delete_rule(project_id, name)
            resolved = [i for i in self._states.values() if i.project_id == project_id and i.rule == name]
            for inst in resolved:
                inst.state, inst.since, inst.notified_at = INACTIVE, self.clock(), None
            self.repository.save_states(resolved)

    def silences(self, scope: Scope, *, include_expired: bool = False) -> list[Silence]:
        return self.repository.silences(scope, include_expired=include_expired)

    def add_silence(self, project_id: str, **kw: Any) -> Silence:
        return self.repository.add_silence(project_id, **kw)

    def delete_silence(self, project_id: str, silence_id: str) -> None:
        self.repository.delete_silence(project_id, silence_id)

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
            api = self.repository.api_rules(ALL_PROJECTS)
            silences = [s for s in self.silences(ALL_PROJECTS, include_expired=False) if s.active(now)]
            transitions: list[Transition] = []
            changed: list[Instance] = []
            self.dispatch.discard()
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
                self.repository.save_states(changed)  # before any notification leaves: a successor must know
            except StoreError:
                self._loaded = False  # memory ran ahead of the store: start the next pass from the store again
                raise
            self.dispatch.flush()
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
        evaluated: list[tuple[Instance, float | None, bool]] = []
        for row, active in rows:
            if row.project_id in excluded:
                continue
            labels: dict[str, str] = {rule.group_by: row.key} if rule.group_by else {}
            key = (row.project_id, rule.name, instance_key(labels))
            seen.add(key)
            inst = self._states.get(key) or Instance(row.project_id, rule.name, key[2], labels)
            self._states[key] = inst
            evaluated.append((inst, row.value, active))
        for key, inst in list(self._states.items()):
            if key[1] == rule.name and key not in seen and key[0] not in excluded and (project in (None, key[0])):
                evaluated.append((inst, None, False))  # no data in the window: the condition does not hold
        for inst, value, active in evaluated:
            silenced = any(s.matches(inst) for s in silences)
            transition, notify = advance(rule, inst, value, active, now, silenced)
            if transition is not None:
                changed.append(inst)
                transitions.append(transition)
                self._record(rule, inst, transition.previous, now, notify)

    def _query(self, rule: Rule, project: str | None, now: datetime) -> list[tuple[MetricRow, bool]]:
        since = now - timedelta(seconds=rule.window)
        filters = rule.filters.model_dump(exclude_none=True)
        scope: Scope = ALL_PROJECTS if project is None else project  # a file rule without a project covers all
        rows = metric_values(self.store, rule.metric, since, now, scope=scope, filters=filters, group_by=rule.group_by)
        baseline: list[MetricRow] = []
        if rule.baseline is not None:
            lo = since - timedelta(seconds=rule.baseline.window)
            baseline = metric_values(
                self.store, rule.metric, lo, since, scope=scope, filters=filters, group_by=rule.group_by
            )
        return judge(rule, rows, baseline)

    def _record(self, rule: Rule, inst: Instance, previous: str, now: datetime, notify: Notify | None) -> None:
        """The event of a transition in the history; queued for the notifiers when there is news to send."""
        shown = "n/a" if inst.value is None else f"{inst.value:.4g}"
        where = f" [{inst.instance}]" if inst.instance else ""
        state = "firing" if notify == "repeat" else inst.state
        message = f"{rule.name}{where}: {rule.describe()} is {shown} ({previous} → {state})"
        if inst.state == FIRING and rule.for_:
            message += f", true for {format_duration(rule.for_)}"
        event_id = uuid.uuid4().hex[:16]
        targets = self.dispatch.targets(rule)
        suppressed = "silenced" if inst.silenced and inst.state in (FIRING, RESOLVED) and notify is None else ""
        self.repository.record_event(
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
        )
        if notify is None or not targets:
            return
        status = "resolved" if notify == "resolved" else "firing"
        self.dispatch.queue(rule, inst, AlertEvent(event_id, now, message, status, repeat=notify == "repeat"))

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
                    rules[project] = {e.rule.name: e.rule for e in self.rules_for(project)}
                rule = rules[project].get(event["rule"])
                if rule is None or not self.dispatch.targets(rule):
                    continue  # the rule is gone since: nothing left to tell
                key = (project, event["rule"], event["instance"])
                inst = self._states.get(key) or Instance(project, event["rule"], event["instance"], event["labels"])
                inst = Instance(**{**inst.__dict__, "value": event["value"], "labels": event["labels"]})
                status = "resolved" if event["state"] == RESOLVED else "firing"
                again = AlertEvent(event["id"], event["at"], event["message"], status, event["state"] == "repeat")
                queued += int(self.dispatch.resend(rule, inst, again))
        return queued

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
        for entry in self.rules_for(project_id):
            rule = entry.rule
            instances = self.instances(project_id, rule.name)
            state = max((i.state for i in instances), key=lambda s: order.get(s, 0), default=INACTIVE)
            error = self.rule_errors.get((project_id, rule.name)) or self.rule_errors.get(("*", rule.name))
            out.append(
                {
                    **rule.to_json(),
                    "origin": entry.origin,
                    "source": entry.source,
                    "state": state,
                    "expression": rule.describe(),
                    "instances": [i.to_json() for i in instances],
                    "error": error,
                }
            )
        return out

    def notifier_health(self) -> list[dict[str, Any]]:
        return self.dispatch.health()
