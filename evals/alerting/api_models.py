"""The JSON shapes `/api/alerts*` answer with (and the dashboard's alerts overview reuses), so `/docs` documents them.

They describe what the engine's `to_json` / `overview` already produce, field for field: times are the ISO 8601 UTC
strings those write ("...Z"), and durations the rules file's own spelling ("5m"). A rule's optional settings
(`group_by`, `baseline`, `notify`, `project`) are absent rather than null when unset, so the routes that return rules
serialize with `response_model_exclude_unset` and these fields default to None only to be left out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tracehouse.evals.alerting.states import Transition


class BaselineOut(BaseModel):
    """A rule's baseline: the preceding `window` the value is compared with, and the factor it must exceed."""

    window: str
    factor: float


class RuleOut(BaseModel):
    """One alert rule as it is stored and edited (the rules file's fields; `for` and the durations as written)."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    metric: str
    op: str
    threshold: float
    window: str
    for_: str = Field(alias="for")
    severity: str
    group_by: str | None = None
    filters: dict[str, str]
    min_samples: int
    baseline: BaselineOut | None = None
    repeat_interval: str
    notify: list[str] | None = None
    project: str | None = None
    description: str
    enabled: bool


class InstanceOut(BaseModel):
    """One alert instance of a rule (one label set) and its state."""

    instance: str
    labels: dict[str, str]
    state: str
    value: float | None
    since: str | None
    notified_at: str | None
    silenced: bool


class RuleStatus(RuleOut):
    """A rule with where it comes from, its overall state, its instances and its last evaluation error.

    `origin` is "default" (shipped), "file" (the rules file) or "api" (made for this project); `source` says the same
    for people, with what an API rule replaces ("api (replaces default)")."""

    origin: Literal["default", "file", "api"]
    source: str
    state: str
    expression: str
    instances: list[InstanceOut]
    error: str | None


class NotifierHealth(BaseModel):
    """A configured notifier (its URL's host only) and how its last delivery went."""

    name: str
    type: str
    url_host: str | None
    signed: bool
    last_ok: bool | None
    last_error: str | None
    last_attempt_at: str | None


class SilenceOut(BaseModel):
    """A silence: notifications of matching instances (a rule, or all when null, and exact labels) are held back."""

    id: str
    rule: str | None
    labels: dict[str, str]
    starts_at: str
    ends_at: str
    comment: str
    created_by: str


class Silences(BaseModel):
    """The project's silences (the expired ones too when asked)."""

    silences: list[SilenceOut]


class Evaluation(BaseModel):
    """How alert evaluation runs here: its interval, the last pass and its error, and the rules file in use."""

    interval_s: float
    last_at: str | None
    last_duration_s: float | None
    last_error: str | None
    rules_file: str | None


class AlertsOverview(BaseModel):
    """Every rule of the project with its state, the notifiers, the active silences and the evaluation status."""

    rules: list[RuleStatus]
    notifiers: list[NotifierHealth]
    silences: list[SilenceOut]
    metrics: list[str]
    evaluation: Evaluation


class AlertsCheck(AlertsOverview):
    """What an evaluation on demand changed, with the rules' state after it."""

    transitions: list[Transition]


class AlertEventOut(BaseModel):
    """One state change or notification of an alert instance; `notified` / `notify_error` show its delivery."""

    id: str
    rule: str
    instance: str
    state: str
    severity: str
    value: float | None
    labels: dict[str, str]
    message: str
    notified: list[str]
    notify_error: str
    at: str | None
    updated_at: str | None


class AlertHistory(BaseModel):
    """State changes and notifications, newest first."""

    events: list[AlertEventOut]
