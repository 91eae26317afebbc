"""What the writer remembers of recent traces, so rules that need a step's ancestors work across batches.

Exporters send children before parents (a child span ends first), so an LLM call often reaches the collector before
the agent span it belongs to. The writer stores such a step at once, keeps it here as an orphan, and when the
ancestor with the agent arrives writes a corrected row (a higher `version` replaces the first in ReplacingMergeTree).
Bounded: the oldest traces are forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from tracehouse.collector.model import Step, StepType
from tracehouse.collector.normalise import resolve_agents

_CALL_TYPES = (StepType.LLM, StepType.EMBEDDING)


@dataclass
class _TraceFacts:
    spans: dict[str, tuple[str, str]] = field(default_factory=dict)  # span_id -> (parent_span_id, agent)
    orphans: dict[str, Step] = field(default_factory=dict)  # stored without an agent, ancestor not seen yet
    usage_parents: set[str] = field(default_factory=set)  # parents of model calls that carried usage


def _has_usage(step: Step) -> bool:
    return step.input_tokens is not None or step.output_tokens is not None or step.cost_usd is not None


class Lineage:
    def __init__(self, max_spans: int = 200_000) -> None:
        self._traces: OrderedDict[tuple[str, str], _TraceFacts] = OrderedDict()
        self._max_spans = max_spans
        self._size = 0

    def process(self, steps: list[Step]) -> list[Step]:
        """Resolve `steps` against earlier batches (in place) and return corrected copies of earlier steps."""
        groups: dict[tuple[str, str], list[Step]] = {}
        for step in steps:
            groups.setdefault((step.project_id, step.trace_id), []).append(step)
        corrections: list[Step] = []
        for key, group in groups.items():
            facts = self._traces.get(key)
            if facts is None:
                facts = self._traces[key] = _TraceFacts()
            else:
                self._traces.move_to_end(key)
            self._strip_wrapper_usage(group, facts)
            resolve_agents(group, facts.spans)
            if facts.orphans:
                corrections.extend(self._resolve_orphans(group, facts))
            for step in group:
                if step.span_id not in facts.spans:
                    self._size += 1
                facts.spans[step.span_id] = (step.parent_span_id, step.agent)
                if not step.agent and step.parent_span_id:
                    facts.orphans[step.span_id] = step
                if step.step_type in _CALL_TYPES and _has_usage(step) and step.parent_span_id:
                    facts.usage_parents.add(step.parent_span_id)
        self._evict()
        return corrections

    @staticmethod
    def _strip_wrapper_usage(group: list[Step], facts: _TraceFacts) -> None:
        """A wrapper model call whose inner call (seen in an earlier batch) carried the usage keeps none."""
        for step in group:
            if step.span_id in facts.usage_parents and step.step_type in _CALL_TYPES and _has_usage(step):
                step.input_tokens = step.output_tokens = step.cost_usd = None
                step.cache_read_tokens = step.cache_write_tokens = step.reasoning_tokens = None

    @staticmethod
    def _resolve_orphans(group: list[Step], facts: _TraceFacts) -> list[Step]:
        known = dict(facts.spans)
        known.update((s.span_id, (s.parent_span_id, s.agent)) for s in group)
        changed = resolve_agents(list(facts.orphans.values()), known)
        for step in changed:
            facts.orphans.pop(step.span_id, None)
            facts.spans[step.span_id] = (step.parent_span_id, step.agent)
        return changed

    def _evict(self) -> None:
        while self._size > self._max_spans and self._traces:
            _, facts = self._traces.popitem(last=False)
            self._size -= len(facts.spans)
