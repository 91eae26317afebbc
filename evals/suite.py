"""Eval suites: the file format (YAML, TOML, JSON or a Python module) as Pydantic models, and its loader.

A malformed file fails with ONE line naming the file and the field, e.g.
`suite.yaml: scorers[1].threshold: must be a number`. Example::

    name: demo-quality
    select: {since: 24h, workflow: demo.research, sample: 1.0}
    scorers:
      - type: no_error
      - {type: latency, params: {max_ms: 5000}}
      - name: cites
        type: contains
        target: {agent: writer}
        params: {value: "source", ignore_case: true}
        min_pass_rate: 0.9
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tracehouse.domain.model import Step
from tracehouse.errors import BadInput
from tracehouse.evals.registry import ScorerDef, ScorerError, get_scorer
from tracehouse.store.client import as_utc


class SuiteError(BadInput, ValueError):
    """A suite that cannot be used; the message is one line naming the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(_Model):
    """Which step of a trace an output scorer reads; all fields optional (no target: the root step)."""

    agent: str | None = None
    operation: str | None = None
    name: str | None = None
    step_type: str | None = None
    pick: Literal["last", "first", "all"] = "last"  # last to finish, first to start, or every matching step

    def matches(self, step: Step) -> bool:
        return all(
            want is None or want == have
            for want, have in (
                (self.agent, step.agent),
                (self.operation, step.operation),
                (self.name, step.name),
                (self.step_type, str(step.step_type)),
            )
        )

    def select(self, steps: list[Step]) -> list[Step]:
        found = [s for s in steps if self.matches(s)]
        if not found or self.pick == "all":
            return sorted(found, key=lambda s: (s.start_time_ns, s.span_id))
        if self.pick == "first":  # the first to start: the outermost of nested matches
            return [min(found, key=lambda s: (s.start_time_ns, s.span_id))]
        return [max(found, key=lambda s: (s.end_time_ns, s.start_time_ns))]  # the last to finish: the final output

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.model_dump(exclude_none=True).items() if k != "pick") or "any"


class Selection(_Model):
    """Which traces a suite scores. Times are durations back from now (`30m`, `24h`, `7d`) or ISO-8601 instants."""

    project: str | None = None  # store / DSN mode only: with a server, the API key decides the project
    since: str | None = "24h"
    until: str | None = None
    agent: str | None = None  # traces in which this agent acted
    service: str | None = None
    operation: str | None = None  # traces with at least one step of this operation
    workflow: str | list[str] | None = None  # the root span's name or workflow name (one, or any of several)
    status: Literal["ok", "error"] | None = None
    q: str | None = None  # free text as the trace list understands it
    trace_ids: list[str] | None = None
    sample: float = Field(1.0, gt=0, le=1)  # deterministic by trace id: re-runs pick the same traces
    seed: str = ""
    limit: int = Field(500, ge=1, le=100_000)

    @field_validator("since", "until")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            parse_when(value)
        return value

    def workflow_matches(self, root_name: str, workflow: str) -> bool:
        if self.workflow is None:
            return True
        wanted = [self.workflow] if isinstance(self.workflow, str) else self.workflow
        return root_name in wanted or workflow in wanted

    def window(self, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
        now = now or datetime.now(UTC)
        return (
            parse_when(self.since, now) if self.since else None,
            parse_when(self.until, now) if self.until else None,
        )


class ScorerSpec(_Model):
    """One scorer of a suite: which, with what params, on which step, and the thresholds that gate the suite."""

    type: str
    name: str = ""  # defaults to the type; the score's name in the store
    params: dict[str, Any] = Field(default_factory=dict)
    target: Target | None = None
    attribute: str | None = None  # read the output from this step attribute instead of the output preview
    threshold: float | None = None  # a value at or above it passes (when the scorer itself does not decide)
    min_pass_rate: float | None = Field(None, ge=0, le=1)  # default: the suite's thresholds.min_pass_rate
    min_mean: float | None = None

    @model_validator(mode="after")
    def _check(self) -> ScorerSpec:
        if not self.name:
            self.name = self.type
        try:
            self.params = self.definition().check_params(self.params)
        except ScorerError as exc:
            message = str(exc)
            raise ValueError(message if message.startswith("params.") else f"type: {message}") from None
        return self

    def definition(self) -> ScorerDef:
        return get_scorer(self.type)


class Thresholds(_Model):
    min_pass_rate: float = Field(1.0, ge=0, le=1)  # each scorer's pass rate must reach this unless it sets its own
    max_errors: int | None = Field(None, ge=0)  # error scores allowed in the whole run (None: errors count as fails)


class DatasetRef(_Model):
    """A dataset of expected answers matched to traces by their input or by case id."""

    path: str
    match: Literal["input", "case_id"] = "input"
    input_field: str = "input"
    expected_field: str = "expected"
    id_field: str = "id"


class Suite(_Model):
    """An eval suite."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    select: Selection = Field(default_factory=lambda: Selection.model_validate({}))
    scorers: list[ScorerSpec] = Field(min_length=1)
    thresholds: Thresholds = Field(default_factory=lambda: Thresholds.model_validate({}))
    dataset: DatasetRef | None = None
    plugins: list[str] = Field(default_factory=list)  # Python files (relative to the suite) or modules with scorers
    base_dir: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        seen: set[tuple[str, str]] = set()
        for i, spec in enumerate(self.scorers):
            key = (spec.name, repr(spec.target))
            if key in seen:
                raise ValueError(f"scorers[{i}].name: {spec.name!r} is used twice (give one a `name`)")
            seen.add(key)
        return self

    def pass_rate_floor(self, spec: ScorerSpec) -> float:
        return spec.min_pass_rate if spec.min_pass_rate is not None else self.thresholds.min_pass_rate


# -- times ----------------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str, now: datetime | None = None) -> datetime:
    """`24h` (that long before now) or an ISO-8601 instant (UTC when it has no zone)."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(value)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be a duration like 30m / 24h / 7d or an ISO-8601 time") from None
    return as_utc(when)


# -- loading --------------------------------------------------------------------------------------------------------

_MESSAGES = {
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "missing": "required",
    "extra_forbidden": "unknown field",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "model_type": "must be a mapping",
}


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def explain(exc: ValidationError) -> str:
    """The first error of a validation failure as `field.path: what is wrong`."""
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = _MESSAGES.get(first["type"]) or str(first["msg"]).removeprefix("Value error, ")
    where = _loc(loc)
    if first["type"] == "value_error" and re.match(r"^[\w.\[\]]+: ", message):
        return f"{where}.{message}" if where else message  # a validator that named its (sub)field
    return f"{where}: {message[:1].lower()}{message[1:]}" if where else message


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            raise SuiteError(f"{path.name}: {where}{getattr(exc, 'problem', None) or 'not valid YAML'}") from None
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SuiteError(f"{path.name}: {exc}") from None
    if suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise SuiteError(f"{path.name}: {exc}") from None
    raise SuiteError(f"{path.name}: unknown suite format (use .yaml, .toml, .json or .py)")


def _import_file(path: Path) -> Any:
    name = f"tracehouse_suite_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SuiteError(f"{path.name}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SuiteError:
        raise
    except ValidationError as exc:
        raise SuiteError(f"{path.name}: {explain(exc)}") from None
    except Exception as exc:  # the user's module failed to import: say where, in one line
        raise SuiteError(f"{path.name}: import failed: {type(exc).__name__}: {exc}") from None
    return module


def load_plugins(plugins: list[str], base_dir: Path, origin: str) -> None:
    """Import each plugin (a .py path relative to the suite, or a module name) so its scorers register."""
    for i, plugin in enumerate(plugins):
        candidate = (base_dir / plugin) if not Path(plugin).is_absolute() else Path(plugin)
        if plugin.endswith(".py"):
            if not candidate.is_file():
                raise SuiteError(f"{origin}: plugins[{i}]: no such file {plugin}")
            _import_file(candidate)
        else:
            try:
                importlib.import_module(plugin)
            except ImportError as exc:
                raise SuiteError(f"{origin}: plugins[{i}]: cannot import {plugin!r}: {exc}") from None


def validate_suite(data: Any, origin: str, base_dir: Path) -> Suite:
    """A suite from parsed data; plugins are imported and every scorer's type and params checked."""
    if isinstance(data, Suite):
        suite = data
    else:
        if not isinstance(data, dict):
            raise SuiteError(f"{origin}: a suite must be a mapping with `name` and `scorers`")
        plugins = data.get("plugins")
        if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
            load_plugins(plugins, base_dir, origin)
        try:
            suite = Suite.model_validate(data)
        except ValidationError as exc:
            raise SuiteError(f"{origin}: {explain(exc)}") from None
    suite.base_dir = base_dir
    if suite.dataset is not None and not (base_dir / suite.dataset.path).is_file():
        raise SuiteError(f"{origin}: dataset.path: no such file {suite.dataset.path}")
    return suite


def load_suite(path: str | Path) -> Suite:
    """A suite from a YAML / TOML / JSON file, or a Python file that defines `suite` (a Suite or a dict)."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file")
    if path.suffix.lower() == ".py":
        module = _import_file(path)
        data = getattr(module, "suite", None)
        if data is None:
            raise SuiteError(f"{path.name}: defines no `suite` (a tracehouse.evals.Suite or a dict)")
    else:
        data = _read(path)
    return validate_suite(data, path.name, path.parent)
