"""Pure analysis of one trace's steps: the step tree, self time, latency attribution (model vs tool vs orchestration
overhead) with the critical path, the agent graph (hand-offs and calls with counts), cost by agent and by model, and
the answer to "why did this step run" (its parent, the hand-off or router decision that led to it).

Nothing here touches the store or HTTP: steps in, plain dataclasses out, so every rule has a unit test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tracehouse.domain.model import Step, StepType
from tracehouse.domain.outcome import failed
from tracehouse.domain.tree import TraceTree

Category = Literal["model", "tool", "orchestration"]
CATEGORIES: tuple[Category, ...] = ("model", "tool", "orchestration")
ENTRY = "__entry__"  # the agent graph's node for "whatever started the trace" (workflow / root span)

HANDOFF_REASON_KEYS = ("tracehouse.handoff.reason",)
HANDOFF_PAYLOAD_KEYS = ("tracehouse.handoff.payload",)
ROUTER_KEYS = ("tracehouse.router.decision", "tracehouse.router.reason")


def category(step: Step) -> Category:
    """Which kind of time a step's own (self) time is: model inference, tool work, or orchestration overhead."""
    if step.step_type in (StepType.LLM, StepType.EMBEDDING):
        return "model"
    if step.step_type in (StepType.TOOL, StepType.RETRIEVAL):
        return "tool"
    return "orchestration"


Tree = TraceTree


def build_tree(steps: Sequence[Step]) -> TraceTree:
    """The step tree (`tracehouse.domain.tree`: orphans become roots, parent cycles are broken)."""
    return TraceTree(steps)


def _union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    total, cur_start, cur_end = 0, None, None
    for start, end in sorted(intervals):
        if cur_end is None or start > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def self_times(tree: Tree) -> dict[str, int]:
    """Per step, nanoseconds of its own span not covered by any child (children clipped to the parent)."""
    out: dict[str, int] = {}
    for sid, s in tree.by_id.items():
        lo, hi = s.start_time_ns, max(s.end_time_ns, s.start_time_ns)
        covered = _union_ns(
            (max(c.start_time_ns, lo), min(c.end_time_ns, hi))
            for c in (tree.by_id[k] for k in tree.children.get(sid, []))
            if min(c.end_time_ns, hi) > max(c.start_time_ns, lo)
        )
        out[sid] = (hi - lo) - covered
    return out


@dataclass
class Segment:
    """A stretch of the critical path spent in one step's own time."""

    span_id: str
    start_ns: int
    end_ns: int
    category: Category

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass
class Attribution:
    """Where a trace's time went.

    `critical` splits the wall-clock time (first start to last end) along the critical path, so it sums to
    `wall_ns`; `work` sums every step's self time by category (parallel work counts once per branch, so it can exceed
    the wall clock). `gap_ns` is wall time no step covers (between separate root steps)."""

    wall_ns: int
    critical: dict[str, int]
    work: dict[str, int]
    gap_ns: int
    path: list[Segment]
    path_span_ids: list[str]  # steps on the critical path, in time order, each once


def critical_path(tree: Tree) -> list[Segment]:
    """The chain of steps that decided the trace's end time (Jaeger's rule): from a step's end, walk back through the
    child that finished last before the cursor, recursing into it; what no child covers is the step's own time."""
    segments: list[Segment] = []
    # Roots in sequence behave like children of a virtual root covering the whole trace.
    roots = [tree.by_id[r] for r in tree.roots]
    if not roots:
        return segments
    # Explicit stack instead of recursion: a trace may be thousands of steps deep.
    work: list[tuple[str | None, int]] = [(None, max(r.end_time_ns for r in roots))]
    while work:
        sid, cursor = work.pop()
        if sid is None:
            kids, lo, cat = list(tree.roots), min(r.start_time_ns for r in roots), None
        else:
            s = tree.by_id[sid]
            kids, lo, cat = tree.children.get(sid, []), s.start_time_ns, category(s)
            cursor = min(cursor, s.end_time_ns)
        pending: list[tuple[str | None, int]] = []
        local: list[Segment] = []
        for kid in sorted(kids, key=lambda k: tree.by_id[k].end_time_ns, reverse=True):
            child = tree.by_id[kid]
            if child.start_time_ns >= cursor or child.end_time_ns <= lo:
                continue
            child_end = min(child.end_time_ns, cursor)
            if child_end < cursor and sid is not None and cat is not None:
                local.append(Segment(sid, child_end, cursor, cat))
            pending.append((kid, child_end))
            cursor = max(child.start_time_ns, lo)
            if cursor <= lo:
                break
        if cursor > lo and sid is not None and cat is not None:
            local.append(Segment(sid, lo, cursor, cat))
        segments.extend(local)
        work.extend(pending)
    segments.sort(key=lambda g: (g.start_ns, g.end_ns))
    return segments


def latency_attribution(tree: Tree) -> Attribution:
    """Model vs tool vs orchestration time of a trace, on the critical path and summed over all work."""
    if not tree.by_id:
        return Attribution(0, dict.fromkeys(CATEGORIES, 0), dict.fromkeys(CATEGORIES, 0), 0, [], [])
    steps = tree.by_id.values()
    wall = max(s.end_time_ns for s in steps) - min(s.start_time_ns for s in steps)
    path = critical_path(tree)
    critical: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    for seg in path:
        critical[seg.category] += seg.duration_ns
    work: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    for sid, ns in self_times(tree).items():
        work[category(tree.by_id[sid])] += ns
    gap = max(wall - sum(critical.values()), 0)
    seen: set[str] = set()
    on_path = []
    for seg in path:
        if seg.span_id not in seen:
            seen.add(seg.span_id)
            on_path.append(seg.span_id)
    # A step whose whole time is covered by a child on the path is on the path too (its ancestors).
    for sid in list(on_path):
        pid = tree.parent.get(sid)
        while pid is not None and pid not in seen:
            seen.add(pid)
            on_path.append(pid)
            pid = tree.parent.get(pid)
    on_path.sort(key=lambda k: (tree.by_id[k].start_time_ns, k))
    return Attribution(wall_ns=wall, critical=critical, work=work, gap_ns=gap, path=path, path_span_ids=on_path)


@dataclass
class AgentNode:
    id: str
    label: str
    steps: int = 0
    llm_calls: int = 0
    errors: int = 0
    cost_usd: float = 0.0
    entry: bool = False


@dataclass
class AgentEdge:
    source: str
    target: str
    kind: Literal["handoff", "call"]
    count: int = 0
    span_ids: list[str] = field(default_factory=list)  # the steps that made this edge (first few)
    reasons: list[str] = field(default_factory=list)  # distinct hand-off reasons seen (first few)


@dataclass
class AgentGraph:
    nodes: list[AgentNode]
    edges: list[AgentEdge]


def _first_attr(step: Step, keys: Sequence[str]) -> str:
    for k in keys:
        if step.attributes.get(k):
            return step.attributes[k]
    return ""


def is_handoff(step: Step) -> bool:
    """A step that carries a hand-off (each hand-off is carried by one step: `tracehouse.domain.attribution`)."""
    return bool(step.handoff_target)


def agent_graph(tree: Tree) -> AgentGraph:
    """Agents as nodes; an edge A -> B for each hand-off step from A to B, and for each time B's work starts under a
    step of A without a hand-off in between (a call). Steps with no agent above them hang off the entry node."""
    nodes: dict[str, AgentNode] = {}
    edges: dict[tuple[str, str, str], AgentEdge] = {}

    def edge(src: str, dst: str, kind: Literal["handoff", "call"], sid: str, reason: str = "") -> None:
        e = edges.setdefault((src, dst, kind), AgentEdge(src, dst, kind))
        e.count += 1
        if len(e.span_ids) < 20:
            e.span_ids.append(sid)
        if reason and reason not in e.reasons and len(e.reasons) < 5:
            e.reasons.append(reason)

    handed: set[tuple[str | None, str]] = set()  # (parent of a hand-off step, its target): the sequential form
    reached = _runs_reached_by_handoff(tree)
    root_label = ""
    if tree.roots:
        r = tree.by_id[tree.roots[0]]
        root_label = r.workflow or r.name
    for sid, _depth in tree.order:
        s = tree.by_id[sid]
        if s.agent:
            n = nodes.setdefault(s.agent, AgentNode(id=s.agent, label=s.agent))
            n.steps += 1
            n.llm_calls += s.step_type == StepType.LLM
            n.errors += failed(s)
            n.cost_usd += s.cost_usd or 0.0
        if is_handoff(s) and s.handoff_target:
            source = s.handoff_source or s.agent or ENTRY
            edge(source, s.handoff_target, "handoff", sid, _first_attr(s, HANDOFF_REASON_KEYS))
            nodes.setdefault(s.handoff_target, AgentNode(id=s.handoff_target, label=s.handoff_target))
            handed.add((tree.parent.get(sid), s.handoff_target))
            continue
        if not s.agent:
            continue
        # Walk up to the nearest step of another agent; note whether a hand-off to this agent sits in between.
        pid = tree.parent.get(sid)
        if pid is not None and tree.by_id[pid].agent == s.agent:
            continue  # not the first step of this agent's run
        via_handoff = (pid, s.agent) in handed or sid in reached
        caller = ENTRY
        while pid is not None:
            p = tree.by_id[pid]
            if is_handoff(p) and p.handoff_target == s.agent:
                via_handoff = True
            if p.agent and p.agent != s.agent and not (is_handoff(p) and p.handoff_target == s.agent):
                caller = p.agent
                break
            pid = tree.parent.get(pid)
        if not via_handoff:
            edge(caller, s.agent, "call", sid)
    if any(e.source == ENTRY for e in edges.values()):
        nodes[ENTRY] = AgentNode(id=ENTRY, label=root_label or "start", entry=True)
    ordered = sorted(nodes.values(), key=lambda n: (not n.entry, -n.steps, n.id))
    return AgentGraph(nodes=ordered, edges=sorted(edges.values(), key=lambda e: (-e.count, e.source, e.target)))


def _runs_reached_by_handoff(tree: Tree) -> set[str]:
    """The agent runs (an agent's first step under another agent's or none) that a hand-off to that agent, earlier
    in time, led to: each hand-off leads to the next run of its target, wherever in the tree that run sits."""
    pending: dict[str, int] = defaultdict(int)
    reached: set[str] = set()
    for s in tree.in_start_order():
        if is_handoff(s):
            pending[s.handoff_target] += 1
            continue
        parent = tree.parent_of(s)
        if s.agent and pending[s.agent] > 0 and (parent is None or parent.agent != s.agent):
            pending[s.agent] -= 1
            reached.add(s.span_id)
    return reached


@dataclass
class CostRow:
    key: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0


def cost_by(steps: Iterable[Step], key: Literal["agent", "model"]) -> list[CostRow]:
    """Model-call cost, tokens and calls per agent or per request model; unpriced model calls counted apart."""
    rows: dict[str, CostRow] = {}
    for s in steps:
        if s.step_type not in (StepType.LLM, StepType.EMBEDDING):
            continue
        k = (s.agent if key == "agent" else s.request_model or s.response_model) or "(none)"
        row = rows.setdefault(k, CostRow(k))
        row.calls += 1
        row.input_tokens += s.input_tokens or 0
        row.output_tokens += s.output_tokens or 0
        if s.cost_usd is None:
            row.unpriced += 1
        else:
            row.cost_usd += s.cost_usd
    return sorted(rows.values(), key=lambda r: (-r.cost_usd, -r.calls, r.key))


@dataclass
class Why:
    """Why a step ran: its parent, the previous step under the same parent, the hand-off that led to its agent and
    the router decision above it (each None / "" when the trace does not say)."""

    parent: Step | None
    previous: Step | None
    handoff: Step | None
    handoff_reason: str
    handoff_payload: str
    router_step: Step | None
    router_decision: str


def why(tree: Tree, span_id: str) -> Why:
    s = tree.by_id[span_id]
    pid = tree.parent.get(span_id)
    parent = tree.by_id[pid] if pid else None
    previous = None
    if pid is not None:
        sibs = tree.children.get(pid, [])
        i = sibs.index(span_id)
        previous = tree.by_id[sibs[i - 1]] if i > 0 else None
    handoff: Step | None = s if is_handoff(s) else None
    router: Step | None = None
    cur = pid
    # The hand-off to this step's agent is an ancestor (nested form) or an earlier sibling (sequential form).
    if handoff is None and previous is not None and is_handoff(previous) and previous.handoff_target == s.agent:
        handoff = previous
    while cur is not None and (handoff is None or router is None):
        p = tree.by_id[cur]
        if handoff is None and is_handoff(p) and (not s.agent or p.handoff_target == s.agent):
            handoff = p
        if router is None and _first_attr(p, ROUTER_KEYS):
            router = p
        cur = tree.parent.get(cur)
    if router is None and _first_attr(s, ROUTER_KEYS):
        router = s
    return Why(
        parent=parent,
        previous=previous,
        handoff=handoff,
        handoff_reason=_first_attr(handoff, HANDOFF_REASON_KEYS) if handoff else "",
        handoff_payload=_first_attr(handoff, HANDOFF_PAYLOAD_KEYS) if handoff else "",
        router_step=router,
        router_decision=" — ".join(v for v in (router.attributes.get(k, "") for k in ROUTER_KEYS) if v)
        if router
        else "",
    )


def expanded_rows(tree: Tree, *, budget: int | None, focus: Iterable[str] = ()) -> set[str]:
    """Span ids whose children start shown: all when `budget` is None; else whole tree levels, top down, while the
    rows shown stay within `budget` (so a 5,000-step trace opens on a few hundred rows), plus every ancestor of a
    focused step (so a deep link or a finding opens onto its step)."""
    if budget is None:
        return set(tree.by_id)
    levels: dict[int, list[str]] = defaultdict(list)
    for sid, depth in tree.order:
        levels[depth].append(sid)
    expanded: set[str] = set()
    shown = len(tree.roots)
    for depth in sorted(levels):
        added = sum(len(tree.children.get(sid, [])) for sid in levels[depth])
        if added == 0 or shown + added > budget:
            break
        expanded.update(levels[depth])
        shown += added
    for sid in focus:
        cur = tree.parent.get(sid)
        while cur is not None:
            expanded.add(cur)
            cur = tree.parent.get(cur)
    return expanded


def descendants_count(tree: Tree) -> dict[str, int]:
    """Per step, the number of steps below it."""
    counts: dict[str, int] = dict.fromkeys(tree.by_id, 0)
    for sid, _depth in reversed(tree.order):
        pid = tree.parent.get(sid)
        if pid is not None:
            counts[pid] += counts[sid] + 1
    return counts
