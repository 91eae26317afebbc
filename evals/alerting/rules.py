"""Alert rules and notifier settings: pydantic models, the shipped defaults, and the rules file (TOML or YAML).

A rules file looks like (YAML; the TOML spelling has the same keys)::

    interval: 30s                 # how often `tracehouse serve` evaluates
    include_defaults: true        # keep the shipped rules (a rule of the same name replaces one)
    notifiers:
      - {name: ops, type: webhook, url: "https://ops.example/hook", secret_env: OPS_HOOK_SECRET}
      - {name: team, type: slack, url: "https://hooks.slack.com/services/..."}
    rules:
      - name: checkout-errors
        metric: error_rate        # retry_rate | retry_amplification | error_rate | p95_latency_ms
                                  # | cost_per_hour | findings | eval_pass_rate
        filters: {agent: checkout}
        op: ">"
        threshold: 0.05
        window: 5m
        for: 2m
        severity: critical
        group_by: model           # one alert per model (agent | model | provider)

Any mistake is reported as ONE line naming the file and the field (`RuleFileError`).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from tracehouse.errors import BadInput

Metric = Literal[
    "retry_rate", "retry_amplification", "error_rate", "p95_latency_ms", "cost_per_hour", "findings", "eval_pass_rate"
]
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]
Op = Literal[">", ">=", "<", "<="]
SeverityName = Literal["info", "warning", "critical"]
GroupBy = Literal["agent", "model", "provider"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class RuleFileError(BadInput, ValueError):
    """A rules file (or a rule sent to the API) that cannot be used; the message is one line naming the field."""


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `"90s"`, `"5m"`, `"2h"`, `"1d"`, `"250ms"`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m, 2h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration like 30s, 5m, 2h (got {value!r})")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]


class Filters(BaseModel):
    """Which data a rule looks at; every field is an exact match and optional."""

    model_config = ConfigDict(extra="forbid")

    agent: str | None = None
    model: str | None = None
    provider: str | None = None
    step_type: Literal["llm", "tool", "agent", "workflow", "retrieval", "embedding", "handoff", "other"] | None = None
    kind: Literal["loop", "duplicate_work", "retry_storm"] | None = None  # findings
    suite: str | None = None  # eval_pass_rate
    score: str | None = None  # eval_pass_rate: the score name


class Baseline(BaseModel):
    """Compare with the same metric over the preceding `window`: fire only when value op factor × baseline too."""

    model_config = ConfigDict(extra="forbid")

    window: Duration = Field(86400.0, gt=0)
    factor: float = Field(3.0, gt=0)


# A rule made through the API carries a tenant's words to the operator's webhook: bounded here, and labelled there.
DESCRIPTION_MAX = 500


class Rule(BaseModel):
    """One alert rule: metric over `window`, compared with `threshold`, true for `for` before it fires."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
    metric: Metric
    op: Op = ">"
    threshold: float
    window: Duration = Field(300.0, gt=0, le=31 * 86400)
    for_: Duration = Field(0.0, alias="for", ge=0)
    severity: SeverityName = "warning"
    group_by: GroupBy | None = None
    filters: Filters = Field(default_factory=Filters)
    min_samples: int = Field(1, ge=1, description="Fewer calls / scores than this in the window: no data.")
    baseline: Baseline | None = None
    repeat_interval: Duration = Field(4 * 3600.0, gt=0)
    notify: list[str] | None = Field(None, description="Notifier names; all configured notifiers when absent.")
    project: str | None = Field(None, description="Evaluate for this project only (file rules: every project).")
    description: str = Field(
        "", max_length=DESCRIPTION_MAX, description="Free text sent with notifications (a tenant's, for API rules)."
    )
    enabled: bool = True

    @field_validator("threshold")
    @classmethod
    def _finite(cls, v: float) -> float:
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return v

    def to_json(self) -> dict[str, Any]:
        out = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        for key in ("window", "for", "repeat_interval"):
            out[key] = format_duration(out[key])
        if self.baseline is not None:
            out["baseline"]["window"] = format_duration(self.baseline.window)
        return out

    def describe(self) -> str:
        scope = ", ".join(f"{k}={v}" for k, v in self.filters.model_dump(exclude_none=True).items())
        where = "{" + scope + "}" if scope else ""
        text = f"{self.metric}{where} {self.op} {self.threshold:g} over {format_duration(self.window)}"
        if self.baseline is not None:
            b = self.baseline
            text += f" and {self.op} {b.factor:g}× the preceding {format_duration(b.window)}"
        return text


class Notifier(BaseModel):
    """Where notifications go: `webhook` (JSON + HMAC-SHA256 signature), `slack` (incoming webhook) or `log`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    type: Literal["webhook", "slack", "log"]
    url: str | None = None
    secret: str | None = None
    secret_env: str | None = Field(None, description="Read the HMAC secret from this environment variable.")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = Field(5.0, gt=0, le=60)
    max_attempts: int = Field(4, ge=1, le=10)
    backoff: Duration = Field(0.5, ge=0, le=60)

    @model_validator(mode="after")
    def _needs_url(self) -> Notifier:
        if self.type in ("webhook", "slack") and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError(f"url: a {self.type} notifier needs an http(s) URL")
        if self.secret_env and self.secret_env not in os.environ:
            raise ValueError(f"secret_env: environment variable {self.secret_env} is not set")
        return self

    def signing_secret(self) -> str | None:
        return os.environ[self.secret_env] if self.secret_env else self.secret


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval: Duration = Field(30.0, gt=0, le=3600)
    include_defaults: bool = True
    notifiers: list[Notifier] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RulesFile:
        for kind, names in (("rules", [r.name for r in self.rules]), ("notifiers", [n.name for n in self.notifiers])):
            dup = next((n for n in names if names.count(n) > 1), None)
            if dup:
                raise ValueError(f"{kind}: the name {dup!r} is used twice")
        known = {n.name for n in self.notifiers} | {"log"}
        for i, rule in enumerate(self.rules):
            for name in rule.notify or []:
                if name not in known:
                    raise ValueError(f"rules.{i}.notify: no notifier named {name!r}")
        return self


_DEFAULTS: list[dict[str, Any]] = [
    {
        "name": "retry-storm",
        "metric": "retry_rate",
        "threshold": 0.2,
        "window": "5m",
        "for": "1m",
        "severity": "critical",
        "min_samples": 20,
        "description": "More than 20% of model / tool calls in the last 5 minutes were retries.",
    },
    {
        "name": "retry-storm-traces",
        "metric": "findings",
        "filters": {"kind": "retry_storm"},
        "threshold": 0,
        "window": "15m",
        "severity": "warning",
        "description": "The detector found a retry storm (amplification or cascade) in a trace.",
    },
    {
        "name": "loops",
        "metric": "findings",
        "filters": {"kind": "loop"},
        "threshold": 0,
        "window": "15m",
        "severity": "warning",
        "description": "The detector found an agent loop in a trace.",
    },
    {
        "name": "spend-spike",
        "metric": "cost_per_hour",
        "threshold": 1.0,
        "window": "15m",
        "for": "5m",
        "severity": "warning",
        "baseline": {"window": "1d", "factor": 3.0},
        "description": "Spend over the last 15 minutes runs at more than $1/h and 3x the last day's rate.",
    },
]
DEFAULT_RULES: tuple[Rule, ...] = tuple(Rule.model_validate(d) for d in _DEFAULTS)


def one_line(exc: ValidationError, prefix: str = "") -> str:
    """The first error of a validation as `prefix: path.to.field: message`."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if p not in ("function-after[_check(), Notifier]",))
    message = str(first["msg"]).removeprefix("Value error, ")
    head = f"{prefix}: " if prefix else ""
    return f"{head}{where + ': ' if where else ''}{message}"


def parse_rule(data: Any, source: str = "rule") -> Rule:
    try:
        return Rule.model_validate(data)
    except ValidationError as exc:
        raise RuleFileError(one_line(exc, source)) from None


def load_rules_file(path: str | Path) -> RulesFile:
    """Parse and validate a TOML (`.toml`) or YAML file; one-line `RuleFileError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError(f"{path}: not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RuleFileError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RuleFileError(f"{path}: expected a mapping with 'rules' and 'notifiers', got {type(data).__name__}")
    try:
        return RulesFile.model_validate(data)
    except ValidationError as exc:
        raise RuleFileError(one_line(exc, str(path))) from None


def effective_file_rules(config: RulesFile) -> list[Rule]:
    """The file's rules plus the shipped defaults (unless switched off); a file rule replaces a default by name."""
    rules = {r.name: r for r in DEFAULT_RULES} if config.include_defaults else {}
    rules.update({r.name: r for r in config.rules})
    return list(rules.values())
