"""Where alerting keeps what it knows: the rules (the rules file and the shipped defaults for every project, rules made
through the API per project), the silences, and the alert states and history in the `alerts` table.

A rule's origin is said here once: "default" (shipped), "file" (the rules file) or "api" (made for one project); an
API rule with a default or file rule's name replaces it for that project, a deleted one hides it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tracehouse.evals.alerting.rules import Rule, RuleFileError, RulesFile, effective_file_rules
from tracehouse.evals.alerting.states import INACTIVE, Instance
from tracehouse.store.alerts import load_records, write_events, write_records
from tracehouse.store.client import Store, iso_z
from tracehouse.store.scope import ALL_PROJECTS, Scope

log = logging.getLogger("tracehouse.alerts")

Origin = Literal["default", "file", "api"]


class RuleNotFound(KeyError):
    """No rule of that name in the project."""


class RuleConflict(ValueError):
    """A rule of that name already exists in the project."""


@dataclass(frozen=True)
class RuleEntry:
    """A rule in effect for a project, where it comes from, and the default or file rule it replaces (API rules)."""

    rule: Rule
    origin: Origin
    replaces: Origin | None = None

    @property
    def source(self) -> str:
        """The origin as people read it: "default", "file", "api", "api (replaces default)"..."""
        return f"{self.origin} (replaces {self.replaces})" if self.replaces else self.origin


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
            "starts_at": iso_z(self.starts_at),
            "ends_at": iso_z(self.ends_at),
            "comment": self.comment,
            "created_by": self.created_by,
        }


class RuleRepository:
    """Rules, silences and alert states of every project, read from and written to the store."""

    def __init__(self, store: Store, config: RulesFile, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.file_rules = effective_file_rules(config)
        self._file_origin: dict[str, Origin] = {
            r.name: "file" if r.name in {f.name for f in config.rules} else "default" for r in self.file_rules
        }

    def origin_of_file_rule(self, name: str) -> Origin | None:
        """ "file" or "default" for a rule the server was started with, None for any other name."""
        return self._file_origin.get(name)

    def is_file_rule(self, rule: Rule) -> bool:
        """The very object a file or default rule is (API rules are parsed anew from the store each pass)."""
        return any(rule is r for r in self.file_rules)

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

    def rules_for(self, project_id: str) -> list[RuleEntry]:
        """The project's rules in effect, by name, with their origin."""
        stored = self.api_rules(project_id).get(project_id, {})
        out: dict[str, RuleEntry] = {
            r.name: RuleEntry(r, self._file_origin[r.name]) for r in self.file_rules if r.project in (None, project_id)
        }
        for name, (rule, _) in stored.items():
            if rule is None:
                out.pop(name, None)
            else:
                out[name] = RuleEntry(rule, "api", self._file_origin.get(name))
        return sorted(out.values(), key=lambda e: e.rule.name)

    def put_rule(self, project_id: str, rule: Rule, *, create: bool) -> None:
        """Store a project's rule: a new one (`create`), or one replacing a rule in effect of that name."""
        existing = {e.rule.name for e in self.rules_for(project_id)}
        if create and rule.name in existing:
            raise RuleConflict(f"a rule named {rule.name!r} already exists")
        if not create and rule.name not in existing:
            raise RuleNotFound(rule.name)
        self._write_rule(project_id, rule.name, body=json.dumps(rule.to_json()))

    def delete_rule(self, project_id: str, name: str) -> None:
        """Delete a project's API rule, or hide a default or file rule for the project."""
        if name not in {e.rule.name for e in self.rules_for(project_id)}:
            raise RuleNotFound(name)
        self._write_rule(project_id, name, deleted=True)

    def _write_rule(self, project_id: str, name: str, *, body: str = "", deleted: bool = False) -> None:
        record: dict[str, Any] = {"project_id": project_id, "record": "rule", "rule": name, "updated_at": self.clock()}
        record.update({"deleted": 1} if deleted else {"body": body})
        write_records(self.store, [record])

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

    # -- alert states and history ----------------------------------------------------------------------------------
    def load_states(self) -> list[Instance]:
        """Every project's stored alert states."""
        return [
            Instance(
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
            for r in load_records(self.store, "state", scope=ALL_PROJECTS)
        ]

    def save_states(self, instances: Iterable[Instance]) -> None:
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

    def record_event(self, event: dict[str, Any]) -> None:
        """One state change or notification (`alerts` event columns); written again, same id, once delivered."""
        write_events(self.store, [event])
