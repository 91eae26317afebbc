"""Rules that need a step's ancestors: agent inheritance (semconv §3 rule 2), usage on the innermost call (rule 4)."""

from __future__ import annotations

from collections.abc import Mapping

from tracehouse.collector.model import Step, StepType

_MAX_DEPTH = 10_000  # a parent chain longer than this (or a cycle in bad data) stops the walk
_CALL_TYPES = (StepType.LLM, StepType.EMBEDDING)


def resolve_agents(steps: list[Step], known: Mapping[str, tuple[str, str]]) -> list[Step]:
    """Fill `agent` of steps that have none from their nearest ancestor with an agent; return the steps changed.

    Ancestors are looked up among `steps` first, then in `known` (span_id -> (parent_span_id, agent) of steps from
    earlier batches; an empty agent there means "none yet, keep climbing"). A hand-off step (or a call that handed
    off) without a source gets its agent as the source.
    """
    by_id = {step.span_id: step for step in steps}
    effective: dict[str, str] = {}  # span_id -> its own or inherited agent, memoised along walked chains
    changed: list[Step] = []
    for step in steps:
        touched = False
        if not step.agent and step.parent_span_id:
            agent = _ancestor_agent(step.parent_span_id, by_id, known, effective)
            if agent:
                step.agent = agent
                touched = True
        if step.agent and step.handoff_target and not step.handoff_source:
            step.handoff_source = step.agent
            touched = True
        if touched:
            changed.append(step)
    return changed


def _ancestor_agent(
    parent_id: str, by_id: Mapping[str, Step], known: Mapping[str, tuple[str, str]], effective: dict[str, str]
) -> str:
    chain: list[str] = []
    agent = ""
    span_id = parent_id
    for _ in range(_MAX_DEPTH):
        if not span_id:
            break
        if span_id in effective:
            agent = effective[span_id]
            break
        step = by_id.get(span_id)
        if step is not None:
            if step.agent:
                agent = step.agent
                break
            chain.append(span_id)
            span_id = step.parent_span_id
            continue
        entry = known.get(span_id)
        if entry is None:
            break
        if entry[1]:
            agent = entry[1]
            break
        chain.append(span_id)
        span_id = entry[0]
    for walked in chain:
        effective[walked] = agent
    return agent


def has_usage(step: Step) -> bool:
    return step.input_tokens is not None or step.output_tokens is not None or step.cost_usd is not None


def strip_wrapper_usage(steps: list[Step]) -> int:
    """Clear token and cost fields of every step with a descendant LLM/embedding step carrying usage in `steps`.

    The raw numbers stay in the step's attributes. Returns how many steps were cleared.
    """
    by_id = {step.span_id: step for step in steps}
    above: set[str] = set()  # span ids that have a descendant call with usage
    for step in steps:
        if step.step_type not in _CALL_TYPES or not has_usage(step):
            continue
        parent_id = step.parent_span_id
        for _ in range(_MAX_DEPTH):
            if not parent_id or parent_id in above:
                break
            above.add(parent_id)
            parent = by_id.get(parent_id)
            if parent is None:
                break
            parent_id = parent.parent_span_id
    cleared = 0
    for span_id in above:
        wrapper = by_id.get(span_id)
        if wrapper is not None and has_usage(wrapper):
            wrapper.input_tokens = wrapper.output_tokens = None
            wrapper.cache_read_tokens = wrapper.cache_write_tokens = wrapper.reasoning_tokens = None
            wrapper.cost_usd = None
            cleared += 1
    return cleared
