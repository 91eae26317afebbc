"""The rules that need a whole trace, applied once, in one place: the normaliser runs them on each batch for
immediacy, and the trace finaliser runs them again on the whole stored trace, so the answer never depends on how the
spans were split into requests, batches, restarts or replicas.

The rules, in the order they apply:

1. **What counts as a model call.** A step typed `llm` is a real model call unless another `llm` step sits below it
   (then it is a framework's wrapper around the call, as AutoGen's agent-level span is) or it shows no sign of a
   request at all (no usage, no finish reason, no requested tool, no error) while a
   sibling `llm` step did (LlamaIndex tags `_prepare_chat_with_tools` as LLM). Such a step becomes `other`.
2. **The innermost call owns the usage.** A step with tokens or cost that has a model call with usage below it
   (Strands' `invoke_agent` sum, smolagents' AGENT sums, a wrapper's copy) keeps none: the calls below count.
3. **The agent of a step** is its own agent name, else its nearest ancestor's.
4. **Each hand-off once.** One hand-off leaves three kinds of evidence: the model's `transfer_to_x` tool call, the
   tool span that executes it, and the framework's own hand-off span. Evidence from one agent to one target after the
   same model call is one hand-off, carried by the most explicit step; the others keep no hand-off. A target spelled
   as a tool name (`weather_specialist`) is the agent of that name in the trace (`Weather specialist`).

Where a rule changes what a span said itself, the span's own value is kept in `Step.own` (see `Step`): applying the
rules again restores the own values first, so the result is the same however often and in whatever order they run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.domain.tree import TraceTree
from tracehouse.sdk.semconv import HANDOFF_TOOL_PREFIX

# Fields the rules may change; `Step.own` holds the span's own value of any that changed.
DERIVED_FIELDS: tuple[str, ...] = (
    "agent",
    "step_type",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "handoff_source",
    "handoff_target",
)
_USAGE_FIELDS = DERIVED_FIELDS[2:8]
_CALL_TYPES = (StepType.LLM, StepType.EMBEDDING)
# The operation of a graph node's run (LangGraph): nodes hand over by running one after the other, with no
# hand-off span, so their order is the hand-off. Other agents running in sequence (a pipeline, a state machine,
# a fan-out) are not handing off.
GRAPH_NODE_OPERATION = "graph_node"
_TOOLISH = (StepType.TOOL, StepType.HANDOFF)


@dataclass
class Attributed:
    """The trace's steps (one per span id: the last one given wins) and those whose rule-decided fields changed."""

    steps: list[Step]
    changed: list[Step]


def attribute(steps: Iterable[Step]) -> Attributed:
    """Apply the trace rules to the steps of one trace (all of it, or the part at hand), in place."""
    latest: dict[str, Step] = {}
    for step in steps:
        latest[step.span_id] = step
    # A step that had no own values changed exactly when it has some now (each records a field a rule changed);
    # only steps that carried own values from an earlier application need comparing in full.
    before = {sid: _snapshot(s) for sid, s in latest.items() if s.own}
    for step in latest.values():
        restore_own(step)
    tree = TraceTree(latest.values())
    bottom_up = _bottom_up(tree)
    _model_calls(tree, bottom_up)
    _tool_duplicates(tree)
    _usage(tree, bottom_up)
    agents = _agent_names(tree)
    ordered = tree.in_start_order()
    _agents(tree, agents, ordered)
    _handoffs(tree, agents, ordered)
    for step in latest.values():
        if step.own:
            _forget_unchanged(step)
    changed = [s for sid, s in latest.items() if (_snapshot(s) != before[sid] if sid in before else bool(s.own))]
    return Attributed(list(latest.values()), changed)


def has_usage(step: Step) -> bool:
    return step.input_tokens is not None or step.output_tokens is not None or step.cost_usd is not None


def is_model_call(step: Step) -> bool:
    """A request to a model (after the rules ran): what "LLM calls" counts everywhere."""
    return step.step_type in _CALL_TYPES


# Google ADK's one hand-off tool names its target in an argument (`agent_name`), not in the tool's name.
GENERIC_HANDOFF_TOOL = "transfer_to_agent"


def handoff_target_of_tool(tool_name: str) -> str:
    """`transfer_to_billing` -> `billing`; "" for any other tool (and for ADK's `transfer_to_agent`)."""
    if not tool_name.startswith(HANDOFF_TOOL_PREFIX) or tool_name == GENERIC_HANDOFF_TOOL:
        return ""
    return tool_name[len(HANDOFF_TOOL_PREFIX) :]


# -- own values ------------------------------------------------------------------------------------------------------
def _snapshot(step: Step) -> tuple[Any, ...]:
    return (*(getattr(step, name) for name in DERIVED_FIELDS), tuple(sorted(step.own.items())))


_TEXTS: dict[Any, str] = {}  # memo of `_as_text` for the few values (names, types, counts) rules write again and again


def _as_text(value: Any) -> str:
    kind = type(value)
    if kind is str or kind is StepType or kind is int or value is None:
        text = _TEXTS.get(value)
        if text is None:
            if len(_TEXTS) > 4096:
                _TEXTS.clear()
            text = _TEXTS[value] = json.dumps(str(value) if kind is StepType else value)
        return text
    return json.dumps(value)


def restore_own(step: Step) -> None:
    """Put back what the span said itself (undo earlier applications of the rules)."""
    for name, text in step.own.items():
        if name not in DERIVED_FIELDS:
            continue
        value = json.loads(text)
        setattr(step, name, _step_type(value) if name == "step_type" else value)
    step.own = {}


def _step_type(value: Any) -> StepType:
    return StepType(value) if value in StepType._value2member_map_ else StepType.OTHER


def _set(step: Step, name: str, value: Any) -> None:
    current = getattr(step, name)
    if current == value:
        return
    step.own.setdefault(name, _as_text(current))
    setattr(step, name, value)


def _forget_unchanged(step: Step) -> None:
    for name in [n for n, text in step.own.items() if text == _as_text(getattr(step, n))]:
        del step.own[name]


# -- the rules -------------------------------------------------------------------------------------------------------
def _bottom_up(tree: TraceTree) -> list[Step]:
    """Children before their parents."""
    return [tree.by_id[sid] for sid, _ in reversed(tree.order)]


def _made_no_request(step: Step) -> bool:
    return not (
        has_usage(step) or step.finish_reasons or step.tool_calls or step.status is Status.ERROR or step.error_type
    )


def _model_calls(tree: TraceTree, bottom_up: list[Step]) -> None:
    llm_below: dict[str, bool] = {}
    for step in bottom_up:
        kid_ids = tree.children.get(step.span_id)
        if not kid_ids:
            llm_below[step.span_id] = False
            continue
        kids = [tree.by_id[c] for c in kid_ids]
        below = any(llm_below[c.span_id] or c.step_type is StepType.LLM for c in kids)
        llm_below[step.span_id] = below
        if step.step_type is StepType.LLM and below:
            _set(step, "step_type", StepType.OTHER)
        # A preparation step tagged LLM beside the call that did make the request is not a call.
        calls = [c for c in kids if c.step_type is StepType.LLM]
        if len(calls) > 1 and not all(_made_no_request(c) for c in calls):
            for call in calls:
                if _made_no_request(call):
                    _set(call, "step_type", StepType.OTHER)


def _usage(tree: TraceTree, bottom_up: list[Step]) -> None:
    call_below: dict[str, bool] = {}
    for step in bottom_up:
        below = False
        for c in tree.children.get(step.span_id, ()):
            child = tree.by_id[c]
            below = below or call_below[c] or (is_model_call(child) and has_usage(child))
        call_below[step.span_id] = below
        if below and has_usage(step):
            for name in _USAGE_FIELDS:
                _set(step, name, None)


def _tool_duplicates(tree: TraceTree) -> None:
    """Two instrumentations of one tool run (OpenInference's span around the framework's own): the inner one stays."""
    for step in tree.by_id.values():
        if step.step_type not in _TOOLISH:
            continue
        parent = tree.parent_of(step)
        if parent is not None and parent.step_type in _TOOLISH and _same_tool(parent.tool_name, step.tool_name):
            _set(parent, "step_type", StepType.OTHER)


def _same_tool(outer: str, inner: str) -> bool:
    return bool(inner) and (outer == inner or outer.endswith("." + inner))


def _agent_names(tree: TraceTree) -> dict[str, str]:
    """Name key -> the agent's name as its own spans spell it."""
    return {_name_key(s.agent): s.agent for s in tree.by_id.values() if s.step_type is StepType.AGENT and s.agent}


def _agents(tree: TraceTree, agents: dict[str, str], ordered: Sequence[Step]) -> None:
    """An agent's own span names it. Any other step belongs to the nearest agent span above it, whatever agent name
    the step carries itself (instrumentations put placeholders there: 'OpenAI Agent'); work under a hand-off step
    belongs to its target; else the step keeps its own name or takes the nearest one above it, unless the trace
    has agent spans and none of them has that name (a placeholder, again). A tool that still
    has none belongs to the agent whose model asked for it (LangGraph's shared `tools` node)."""
    owner: dict[str, str] = {}  # span id -> agent that work below it belongs to
    for sid, _ in tree.order:  # parents before children
        step = tree.by_id[sid]
        parent_id = tree.parent.get(sid)
        above = owner.get(parent_id, "") if parent_id is not None else ""
        if step.step_type is StepType.AGENT and step.agent:
            owner[sid] = step.agent
            continue
        if above or not step.agent:
            _set(step, "agent", above or step.agent)
        elif agents and _name_key(step.agent) not in agents:
            _set(step, "agent", "")  # a placeholder ('OpenAI Agent') where the trace's agent spans name the agents
        owner[sid] = step.agent
        if step.step_type is StepType.HANDOFF and step.handoff_target:
            owner[sid] = agents.get(_name_key(step.handoff_target), step.handoff_target)
    asked: list[Step] = []
    for step in ordered:
        if step.step_type is StepType.LLM and step.tool_calls:
            asked.append(step)
        elif step.step_type is StepType.TOOL and not step.agent:
            for call in reversed(asked):
                if call.agent and any(c.name == step.tool_name for c in call.tool_calls):
                    _set(step, "agent", call.agent)
                    break


_NAME_JUNK = re.compile(r"[^0-9a-z]+")


def _name_key(name: str) -> str:
    return _NAME_JUNK.sub("_", name.lower()).strip("_")


@dataclass
class _Evidence:
    step: Step
    # 0 a hand-off span, 1 the tool span running transfer_to_x, 2 the model asking for it, 3 the target agent's span
    # naming its caller (graph.node.parent_id), 4 graph nodes run one after the other, 5 an agent run nested in
    # another agent's (a delegation: agent-as-tool, a supervisor's worker)
    rank: int
    source: str
    target: str


_GRAPH_PARENT = "graph.node.parent_id"
_NOT_A_CALLER = ("", "start", "__start__")


def _evidence(step: Step, agents: dict[str, str]) -> list[_Evidence]:
    found: list[_Evidence] = []
    if step.step_type is StepType.HANDOFF:
        tool_target = handoff_target_of_tool(step.tool_name)
        target = step.handoff_target or tool_target
        if target:
            found.append(_Evidence(step, 1 if tool_target else 0, step.handoff_source or step.agent, target))
    elif step.step_type is StepType.LLM:
        for call in step.tool_calls:
            target = handoff_target_of_tool(call.name) or agents.get(_name_key(call.name), "")
            if target and _name_key(target) != _name_key(step.agent):
                found.append(_Evidence(step, 2, step.agent, target))
                break
    elif step.step_type is StepType.AGENT and step.agent:
        caller = step.attributes.get(_GRAPH_PARENT, "")
        if caller not in _NOT_A_CALLER and caller != step.agent:
            found.append(_Evidence(step, 3, caller, step.agent))
    for e in found:
        e.source = agents.get(_name_key(e.source), e.source)
        e.target = agents.get(_name_key(e.target), e.target)
    return found


def _in_sequence(tree: TraceTree) -> dict[str, _Evidence]:
    """Graph nodes run one after another under one parent: node B starting after node A ended is A -> B."""
    found: dict[str, _Evidence] = {}
    for kids in tree.children.values():
        previous: Step | None = None
        for kid in (tree.by_id[k] for k in kids):
            if kid.operation != GRAPH_NODE_OPERATION or not kid.agent:
                continue
            if previous is not None and previous.agent != kid.agent and kid.start_time_ns >= previous.end_time_ns:
                found[kid.span_id] = _Evidence(kid, 4, previous.agent, kid.agent)
            previous = kid
    return found


def _nested(tree: TraceTree) -> dict[str, _Evidence]:
    """An agent's run inside another agent's run: the outer agent delegated to the inner one."""
    found: dict[str, _Evidence] = {}
    for step in tree.by_id.values():
        if step.step_type is not StepType.AGENT or not step.agent:
            continue
        outer = next((a for a in tree.ancestors(step) if a.step_type is StepType.AGENT and a.agent), None)
        if outer is not None and outer.agent != step.agent:
            found[step.span_id] = _Evidence(step, 5, outer.agent, step.agent)
    return found


def _handoffs(tree: TraceTree, agents: dict[str, str], ordered: Sequence[Step]) -> None:
    sequence = _in_sequence(tree)
    nested = _nested(tree)
    groups: dict[tuple[str, str, int], list[_Evidence]] = {}
    turn: dict[str, int] = {}  # agent -> how many model calls it has started so far
    for step in ordered:
        if step.step_type is StepType.LLM:
            turn[step.agent] = turn.get(step.agent, 0) + 1
        evidence = _evidence(step, agents)
        evidence.extend(x[step.span_id] for x in (sequence, nested) if step.span_id in x)
        for found in evidence:
            key = (found.source, found.target, turn.get(found.source, 0))
            group = groups.setdefault(key, [])
            if any(e.rank == found.rank for e in group):  # two of one kind are two hand-offs (a loop), never one
                key = (found.source, found.target, -len(groups))
                group = groups.setdefault(key, [])
            group.append(found)
    keepers: dict[str, _Evidence] = {}
    for group in groups.values():
        keeper = min(group, key=lambda e: (e.rank, e.step.start_time_ns))
        keepers[keeper.step.span_id] = keeper
    for step in tree.by_id.values():
        kept = keepers.get(step.span_id)
        _set(step, "handoff_source", kept.source if kept else "")
        _set(step, "handoff_target", kept.target if kept else "")


def handoffs(steps: Sequence[Step]) -> list[Step]:
    """The hand-off steps of an attributed trace, one per hand-off, in start order."""
    return sorted((s for s in steps if s.handoff_target), key=lambda s: (s.start_time_ns, s.span_id))
