"""Small helpers shared by the runtime and the patterns: JSON round-trips, step keys, state views, scopes."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .state import StateSchema, Write, apply_writes

_ENCODE = json.JSONEncoder(sort_keys=True, default=repr).encode  # once: json.dumps with options builds one a call


def roundtrip(value: Any) -> Any:
    """What a value looks like after the journal (JSON) — fresh runs return this too, so resume is deep-equal."""
    return json.loads(_ENCODE(value))


def step_key(trace_id: str, path: str) -> str:
    """Deterministic id of a step: the run's scope plus the step's position in the execution tree (never random)."""
    return hashlib.sha256(f"{trace_id}|{path}".encode()).hexdigest()[:32]


def last_values(writes: Sequence[Write]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in writes:
        out[k] = v
    return out


class StateView(Mapping[str, Any]):
    """Read-only view of the state restricted to what a step may read."""

    __slots__ = ("_allowed", "_scope")

    def __init__(self, scope: Scope, allowed: Sequence[str] | None) -> None:
        self._scope = scope
        self._allowed = None if allowed is None else frozenset(allowed)

    @property
    def _state(self) -> Mapping[str, Any]:
        return self._scope.state

    def __getitem__(self, key: str) -> Any:
        if self._allowed is not None and key not in self._allowed:
            raise KeyError(f"{key!r} is not readable here (declared reads: {sorted(self._allowed)})")
        return self._state[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._state if self._allowed is None or k in self._allowed)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def snapshot(self) -> dict[str, Any]:
        return {k: self._state[k] for k in self}


class Scope:
    """Where writes land: the run's top-level state, or a staged copy (a parallel branch, a hand-off target, a
    supervisor's specialists) whose net writes move up only when its owner commits them."""

    __slots__ = ("_state", "parent", "schema", "top", "writes")

    def __init__(
        self, schema: StateSchema, state: dict[str, Any] | None, parent: Scope | None = None, top: bool = False
    ) -> None:
        self.schema = schema
        self._state = state  # None: still reading through to the parent (copied on the first write)
        self.parent = parent
        self.top = top
        self.writes: list[Write] = []

    @property
    def state(self) -> dict[str, Any]:
        if self._state is None:
            assert self.parent is not None
            return self.parent.state
        return self._state

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self._state = value

    def child(self) -> Scope:
        """A staged scope; it copies the parent's state only when first written."""
        return Scope(self.schema, None, self)

    def apply(self, writes: Sequence[Write]) -> None:
        if not writes:
            return
        if self._state is None:
            self._state = copy.deepcopy(self.state)
        if self.top:
            new = dict(self.state)
            apply_writes(self.schema, new, writes)
            self.state = new
        else:
            apply_writes(self.schema, self.state, writes)
        self.writes.extend(writes)

    def preview(self, writes: Sequence[Write]) -> dict[str, Any]:
        """The state after `writes`, without applying them (the checkpoint snapshot)."""
        new = dict(self.state)
        apply_writes(self.schema, new, writes)
        return new

    def adopt(self, new_state: dict[str, Any], writes: Sequence[Write]) -> None:
        """Install a state computed by `preview` for the same writes (top-level commits)."""
        self.state = new_state
        self.writes.extend(writes)

    def rollback(self, n: int) -> None:
        """Forget every write after the first `n` (a supervisor rejecting a specialist's result)."""
        kept = self.writes[:n]
        self.writes = []
        self._state = None
        self.apply(kept)
