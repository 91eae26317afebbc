"""Arbitration when agents' outputs conflict: a chain of strategies that always ends in a decision.

Strategies: first responder, highest confidence (with a minimum and a margin), majority vote (quorum > n/2 over
normalised answers), deterministic priority (fixed order, always resolves) and human escalation (a persisted
interrupt resumed with the human's choice). Nothing is random: the same ballots always give the same decision.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tracehouse.sdk import content_hash

from .dedup import normalise


@dataclass(frozen=True)
class Candidate:
    """One agent's answer. `order` is arrival order (for first responder); `valid` is its schema check."""

    agent: str
    answer: Any
    confidence: float | None = None
    valid: bool = True
    order: int = 0


@dataclass(frozen=True)
class Decision:
    """The winner (None only for an escalation still waiting), the strategy that decided, and why."""

    winner: Candidate | None
    strategy: str
    reason: str
    ballots: tuple[Candidate, ...] = ()
    tried: tuple[str, ...] = ()

    @property
    def answer(self) -> Any:
        return None if self.winner is None else self.winner.answer


class Strategy(ABC):
    """One link of the chain: return a Decision, or None to fall through to the next link."""

    name = "strategy"

    @abstractmethod
    def decide(self, candidates: Sequence[Candidate]) -> Decision | None: ...

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True)
class FirstResponder(Strategy):
    name = "first_responder"

    def decide(self, candidates: Sequence[Candidate]) -> Decision | None:
        valid = sorted((c for c in candidates if c.valid), key=lambda c: c.order)
        if not valid:
            return None
        return Decision(valid[0], self.name, f"{valid[0].agent} answered first")


@dataclass(frozen=True)
class HighestConfidence(Strategy):
    minimum: float = 0.0
    margin: float = 0.0
    name = "highest_confidence"

    def decide(self, candidates: Sequence[Candidate]) -> Decision | None:
        scored = sorted(
            (c for c in candidates if c.valid and c.confidence is not None),
            key=lambda c: (-(c.confidence or 0.0), c.order),
        )
        if not scored or (scored[0].confidence or 0.0) < self.minimum:
            return None
        if len(scored) > 1 and (scored[0].confidence or 0.0) - (scored[1].confidence or 0.0) < self.margin:
            return None
        return Decision(scored[0], self.name, f"{scored[0].agent} had confidence {scored[0].confidence:.2f}")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "minimum": self.minimum, "margin": self.margin}


@dataclass(frozen=True)
class MajorityVote(Strategy):
    name = "majority_vote"

    def decide(self, candidates: Sequence[Candidate]) -> Decision | None:
        valid = [c for c in candidates if c.valid]
        if not valid:
            return None
        votes = Counter(content_hash(normalise(c.answer)) for c in valid)
        (top, count), *rest = votes.most_common()
        if count * 2 <= len(valid) or (rest and rest[0][1] == count):
            return None
        winner = min((c for c in valid if content_hash(normalise(c.answer)) == top), key=lambda c: c.order)
        return Decision(winner, self.name, f"{count} of {len(valid)} votes")


@dataclass(frozen=True)
class DeterministicPriority(Strategy):
    order: tuple[str, ...] = ()
    name = "deterministic_priority"

    def decide(self, candidates: Sequence[Candidate]) -> Decision | None:
        valid = [c for c in candidates if c.valid] or list(candidates)
        if not valid:
            return None
        rank = {agent: i for i, agent in enumerate(self.order)}
        winner = min(valid, key=lambda c: (rank.get(c.agent, len(rank)), c.agent, c.order))
        return Decision(winner, self.name, f"{winner.agent} ranks first in the fixed priority order")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "order": list(self.order)}


@dataclass(frozen=True)
class EscalateHuman(Strategy):
    """Resolved by the orchestrator: it persists an interrupt and pauses the run; resume supplies the choice."""

    name = "escalate_human"

    def decide(self, candidates: Sequence[Candidate]) -> Decision | None:
        return Decision(None, self.name, "no automatic strategy could decide; waiting for a human")


@dataclass(frozen=True)
class Arbiter:
    """A chain of strategies tried in order; a chain without a terminal link ends with deterministic priority."""

    chain: tuple[Strategy, ...] = field(default_factory=lambda: (MajorityVote(), DeterministicPriority()))

    def decide(self, candidates: Sequence[Candidate]) -> Decision:
        tried: list[str] = []
        ballots = tuple(candidates)
        for strategy in (*self.chain, DeterministicPriority()):
            tried.append(strategy.name)
            decision = strategy.decide(ballots)
            if decision is not None:
                return Decision(decision.winner, decision.strategy, decision.reason, ballots, tuple(tried))
        raise ValueError("arbitration needs at least one candidate")

    def describe(self) -> list[dict[str, Any]]:
        return [s.describe() for s in self.chain]


def choose_by_human(candidates: Sequence[Candidate], answer: Any, tried: Sequence[str]) -> Decision:
    """The Decision for a human's answer: an agent name, or an index into the candidates."""
    for c in candidates:
        if c.agent == answer:
            return Decision(c, "escalate_human", f"a human chose {c.agent}", tuple(candidates), tuple(tried))
    if isinstance(answer, int) and 0 <= answer < len(candidates):
        chosen = candidates[answer]
        return Decision(chosen, "escalate_human", f"a human chose {chosen.agent}", tuple(candidates), tuple(tried))
    raise ValueError(f"the human's answer {answer!r} names no candidate")
