"""Duplicate-work detection: the same operation on the same input (content hash) executed by different agents or in
concurrent branches of one trace — and, over a window, across traces. Dedup hits reused a result and are not waste."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tracehouse.domain.model import Step
from tracehouse.domain.outcome import failed
from tracehouse.domain.rates import is_call
from tracehouse.evals.detect._trace import TraceView, action_of, is_dedup_hit, overlaps, usage
from tracehouse.evals.detect.model import DetectConfig, Finding, Kind, Severity, finding_id


def detect_duplicate_work(steps: Sequence[Step], config: DetectConfig | None = None) -> list[Finding]:
    """Duplicate-work findings in one trace: per (action, content hash), every execution after the first that ran in
    another agent or a concurrent branch is waste, measured with its whole subtree."""
    config = config or DetectConfig()
    if not steps:
        return []
    view = TraceView(steps)
    groups: dict[tuple[str, str], list[Step]] = {}
    for s in view.steps:
        if is_call(s) and s.content_hash and not is_dedup_hit(s) and not failed(s):
            groups.setdefault((action_of(s), s.content_hash), []).append(s)
    covered: set[str] = set()
    findings: list[Finding] = []
    # Outer steps first, so an LLM call inside a duplicated tool call is counted once, as part of its tool call.
    for (action, content_hash), group in sorted(groups.items(), key=lambda kv: _depth(view, kv[1][0])):
        # explicit retry attempts belong to the retry-storm detector
        group = [s for s in group if s.span_id not in covered and s.retry_attempt <= 1]
        if len(group) < 2:
            continue
        duplicates = [s for s in group[1:] if _duplicates(view, group[0], s)]
        if not duplicates:
            continue
        original = group[0]
        wasted = view.union_of_subtrees(duplicates)
        covered.update(view.union_of_subtrees([original, *duplicates]))
        tokens, cost = usage(wasted.values())
        agents = sorted({s.agent for s in [original, *duplicates] if s.agent})
        label = action.split(":", 1)[1] or action
        n = 1 + len(duplicates)
        findings.append(
            Finding(
                id=finding_id(Kind.DUPLICATE_WORK, view.trace_id, action, content_hash),
                kind=Kind.DUPLICATE_WORK,
                severity=Severity.CRITICAL if cost >= config.high_cost_usd else Severity.WARNING,
                trace_id=view.trace_id,
                span_ids=[original.span_id, *(s.span_id for s in duplicates)],
                agents=agents,
                wasted_tokens=tokens,
                wasted_cost_usd=cost,
                explanation=(
                    f"{label} ran {n}× on the same input ({' and '.join(agents) or 'several branches'}): "
                    f"{tokens} tokens, ${cost:.4f} wasted on the {n - 1} duplicate{'s' if n > 2 else ''}"
                ),
                details={
                    "action": action,
                    "content_hash": content_hash,
                    "original_span_id": original.span_id,
                    "duplicate_span_ids": [s.span_id for s in duplicates],
                    "executions": n,
                },
            )
        )
    return findings


def _depth(view: TraceView, step: Step) -> int:
    return len(view.ancestors(step))


def _duplicates(view: TraceView, original: Step, other: Step) -> bool:
    """Different agents, or the same agent in two concurrent branches (neither inside the other). Two model calls
    whose prompts differ in size were not the same request, whatever input an instrumentation recorded (some record
    only the first user message)."""
    if _known_and_different(original.input_tokens, other.input_tokens):
        return False
    if original.agent != other.agent:
        return True
    if other.span_id in {s.span_id for s in view.subtree(original)}:
        return False
    lca = view.lowest_common_ancestor(original, other)
    a, b = view.branch_root(original, lca), view.branch_root(other, lca)
    return a.span_id != b.span_id and overlaps(a, b)


def detect_cross_trace_duplicates(
    steps_by_trace: Mapping[str, Sequence[Step]], config: DetectConfig | None = None
) -> list[Finding]:
    """Duplicate work across traces of a window: the same action and input executed in two or more traces by
    different agents (the earliest execution is the original). One finding per (action, hash), on the first trace."""
    config = config or DetectConfig()
    groups: dict[tuple[str, str], list[Step]] = {}
    for steps in steps_by_trace.values():
        for s in steps:
            if is_call(s) and s.content_hash and not is_dedup_hit(s) and not failed(s):
                groups.setdefault((action_of(s), s.content_hash), []).append(s)
    findings: list[Finding] = []
    for (action, content_hash), group in groups.items():
        group.sort(key=lambda s: (s.start_time_ns, s.span_id))
        traces = {s.trace_id for s in group}
        original = group[0]
        duplicates = [s for s in group[1:] if s.trace_id != original.trace_id and s.agent != original.agent]
        if len(traces) < 2 or not duplicates:
            continue
        tokens, cost = usage(duplicates)
        agents = sorted({s.agent for s in [original, *duplicates] if s.agent})
        findings.append(
            Finding(
                id=finding_id(Kind.DUPLICATE_WORK, "*", action, content_hash),
                kind=Kind.DUPLICATE_WORK,
                severity=Severity.INFO,
                trace_id=original.trace_id,
                span_ids=[original.span_id, *(s.span_id for s in duplicates)],
                agents=agents,
                wasted_tokens=tokens,
                wasted_cost_usd=cost,
                explanation=(
                    f"{action.split(':', 1)[1] or action} ran on the same input in {len(traces)} traces "
                    f"({', '.join(agents)}): {tokens} tokens, ${cost:.4f} could have been reused"
                ),
                details={
                    "scope": "window",
                    "action": action,
                    "content_hash": content_hash,
                    "trace_ids": sorted(traces),
                },
            )
        )
    return findings


def _known_and_different(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a != b
