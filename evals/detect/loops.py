"""Loop detection over one trace: hand-off cycles taken again, the same action repeated with no new result,
agent nesting beyond a limit, and loops the orchestrator's own guard reported."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tracehouse.domain.model import Step, StepType
from tracehouse.domain.outcome import failed
from tracehouse.domain.rates import is_call
from tracehouse.evals.detect._trace import TraceView, action_of, is_dedup_hit, usage
from tracehouse.evals.detect.model import DetectConfig, Finding, Kind, Severity, finding_id
from tracehouse.sdk import semconv

_AGENTISH = frozenset({StepType.AGENT, StepType.HANDOFF})


def detect_loops(steps: Sequence[Step], config: DetectConfig | None = None) -> list[Finding]:
    """Loop findings in one trace's steps (pure: no store, no clock other than `detected_at`)."""
    config = config or DetectConfig()
    if not steps:
        return []
    view = TraceView(steps)
    cycles = _handoff_cycles(view, config)
    inside_cycles = {span for f in cycles for span in f.span_ids}
    # A repeated action inside a hand-off loop is that loop, not a second one.
    repeats = [f for f in _repeated_actions(view, config) if not set(f.span_ids) <= inside_cycles]
    findings = [*cycles, *repeats, *_deep_nesting(view, config)]
    if not findings:
        findings.extend(_guard_reports(view))
    return findings


# -- hand-off cycles -----------------------------------------------------------------------------------------------


def handoff_edges(view: TraceView) -> list[tuple[str, str, Step]]:
    """(source, target, step) of every explicit hand-off, in start order."""
    edges: list[tuple[str, str, Step]] = []
    for s in view.steps:
        if s.step_type != StepType.HANDOFF and not (s.handoff_source or s.handoff_target):
            continue
        source = s.handoff_source or s.agent
        target = s.handoff_target
        if not target and s.tool_name.startswith(semconv.HANDOFF_TOOL_PREFIX):
            target = s.tool_name[len(semconv.HANDOFF_TOOL_PREFIX) :]
        if source and target and source != target:
            edges.append((source, target, s))
    return edges


def _handoff_cycles(view: TraceView, config: DetectConfig) -> list[Finding]:
    edges = handoff_edges(view)
    counts = Counter((a, b) for a, b, _ in edges)
    repeated = {e for e, n in counts.items() if n >= config.handoff_edge_repeats}
    if not repeated:
        return []
    # The loop runs from the first hand-off of a repeated edge to the end of the last hand-off on the cycle.
    first = next(i for i, (a, b, _) in enumerate(edges) if (a, b) in repeated)
    last = max(i for i, (a, b, _) in enumerate(edges) if (a, b) in repeated)
    # Close the cycle: also include the hand-offs between the repeats (B->A in A->B->A->B).
    loop_edges = edges[first : last + 1]
    cycle = _shortest_cycle(_walk(loop_edges))
    if not cycle:
        return []
    start = loop_edges[0][2].start_time_ns
    end = max(e[2].end_time_ns for e in loop_edges)
    inside = view.union_of_subtrees(e[2] for e in loop_edges)
    inside.update({s.span_id: s for s in view.steps if start <= s.start_time_ns <= end and is_call(s)})
    tokens, cost = usage(inside.values())
    repeats = max(counts[e] for e in repeated)
    agents = sorted({a for a, _, _ in loop_edges} | {b for _, b, _ in loop_edges})
    cycle_text = " → ".join(cycle)
    hops = len(loop_edges)
    severity = Severity.CRITICAL if repeats >= 4 or cost >= config.high_cost_usd else Severity.WARNING
    return [
        Finding(
            id=finding_id(Kind.LOOP, view.trace_id, "handoff_cycle", *sorted(set(cycle))),
            kind=Kind.LOOP,
            severity=severity,
            trace_id=view.trace_id,
            span_ids=_ordered_ids(view, inside),
            agents=agents,
            wasted_tokens=tokens,
            wasted_cost_usd=cost,
            explanation=(
                f"hand-off loop {cycle_text} repeated {repeats}× ({hops} hand-offs): "
                f"{tokens} tokens, ${cost:.4f} spent inside the loop"
            ),
            details={
                "pattern": "handoff_cycle",
                "cycle": cycle,
                "repeats": repeats,
                "handoffs": [{"source": a, "target": b, "span_id": s.span_id} for a, b, s in loop_edges],
            },
        )
    ]


def _walk(edges: list[tuple[str, str, Step]]) -> list[str]:
    """The agents visited by following hand-offs that chain (each leaves the agent the last one reached); a
    delegation from elsewhere (a supervisor sending work to the same specialist again) is not a step of the walk."""
    path = [edges[0][0]]
    for source, target, _ in edges:
        if source == path[-1]:
            path.append(target)
    return path


def _shortest_cycle(path: list[str]) -> list[str]:
    """The first closed walk in an agent path (['A','B','A'] for A→B→A→B)."""
    seen: dict[str, int] = {}
    for i, agent in enumerate(path):
        if agent in seen:
            return path[seen[agent] : i + 1]
        seen[agent] = i
    return []


# -- the same action repeated without progress ---------------------------------------------------------------------


def _repeated_actions(view: TraceView, config: DetectConfig) -> list[Finding]:
    groups: dict[tuple[str, str, str], list[Step]] = {}
    for s in view.steps:
        if is_call(s) and s.content_hash and not is_dedup_hit(s):
            groups.setdefault((s.agent, action_of(s), s.content_hash), []).append(s)
    findings: list[Finding] = []
    for (agent, action, content_hash), group in groups.items():
        # A call after a failed identical call is a retry (the retry-storm detector's business), not a loop.
        repeats = [s for i, s in enumerate(group) if s.retry_attempt <= 1 and not (i and failed(group[i - 1]))]
        repeats = [s for s in repeats if not failed(s)]
        if len(repeats) < config.repeat_action_threshold or _made_progress(repeats):
            continue
        if _all_concurrent(repeats):
            continue  # a parallel fan-out of identical calls is duplicate work, not a loop
        wasted = view.union_of_subtrees(repeats[1:])
        tokens, cost = usage(wasted.values())
        everything = view.union_of_subtrees(repeats)
        n = len(repeats)
        label = action.split(":", 1)[1] or action
        findings.append(
            Finding(
                id=finding_id(Kind.LOOP, view.trace_id, "repeated_action", agent, action, content_hash),
                kind=Kind.LOOP,
                severity=Severity.CRITICAL if n >= 5 or cost >= config.high_cost_usd else Severity.WARNING,
                trace_id=view.trace_id,
                span_ids=_ordered_ids(view, everything),
                agents=[agent] if agent else [],
                wasted_tokens=tokens,
                wasted_cost_usd=cost,
                explanation=(
                    f"{agent or 'an agent'} repeated {label} with the same input {n}× without new results: "
                    f"{tokens} tokens, ${cost:.4f} on the repeats"
                ),
                details={"pattern": "repeated_action", "action": action, "content_hash": content_hash, "repeats": n},
            )
        )
    return findings


def _made_progress(repeats: list[Step]) -> bool:
    """Different outputs (when they were captured) mean the repeated call saw a changing world."""
    outputs = [s.output_preview for s in repeats if s.output_preview]
    return len(outputs) == len(repeats) and len(set(outputs)) == len(outputs)


def _all_concurrent(steps: list[Step]) -> bool:
    first_end = min(s.end_time_ns for s in steps)
    return all(s.start_time_ns < first_end for s in steps)


# -- nesting depth -------------------------------------------------------------------------------------------------


def _deep_nesting(view: TraceView, config: DetectConfig) -> list[Finding]:
    deepest: tuple[int, Step] | None = None
    for s in view.steps:
        if s.step_type != StepType.AGENT:
            continue
        depth = 1 + sum(1 for a in view.ancestors(s) if a.step_type == StepType.AGENT)
        if depth > config.max_agent_depth and (deepest is None or depth > deepest[0]):
            deepest = (depth, s)
    if deepest is None:
        return []
    depth, leaf = deepest
    chain = [leaf, *(a for a in view.ancestors(leaf) if a.step_type in _AGENTISH)]
    chain.reverse()
    beyond = [s for s in chain if s.step_type == StepType.AGENT][config.max_agent_depth :]
    inside = view.union_of_subtrees(beyond[:1])
    tokens, cost = usage(inside.values())
    agents = sorted({s.agent for s in chain if s.agent})
    return [
        Finding(
            id=finding_id(Kind.LOOP, view.trace_id, "depth", chain[0].span_id),
            kind=Kind.LOOP,
            severity=Severity.CRITICAL,
            trace_id=view.trace_id,
            span_ids=_ordered_ids(view, inside) or [leaf.span_id],
            agents=agents,
            wasted_tokens=tokens,
            wasted_cost_usd=cost,
            explanation=(
                f"agents nested {depth} deep (limit {config.max_agent_depth}) through {', '.join(agents)}: "
                f"{tokens} tokens, ${cost:.4f} below the limit"
            ),
            details={"pattern": "depth", "depth": depth, "limit": config.max_agent_depth},
        )
    ]


# -- what the orchestrator's loop guard reported -------------------------------------------------------------------


def _guard_reports(view: TraceView) -> list[Finding]:
    flagged = [s for s in view.steps if s.attributes.get(semconv.LOOP_DETECTED, "").lower() not in ("", "false", "0")]
    if not flagged:
        return []
    first = flagged[0]
    scope = view.parent(first) or first
    inside = view.union_of_subtrees([scope])
    tokens, cost = usage(inside.values())
    agents = sorted({s.agent for s in inside.values() if s.agent})
    pattern = first.attributes.get(semconv.LOOP_DETECTED, "true")
    return [
        Finding(
            id=finding_id(Kind.LOOP, view.trace_id, "guard", first.span_id),
            kind=Kind.LOOP,
            severity=Severity.WARNING,
            trace_id=view.trace_id,
            span_ids=_ordered_ids(view, inside),
            agents=agents,
            wasted_tokens=tokens,
            wasted_cost_usd=cost,
            explanation=(
                f"the orchestrator's loop guard stopped {first.agent or first.name} ({pattern}): "
                f"{tokens} tokens, ${cost:.4f} in the looping step"
            ),
            details={"pattern": "guard", "reported": pattern, "span_id": first.span_id},
        )
    ]


def _ordered_ids(view: TraceView, chosen: dict[str, Step]) -> list[str]:
    return [s.span_id for s in view.steps if s.span_id in chosen]
