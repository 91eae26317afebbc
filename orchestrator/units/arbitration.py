"""Arbitration of conflicting outputs as a journalled step: ballots as span events, and a person when no strategy
decides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from ..arbitration import Arbiter, Candidate, Decision, choose_by_human
from ..budget import Usage
from ..journal import Frame
from ..tracing import pausable
from .models import ModelUnit


class ArbitrationUnit(ModelUnit):
    """Decisions between candidates, recorded so a resume reuses them."""

    def arbitrate(self, frame: Frame, candidates: Sequence[Candidate], arbiter: Arbiter | None) -> Decision:
        arbiter = arbiter or self.cfg.arbiter
        key, _ = frame.next_key("arbiter")
        cands = tuple(candidates)
        rec = self.records.get(key)
        if rec is not None:
            out = self._replay(frame, rec)
            return decision_from(out, cands)
        with pausable(sdk.agent("arbiter", id=key[:16], description="arbitration of conflicting outputs")) as span:
            span.set_attribute(sc.STEP_KEY, key)
            span.set_input([{"agent": c.agent, "answer": c.answer, "confidence": c.confidence} for c in cands])
            for c in cands:
                attrs: dict[str, Any] = {
                    sc.GEN_AI_AGENT_NAME: c.agent,
                    sc.CONTENT_HASH: sdk.content_hash(c.answer),
                    "tracehouse.arbiter.valid": c.valid,
                }
                if c.confidence is not None:
                    attrs["tracehouse.arbiter.confidence"] = c.confidence
                span.add_event(sc.EVENT_ARBITER_BALLOT, attrs)
            decision = arbiter.decide(cands)
            span.set_attribute(sc.ARBITER_STRATEGY, decision.strategy)
            if decision.winner is None:
                span.set_attribute(sc.ARBITER_OUTCOME, "escalated")
                answer = self._interrupt(
                    key,
                    "arbitration",
                    {
                        "candidates": [
                            {"agent": c.agent, "answer": c.answer, "confidence": c.confidence} for c in cands
                        ],
                        "tried": list(decision.tried),
                    },
                    span,
                )
                decision = choose_by_human(cands, answer, decision.tried)
            span.set_attributes(
                {sc.ARBITER_OUTCOME: "decided", sc.ARBITER_WINNER: decision.winner.agent if decision.winner else ""}
            )
            winner = cands.index(decision.winner) if decision.winner is not None else -1
            self.commit(
                frame,
                key=key,
                name="arbiter",
                kind="arbiter",
                writes=[],
                span=span,
                usage=Usage(),
                output={
                    "winner": winner,
                    "strategy": decision.strategy,
                    "reason": decision.reason,
                    "tried": list(decision.tried),
                },
                checkpoint=False,
            )
            return decision


def decision_from(out: Mapping[str, Any], cands: tuple[Candidate, ...]) -> Decision:
    idx = out["winner"]
    winner = cands[idx] if 0 <= idx < len(cands) else None
    return Decision(winner, out["strategy"], out["reason"], cands, tuple(out["tried"]))
