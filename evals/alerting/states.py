"""The alert state machine, pure: a rule and what its metric read in a window in, each instance's next state and
whether to notify out. No store, no clock, no network; the engine feeds it and keeps the result.

An instance (project, rule, label set) moves inactive → pending (the condition holds) → firing (it held for the
rule's `for`) → resolved (it stopped holding); a firing is announced once, again only after `repeat_interval`, never
while silenced, and its end is announced only to those who heard it begin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tracehouse.evals.alerting.rules import Rule
from tracehouse.store.alerts import MetricRow
from tracehouse.store.client import iso_z

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
Notify = Literal["firing", "repeat", "resolved"]
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def instance_key(labels: dict[str, str]) -> str:
    """An instance's name within its rule: its labels, sorted ("" for an ungrouped rule)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


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
            "since": iso_z(self.since),
            "notified_at": iso_z(self.notified_at) if self.notified_at else None,
            "silenced": self.silenced,
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


def judge(rule: Rule, rows: list[MetricRow], baseline: list[MetricRow]) -> list[tuple[MetricRow, bool]]:
    """Each row with whether the rule's condition holds: enough samples, value op threshold and, with a baseline,
    value op factor × the baseline window's value (no baseline value: it does not hold)."""
    compare = _OPS[rule.op]
    past = {(b.project_id, b.key): b for b in baseline}
    out = []
    for row in rows:
        active = row.samples >= rule.min_samples and compare(row.value, rule.threshold)
        if active and rule.baseline is not None:
            before = past.get((row.project_id, row.key))
            active = before is not None and compare(row.value, rule.baseline.factor * before.value)
        out.append((row, active))
    return out


def advance(
    rule: Rule, inst: Instance, value: float | None, active: bool, now: datetime, silenced: bool
) -> tuple[Transition | None, Notify | None]:
    """Move `inst` one evaluation on; the transition (None when nothing changed and nothing is sent) and what to
    notify."""
    previous = inst.state
    inst.value = value
    inst.severity = rule.severity
    inst.silenced = silenced
    notify: Notify | None = None
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
        return None, None
    return Transition(
        inst.project_id, rule.name, inst.instance, previous, inst.state, value, notify is not None
    ), notify
