"""Loop guards beyond counters: repeated action/observation, repeated errors, A↔B ping-pong, hand-off cycles, stalls.

Actions are fingerprinted on (agent, tool, normalised args), observations on their normalised content, over a
sliding window per agent (OpenHands' stuck detector thresholds). A trigger either stops the run with `LoopDetected`
or, with `hint_then_stop`, first leaves a hint the agent can read and stops on the next trigger.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from .dedup import normalise
from .errors import LoopDetected


@dataclass(frozen=True)
class LoopPolicy:
    """Thresholds of each detector. `polling_tools` are tools whose identical answers are expected (a job status
    polled until it changes): their repeats are not a loop, though repeated errors still are; `@tool(polling=True)`
    and `ctx.tool(..., polling=True)` say the same per tool. Bound polling with `Limits(max_tool_calls=...)` or a
    deadline."""

    window: int = 20
    repeat_action_observation: int = 4
    repeat_action_error: int = 3
    ping_pong_pairs: int = 6
    handoff_cycle_repeats: int = 3
    no_progress_steps: int | None = None
    on_trigger: Literal["stop", "hint_then_stop"] = "stop"
    polling_tools: frozenset[str] = frozenset()


@dataclass
class LoopGuard:
    """Per-run detector; thread-safe. Every method raises LoopDetected when its pattern fires (per the policy)."""

    policy: LoopPolicy = field(default_factory=LoopPolicy)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._actions: dict[str, deque[tuple[str, str]]] = {}
        self._handoffs: list[tuple[str, str]] = []
        self._stalled = 0
        self.hints: dict[str, str] = {}
        self.triggers: list[tuple[str, str, str]] = []

    def action(
        self,
        agent: str,
        tool: str,
        args: Any,
        observation: Any = None,
        error: str | None = None,
        polling: bool = False,
    ) -> None:
        if not error and (polling or tool in self.policy.polling_tools):
            return  # the same answer again is what polling expects
        fp = _fingerprint([agent, tool, normalise(args)])
        obs = "error:" + error if error else _fingerprint(normalise(observation))
        with self._lock:
            window = self._actions.setdefault(agent, deque(maxlen=self.policy.window))
            window.append((fp, obs))
            same = sum(1 for item in window if item == (fp, obs))
        if error and same >= self.policy.repeat_action_error:
            self._fire("action_error", agent, f"{tool} failed with {error} {same} times with the same arguments")
        elif not error and same >= self.policy.repeat_action_observation:
            self._fire(
                "action_observation", agent, f"{tool} called {same} times with the same arguments and the same result"
            )

    def handoff(self, source: str, target: str) -> None:
        with self._lock:
            self._handoffs.append((source, target))
            edges = list(self._handoffs)
        pairs = _alternating_pairs(edges)
        if pairs >= self.policy.ping_pong_pairs:
            self._fire("ping_pong", target, f"{source}↔{target} handed back and forth {pairs} times")
            return
        repeats = _cycle_repeats(edges)
        if repeats >= self.policy.handoff_cycle_repeats:
            self._fire("handoff_cycle", target, f"hand-off cycle through {target} repeated {repeats} times")

    def progress(self, agent: str, changed: bool) -> None:
        limit = self.policy.no_progress_steps
        if limit is None:
            return
        with self._lock:
            self._stalled = 0 if changed else self._stalled + 1
            stalled = self._stalled
        if stalled >= limit:
            self._fire("no_progress", agent, f"{stalled} steps without any state change")

    def has_cycle(self) -> bool:
        """True when the hand-offs so far visit some agent twice (a hop cap that stops this is a loop)."""
        with self._lock:
            seen: set[str] = set()
            for source, target in self._handoffs:
                seen.add(source)
                if target in seen:
                    return True
            return False

    def _fire(self, pattern: str, agent: str, detail: str) -> None:
        with self._lock:
            self.triggers.append((pattern, agent, detail))
            if self.policy.on_trigger == "hint_then_stop" and agent not in self.hints:
                self.hints[agent] = f"You are repeating yourself ({pattern}: {detail}). Change approach or finish."
                return
        raise LoopDetected(pattern, agent, detail)


def _alternating_pairs(edges: list[tuple[str, str]]) -> int:
    """How many trailing A→B, B→A pairs alternate between the same two agents in one chain of hand-offs."""
    if not edges:
        return 0
    pair = {edges[-1][0], edges[-1][1]}
    count = 0
    i = len(edges) - 1
    while i >= 1:
        (s1, t1), (s2, t2) = edges[i - 1], edges[i]
        if not (s2 == t1 and t2 == s1 and s1 != t1 and {s1, t1} == pair):
            break
        count += 1
        i -= 2
        if i >= 0 and edges[i][1] != edges[i + 1][0]:
            break
    return count


def _cycle_repeats(edges: list[tuple[str, str]]) -> int:
    """How often the last hand-off edge repeats within the trailing chain of hand-offs (each starting where the
    previous one ended): A→B→A→B… counts, a supervisor delegating to the same specialist three times does not."""
    if not edges:
        return 0
    start = len(edges) - 1
    while start > 0 and edges[start - 1][1] == edges[start][0]:
        start -= 1
    last = edges[-1]
    return sum(1 for e in edges[start:] if e == last)


def _fingerprint(value: Any) -> str:
    """An in-process identity for comparing actions (never stored): sorted-key JSON and a short BLAKE2b, several
    times cheaper than the canonical RFC 8785 hash spans need, on every tool call."""
    text = json.dumps(value, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
