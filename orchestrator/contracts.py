"""Hand-off contracts per edge: what the target receives, may see, must produce, and what happens when it does not.

The payload is validated before the target runs (so a bad hand-off costs none of the target's tokens). A schema is
a mapping of field → type, a dataclass, any class with `model_validate` (a Pydantic model, without importing
Pydantic here), or a function returning an error message or None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ContractViolation, GraphConfigError

OnFailure = Literal["retry", "return_to_source", "escalate_human", "fail"]
HistoryPolicy = Literal["none", "last_message", "full"]
Schema = Mapping[str, type | tuple[type, ...]] | type | Callable[[Any], str | None] | None


@dataclass(frozen=True)
class HandoffContract:
    """The contract of the edge source → target ("*" as source matches any source)."""

    source: str
    target: str
    version: str = "1"
    payload_schema: Schema = None
    state_projection: Sequence[str] | None = None
    history_policy: HistoryPolicy = "last_message"
    obligations: Sequence[str] = ()
    success: Callable[[Mapping[str, Any]], bool] | None = None
    on_failure: OnFailure = "fail"
    max_retries: int = 1
    max_hops: int | None = None

    def __post_init__(self) -> None:
        if self.history_policy not in ("none", "last_message", "full"):
            raise GraphConfigError(f"contract {self.edge}: unknown history_policy {self.history_policy!r}")
        if self.on_failure not in ("retry", "return_to_source", "escalate_human", "fail"):
            raise GraphConfigError(f"contract {self.edge}: unknown on_failure {self.on_failure!r}")
        if self.max_retries < 0:
            raise GraphConfigError(f"contract {self.edge}: max_retries must be >= 0")

    @property
    def edge(self) -> str:
        return f"{self.source}->{self.target}"

    def validate_payload(self, payload: Any) -> Any:
        """The payload as the target will receive it, or ContractViolation naming what is wrong."""
        error = _check(self.payload_schema, payload)
        if isinstance(error, str):
            raise ContractViolation(self.edge, "payload", error)
        return self._filter_history(error.value)

    def _filter_history(self, payload: Any) -> Any:
        """Apply `history_policy` to a payload's "messages" list (what of the conversation the target sees)."""
        if not isinstance(payload, Mapping) or not isinstance(payload.get("messages"), list):
            return payload
        messages = payload["messages"]
        kept = {"none": [], "last_message": messages[-1:], "full": messages}[self.history_policy]
        return {**payload, "messages": kept}

    def check_result(self, writes: Mapping[str, Any]) -> str | None:
        """None when the target met its obligations and success predicate; else what it failed."""
        missing = [k for k in self.obligations if k not in writes]
        if missing:
            return f"obligations not met: target did not write {', '.join(missing)}"
        if self.success is not None and not self.success(writes):
            return "success predicate returned false"
        return None

    def describe(self) -> dict[str, Any]:
        schema = self.payload_schema
        if isinstance(schema, Mapping):
            schema_desc: Any = {k: getattr(v, "__name__", str(v)) for k, v in sorted(schema.items())}
        else:
            schema_desc = getattr(schema, "__qualname__", None)
        return {
            "edge": self.edge,
            "version": self.version,
            "schema": schema_desc,
            "projection": sorted(self.state_projection) if self.state_projection is not None else None,
            "history": self.history_policy,
            "obligations": sorted(self.obligations),
            "on_failure": self.on_failure,
            "max_hops": self.max_hops,
        }


@dataclass(frozen=True)
class _Ok:
    value: Any


def _check(schema: Schema, payload: Any) -> _Ok | str:
    if schema is None:
        return _Ok(payload)
    if isinstance(schema, Mapping):
        if not isinstance(payload, Mapping):
            return f"expected an object, got {type(payload).__name__}"
        for name, typ in schema.items():
            if name not in payload:
                return f"missing required field {name!r}"
            if not isinstance(payload[name], typ):
                return f"field {name!r} should be {getattr(typ, '__name__', typ)}, got {type(payload[name]).__name__}"
        return _Ok(dict(payload))
    validate = getattr(schema, "model_validate", None)
    if callable(validate):
        try:
            return _Ok(validate(payload))
        except Exception as exc:  # a Pydantic ValidationError, whatever its class
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(schema, type) and dataclasses.is_dataclass(schema):
        if not isinstance(payload, Mapping):
            return f"expected an object for {schema.__name__}, got {type(payload).__name__}"
        required = [
            f.name
            for f in dataclasses.fields(schema)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [n for n in required if n not in payload]
        if missing:
            return f"missing required field {missing[0]!r}"
        try:
            return _Ok(schema(**payload))
        except TypeError as exc:
            return str(exc)
    if callable(schema):
        message = schema(payload)
        return _Ok(payload) if message is None else str(message)
    raise GraphConfigError(f"unsupported payload schema {schema!r}")


def find_contract(contracts: Sequence[HandoffContract], source: str, target: str) -> HandoffContract | None:
    """The contract of an edge: an exact source match wins over a "*" source."""
    wildcard = None
    for c in contracts:
        if c.target == target and c.source == source:
            return c
        if c.target == target and c.source == "*":
            wildcard = c
    return wildcard


def project(state: Mapping[str, Any], keys: Sequence[str] | None) -> dict[str, Any]:
    """The part of the state a target may read."""
    if keys is None:
        return dict(state)
    return {k: state[k] for k in keys if k in state}
