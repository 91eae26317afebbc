"""A read-only view of one trace's steps for the detectors: parent/child links, ancestry, and usage summed over
subtrees without counting any step twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tracehouse.domain.model import Step
from tracehouse.domain.tree import TraceTree
from tracehouse.sdk import semconv

_TRUE = frozenset({"true", "1", "yes"})


def is_dedup_hit(step: Step) -> bool:
    return step.attributes.get(semconv.DEDUP_HIT, "").strip().lower() in _TRUE


def action_of(step: Step) -> str:
    """What the step did, for grouping: the tool for a tool call, else the operation and model."""
    if step.tool_name:
        return f"{step.operation or step.step_type}:{step.tool_name}"
    return f"{step.operation or step.step_type}:{step.request_model}"


class TraceView:
    """The detectors' reading of one trace: the domain's tree (`tracehouse.domain.tree`, cycle-safe) with the steps
    in start order and the few walks the detectors need."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.tree = TraceTree(steps)
        self.steps = list(self.tree.in_start_order())
        self.trace_id = self.steps[0].trace_id if self.steps else ""
        self.by_id = self.tree.by_id

    def parent(self, step: Step) -> Step | None:
        return self.tree.parent_of(step)

    def ancestors(self, step: Step) -> list[Step]:
        """Nearest first."""
        return list(self.tree.ancestors(step))

    def subtree(self, root: Step) -> list[Step]:
        return self.tree.subtree(root)

    def union_of_subtrees(self, roots: Iterable[Step]) -> dict[str, Step]:
        out: dict[str, Step] = {}
        for root in roots:
            if root.span_id not in out:
                out.update((s.span_id, s) for s in self.subtree(root))
        return out

    def branch_root(self, step: Step, below: Step | None) -> Step:
        """The child of `below` (an ancestor of `step`) on the path to `step`; `step` itself when directly under."""
        path = [step, *self.ancestors(step)]
        for i, s in enumerate(path):
            if (below is None and i == len(path) - 1) or (below is not None and s.parent_span_id == below.span_id):
                return s
        return path[-1]

    def lowest_common_ancestor(self, a: Step, b: Step) -> Step | None:
        mine = {s.span_id for s in self.ancestors(a)}
        for s in self.ancestors(b):
            if s.span_id in mine:
                return s
        return None


def usage(steps: Iterable[Step]) -> tuple[int, float]:
    """Tokens and cost of the steps (usage sits on the innermost LLM step only, so a sum never double-counts);
    a dedup hit reused an earlier result and costs nothing."""
    tokens, cost = 0, 0.0
    for s in steps:
        if is_dedup_hit(s):
            continue
        tokens += (s.input_tokens or 0) + (s.output_tokens or 0)
        cost += s.cost_usd or 0.0
    return tokens, cost


def overlaps(a: Step, b: Step) -> bool:
    return a.start_time_ns < b.end_time_ns and b.start_time_ns < a.end_time_ns
