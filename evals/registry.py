"""The scorer registry and the `@scorer("name")` decorator that turns a plain function into a scorer.

A scorer is a function whose parameters are filled by name from what the runner knows about the trace (`trace`,
`step`, `output`, `input`, `expected`, `summary`, `steps`, `findings`) and from the suite's `params` (everything
else). It returns a `ScoreResult`, a number (the value), a bool (pass / fail), or a dict of `ScoreResult` fields::

    from tracehouse.evals import scorer

    @scorer("polite")
    def polite(output: str, words: tuple[str, ...] = ("please", "thanks")) -> bool:
        return any(w in output.lower() for w in words)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tracehouse.errors import BadInput
from tracehouse.evals.model import ScoreResult

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_NAMES = frozenset({"trace", "step", "output", "input", "expected", "summary", "steps", "findings"})


class ScorerError(BadInput, ValueError):
    """A scorer that cannot be used as configured (unknown name, bad params); the message names the field."""


@dataclass(frozen=True)
class ScorerDef:
    """A registered scorer: its function, and (for built-ins) the Pydantic model its params must satisfy."""

    name: str
    fn: Callable[..., Any]
    params_model: type[BaseModel] | None = None
    description: str = ""

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The params as the function will receive them; `ScorerError("params.<field>: why")` when they do not fit."""
        if self.params_model is not None:
            try:
                return self.params_model.model_validate(dict(params)).model_dump()
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ScorerError(f"params.{where}: {first['msg'].lower()}") from None
        signature = inspect.signature(self.fn)
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
        for key in params:
            if key in CONTEXT_NAMES:
                raise ScorerError(f"params.{key}: reserved name (filled from the trace)")
            if key not in signature.parameters and not accepts_any:
                raise ScorerError(f"params.{key}: {self.name} takes no such parameter")
        missing = [
            p.name
            for p in signature.parameters.values()
            if p.name not in CONTEXT_NAMES
            and p.name not in params
            and p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        ]
        if missing:
            raise ScorerError(f"params.{missing[0]}: required by {self.name}")
        return dict(params)

    def __call__(self, context: Mapping[str, Any], params: Mapping[str, Any]) -> ScoreResult:
        """Run the scorer; whatever it raises or returns badly becomes an error result, never an exception."""
        signature = inspect.signature(self.fn)
        kwargs = {name: context[name] for name in signature.parameters if name in CONTEXT_NAMES}
        kwargs.update(params)
        try:
            returned = self.fn(**kwargs)
        except Exception as exc:  # a user scorer's bug is a scored error, not a crashed run
            return ScoreResult.failure(f"{self.name} raised {type(exc).__name__}: {str(exc)[:300]}")
        return coerce(returned, self.name)


def coerce(returned: Any, name: str) -> ScoreResult:
    """A scorer's return value as a ScoreResult."""
    if isinstance(returned, ScoreResult):
        return returned
    if isinstance(returned, bool):
        return ScoreResult(value=1.0 if returned else 0.0, passed=returned)
    if isinstance(returned, int | float):
        return ScoreResult(value=float(returned))
    if isinstance(returned, Mapping):
        try:
            return ScoreResult(**dict(returned))
        except TypeError as exc:
            return ScoreResult.failure(f"{name} returned a dict that is not a score: {exc}")
    return ScoreResult.failure(f"{name} returned {type(returned).__name__}, not a score")


REGISTRY: dict[str, ScorerDef] = {}


def register(definition: ScorerDef) -> ScorerDef:
    REGISTRY[definition.name] = definition
    return definition


def scorer(name: str, *, params: type[BaseModel] | None = None, description: str = "") -> Callable[[F], F]:
    """Register `fn` as the scorer `name` (usable as `type: name` in a suite file); returns `fn` unchanged."""
    if not name or not isinstance(name, str):
        raise ScorerError("scorer name must be a non-empty string")

    def decorate(fn: F) -> F:
        register(ScorerDef(name=name, fn=fn, params_model=params, description=description or (fn.__doc__ or "")))
        return fn

    return decorate


def get_scorer(name: str) -> ScorerDef:
    """The registered scorer called `name` (built-ins load on first use)."""
    from tracehouse.evals import judge, scorers  # noqa: F401  (registers the built-ins)

    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ScorerError(f"unknown scorer type {name!r} (known: {known})") from None
