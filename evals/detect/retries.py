"""Retry-storm detection: per trace, retry amplification (attempts ÷ logical calls) and cascades (a retried call
inside a retried call); per project / agent / provider, the retry rate of a recent window against its baseline.

Retries are recognised from `tracehouse.retry.attempt` when spans carry it, and otherwise from calls by the same agent
with the same action and input (content hash) that start after the previous one failed, wherever they sit in the
tree: agent frameworks retry a failing tool in the agent's next step, under a new parent span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tracehouse.domain.model import Step
from tracehouse.domain.outcome import failed
from tracehouse.domain.rates import is_call
from tracehouse.evals.detect._trace import TraceView, action_of, usage
from tracehouse.evals.detect.model import DetectConfig, Finding, Kind, Severity, finding_id


@dataclass
class LogicalCall:
    """One call as the caller meant it, with every attempt made for it (in start order)."""

    attempts: list[Step] = field(default_factory=list)

    @property
    def retries(self) -> int:
        return len(self.attempts) - 1


def logical_calls(view: TraceView) -> list[LogicalCall]:
    """Group the trace's calls into logical calls: explicit attempt numbers first, then implicit retries."""
    calls: list[LogicalCall] = []
    groups: dict[tuple[str, str, str], list[Step]] = {}
    for s in view.steps:
        if s.retry_attempt > 0 or is_call(s):
            groups.setdefault((s.agent, action_of(s), s.content_hash), []).append(s)
    for group in groups.values():
        current: LogicalCall | None = None
        for s in group:
            if s.retry_attempt > 0:
                explicit_retry = current is not None and s.retry_attempt > current.attempts[-1].retry_attempt > 0
                if explicit_retry and current is not None:
                    current.attempts.append(s)
                    continue
            elif (
                current is not None
                and current.attempts[-1].retry_attempt == 0
                and failed(current.attempts[-1])
                and s.start_time_ns >= current.attempts[-1].end_time_ns
                and (s.content_hash or (s.agent and s.error_type and s.error_type == current.attempts[-1].error_type))
            ):
                current.attempts.append(s)  # the same call again after it failed: an unmarked retry
                continue
            current = LogicalCall([s])
            calls.append(current)
    return calls


def detect_retry_storms(steps: Sequence[Step], config: DetectConfig | None = None) -> list[Finding]:
    """At most one retry-storm finding per trace, sized by the tokens and cost of the attempts that were retried."""
    config = config or DetectConfig()
    if not steps:
        return []
    view = TraceView(steps)
    calls = logical_calls(view)
    retried = [c for c in calls if c.retries > 0]
    if not retried:
        return []
    attempts = sum(len(c.attempts) for c in calls)
    retries = attempts - len(calls)
    amplification = attempts / len(calls)
    cascades = _cascades(view, retried)
    worst = max(retried, key=lambda c: len(c.attempts))
    storm = (
        (retries >= config.storm_min_retries and amplification >= config.storm_min_amplification)
        or (cascades and retries >= config.cascade_min_retries)
        or len(worst.attempts) >= config.storm_max_attempts_per_call
    )
    if not storm:
        return []
    wasted_roots = [a for c in retried for a in c.attempts[:-1]]
    wasted = view.union_of_subtrees(wasted_roots)
    tokens, cost = usage(wasted.values())
    involved = view.union_of_subtrees(a for c in retried for a in c.attempts)
    agents = sorted({s.agent for s in involved.values() if s.agent})
    errors = sum(1 for c in retried for a in c.attempts if failed(a))
    multiplier = max((m for _, _, m in cascades), default=len(worst.attempts))
    severity = Severity.CRITICAL if cascades or amplification >= 3 or cost >= config.high_cost_usd else Severity.WARNING
    plural = "s" if len(cascades) != 1 else ""
    cascade_text = f", {len(cascades)} cascade{plural} (up to ×{multiplier})" if cascades else ""
    return [
        Finding(
            id=finding_id(Kind.RETRY_STORM, view.trace_id, "trace"),
            kind=Kind.RETRY_STORM,
            severity=severity,
            trace_id=view.trace_id,
            span_ids=[s.span_id for s in view.steps if s.span_id in {a.span_id for c in retried for a in c.attempts}],
            agents=agents,
            wasted_tokens=tokens,
            wasted_cost_usd=cost,
            explanation=(
                f"retry storm: {attempts} attempts for {len(calls)} calls (amplification {amplification:.2f}), "
                f"{retries} retries, {errors} failed attempts{cascade_text}: "
                f"{tokens} tokens, ${cost:.4f} on retried attempts"
            ),
            details={
                "attempts": attempts,
                "logical_calls": len(calls),
                "retries": retries,
                "amplification": round(amplification, 4),
                "failed_attempts": errors,
                "max_attempts_per_call": len(worst.attempts),
                "cascades": [{"parent_span_id": p, "child_span_id": c, "multiplier": m} for p, c, m in cascades],
                "retried_calls": [
                    {"action": action_of(c.attempts[0]), "agent": c.attempts[0].agent, "attempts": len(c.attempts)}
                    for c in retried
                ],
            },
        )
    ]


def _cascades(view: TraceView, retried: list[LogicalCall]) -> list[tuple[str, str, int]]:
    """(outer attempt, inner attempt, attempts multiplied) for every retried call inside an attempt of another retried
    call: the retries multiply through the layers."""
    attempt_of: dict[str, LogicalCall] = {a.span_id: c for c in retried for a in c.attempts}
    out: list[tuple[str, str, int]] = []
    for call in retried:
        inner = call.attempts[0]
        for ancestor in view.ancestors(inner):
            outer = attempt_of.get(ancestor.span_id)
            if outer is not None and outer is not call:
                out.append((ancestor.span_id, inner.span_id, len(outer.attempts) * len(call.attempts)))
                break
    return out
