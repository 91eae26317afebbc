"""State machine with explicit transitions, a step cap, and rollback (a staged fork of the state that is discarded,
plus compensating steps for what already ran, in reverse order)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as otel_trace

from tracehouse.sdk import semconv as sc

from .._support import Scope, StateView, roundtrip
from ..budget import Usage
from ..errors import GraphConfigError, OrchestratorError, StepCapExceeded
from ..nodes import Edge, Node, NodeSpec
from ._common import merge_specs

if TYPE_CHECKING:
    from ..runtime import Frame

Chooser = Callable[[Mapping[str, Any], str, Any], "str | None"]


class InvalidTransition(OrchestratorError):
    """`choose` picked a state the transition table does not allow from the current one."""


class StateMachine(Node):
    """`StateMachine("review", {"draft": d, "critique": c, "publish": p}, {"draft": ["critique"], "critique":
    ["draft", "publish"], "publish": []}, choose, start="draft", max_steps=8)`. `choose(state, current, output)`
    returns the next state or None to stop (only from a state whose transition list is empty or includes None)."""

    def __init__(
        self,
        name: str,
        states: Mapping[str, Node],
        transitions: Mapping[str, Sequence[str | None]],
        choose: Chooser,
        start: str,
        *,
        max_steps: int | None = None,
        compensations: Mapping[str, Node] | None = None,
        rollback_on_error: bool = False,
    ) -> None:
        self.name = name
        self.states = dict(states)
        self.transitions = {k: list(v) for k, v in transitions.items()}
        self.choose = choose
        self.start = start
        self.max_steps = max_steps
        self.compensations = dict(compensations or {})
        self.rollback_on_error = rollback_on_error
        self._validate()

    def _validate(self) -> None:
        if self.start not in self.states:
            raise GraphConfigError(f"state machine {self.name!r}: start state {self.start!r} is not a state")
        if self.max_steps is not None and self.max_steps < 1:
            raise GraphConfigError(f"state machine {self.name!r}: max_steps must be >= 1, got {self.max_steps}")
        for src, targets in self.transitions.items():
            if src not in self.states:
                raise GraphConfigError(f"state machine {self.name!r}: transition from unknown state {src!r}")
            for t in targets:
                if t is not None and t not in self.states:
                    raise GraphConfigError(
                        f"state machine {self.name!r}: transition {src} -> {t}: unknown state "
                        f"{t!r} (states: {', '.join(sorted(self.states))})"
                    )
        for s in self.compensations:
            if s not in self.states:
                raise GraphConfigError(f"state machine {self.name!r}: compensation for unknown state {s!r}")

    def _next(self, scope: Scope, current: str, out: Any) -> str | None:
        nxt = self.choose(StateView(scope, None), current, out)
        allowed = self.transitions.get(current, [])
        if nxt is None:
            if allowed and None not in allowed:
                raise InvalidTransition(f"{self.name}: {current} cannot stop here (next must be one of {allowed})")
        elif nxt not in allowed:
            raise InvalidTransition(f"{self.name}: transition {current} -> {nxt} is not allowed (allowed: {allowed})")
        otel_trace.get_current_span().add_event(
            sc.EVENT_TRANSITION,
            {
                sc.STATE_MACHINE_STATE: nxt or "",
                "tracehouse.state_machine.from": current,
                "tracehouse.state_machine.name": self.name,
            },
        )
        return nxt

    def _setup(self, frame: Frame) -> tuple[str, Frame]:
        key, path = frame.next_key(self.name)
        scope = frame.scope.child() if self.rollback_on_error else frame.scope
        return key, frame.child(path, scope=scope, occ={})

    def _cap(self, n: int) -> None:
        if self.max_steps is not None and n >= self.max_steps:
            raise StepCapExceeded(
                "state_machine_steps",
                self.max_steps,
                n + 1,
                f"state machine {self.name} reached its cap of {self.max_steps} steps",
            )

    def execute(self, frame: Frame) -> Any:
        key, inner = self._setup(frame)
        done: list[tuple[str, Any]] = []
        current: str | None = self.start
        out = frame.input
        try:
            while current is not None:
                self._cap(len(done))
                inner.input = out
                out = self.states[current].execute(inner)
                done.append((current, out))
                current = self._next(inner.scope, current, out)
        except Exception:
            if self.rollback_on_error:
                for state, result in reversed(done):
                    if state in self.compensations:
                        inner.input = result
                        self.compensations[state].execute(inner)
            raise
        return self._finish(frame, key, inner, out)

    async def aexecute(self, frame: Frame) -> Any:
        key, inner = self._setup(frame)
        done: list[tuple[str, Any]] = []
        current: str | None = self.start
        out = frame.input
        try:
            while current is not None:
                self._cap(len(done))
                inner.input = out
                out = await self.states[current].aexecute(inner)
                done.append((current, out))
                current = self._next(inner.scope, current, out)
        except Exception:
            if self.rollback_on_error:
                for state, result in reversed(done):
                    if state in self.compensations:
                        inner.input = result
                        await self.compensations[state].aexecute(inner)
            raise
        return self._finish(frame, key, inner, out)

    def _finish(self, frame: Frame, key: str, inner: Frame, out: Any) -> Any:
        if not self.rollback_on_error:
            return out
        rec = frame.run.records.get(key)
        if rec is not None:
            return frame.run._replay(frame, rec)
        frame.run.commit(
            frame,
            key=key,
            name=self.name,
            kind="merge",
            writes=inner.scope.writes,
            output=roundtrip(out),
            usage=Usage(),
        )
        return roundtrip(out)

    def spec(self) -> NodeSpec:
        children = [*self.states.values(), *self.compensations.values()]
        spec = merge_specs(NodeSpec(self.name, "state_machine", "1"), children)
        for src, targets in self.transitions.items():
            for t in targets:
                if t is None:
                    continue
                spec.edges.extend(
                    Edge(x, y, "transition") for x in self.states[src].spec().exits for y in self.states[t].spec().entry
                )
        if self.max_steps is not None:
            spec.capped |= {a for n in self.states.values() for a in n.spec().agents}
        spec.entry = self.states[self.start].spec().entry
        spec.exits = [x for s, t in self.transitions.items() if not t or None in t for x in self.states[s].spec().exits]
        spec.shape.update(
            {
                "states": sorted(self.states),
                "start": self.start,
                "max_steps": self.max_steps,
                "transitions": {k: [t or "" for t in v] for k, v in sorted(self.transitions.items())},
                "rollback": self.rollback_on_error,
            }
        )
        spec.nodes[self.name] = self
        return spec
