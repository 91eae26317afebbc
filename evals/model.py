"""What scorers see and return: a `TraceData` (summary, steps, detector findings) in, a `ScoreResult` out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tracehouse.domain.model import Step, StepType
from tracehouse.sdk import semconv as sc
from tracehouse.store.scores import EvalRun, Score
from tracehouse.store.traces import TraceSummary

__all__ = ["EvalRun", "Score", "ScoreResult", "TraceData"]

AGENT_VERSION_ATTR = sc.GEN_AI_AGENT_VERSION
SKIPPED = "skipped"  # the label of a score with nothing to judge


@dataclass
class ScoreResult:
    """One scorer's verdict. `value` in [0, 1] by convention (1 is best); `passed` None means "decide by threshold".

    An error (the scorer could not judge: a judge that answered garbage, a bad pattern) has `error` set, no value,
    and counts as not passed. A skip (nothing to judge here: the output was not captured) has `skipped` set, no value
    and no verdict: it is reported apart from pass and fail, and counts as neither.
    """

    value: float | None = None
    passed: bool | None = None
    label: str = ""
    comment: str = ""
    span_id: str = ""  # the step scored; "" for the trace as a whole
    agent: str = ""  # who the score is attributed to ("" lets the runner pick the scored step's or root's agent)
    error: str = ""
    skipped: str = ""  # why there was nothing to score
    usage: dict[str, float] = field(default_factory=dict)  # a judge's own tokens / cost

    @classmethod
    def failure(cls, reason: str) -> ScoreResult:
        return cls(value=None, passed=False, label="error", comment=reason, error=reason)

    @classmethod
    def skip(cls, reason: str) -> ScoreResult:
        return cls(value=None, passed=None, label=SKIPPED, comment=reason, skipped=reason)


@dataclass
class TraceData:
    """One trace as scorers read it. `expected` is the dataset's expected answer when the suite has one."""

    summary: TraceSummary
    steps: list[Step]
    findings: list[dict[str, Any]] = field(default_factory=list)
    expected: Any = None
    case: dict[str, Any] | None = None  # the dataset row matched to this trace, if any

    @property
    def trace_id(self) -> str:
        return self.summary.trace_id

    @property
    def root(self) -> Step | None:
        """The root step (no parent), or the earliest step when the root never arrived."""
        roots = [s for s in self.steps if not s.parent_span_id]
        pool = roots or self.steps
        return min(pool, key=lambda s: s.start_time_ns) if pool else None

    def root_agent(self) -> str:
        """The first agent that acted in the trace (the one a trace-level score is attributed to).

        An `invoke_agent` step wins over other steps: a workflow span names itself as its agent.
        """
        ordered = sorted(self.steps, key=lambda s: s.start_time_ns)
        for step in ordered:
            if step.agent and step.step_type == StepType.AGENT:
                return step.agent
        return next((s.agent for s in ordered if s.agent), "")

    def agent_version(self, agent: str) -> str:
        """The `gen_ai.agent.version` an agent's steps carry in this trace ("" when none)."""
        for step in self.steps:
            if step.agent == agent and step.attributes.get(AGENT_VERSION_ATTR):
                return step.attributes[AGENT_VERSION_ATTR]
        return ""


_OUTPUT_KEYS = (
    sc.OUTPUT_PREVIEW,
    sc.GEN_AI_TOOL_CALL_RESULT,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.OI_OUTPUT_VALUE,
    sc.TL_ENTITY_OUTPUT,
)
_INPUT_KEYS = (
    sc.INPUT_PREVIEW,
    sc.GEN_AI_TOOL_CALL_ARGUMENTS,
    sc.GEN_AI_INPUT_MESSAGES,
    sc.OI_INPUT_VALUE,
    sc.TL_ENTITY_INPUT,
)


def _first(step: Step, preview: str, keys: tuple[str, ...]) -> str | None:
    """The preview column, else the first of the attributes that is set."""
    return preview or next((step.attributes[k] for k in keys if step.attributes.get(k)), None)


def step_output(step: Step, attribute: str | None = None) -> str | None:
    """The text a step produced: a named attribute, else the output preview, else the GenAI output attributes."""
    if attribute:
        return step.attributes.get(attribute)
    return _first(step, step.output_preview, _OUTPUT_KEYS)


def step_input(step: Step) -> str | None:
    """The text a step was given (input preview or the GenAI input attributes)."""
    return _first(step, step.input_preview, _INPUT_KEYS)


def plain_text(raw: str) -> str:
    """The text inside a JSON-encoded string or GenAI message list (`[{"role":..,"parts":[{"content":..}]}]`)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(data, str):
        return data
    if isinstance(data, list) and data and all(isinstance(m, dict) for m in data):
        texts: list[str] = []
        for message in data:
            if isinstance(message.get("content"), str):
                texts.append(message["content"])
            for part in message.get("parts") or []:
                if isinstance(part, dict) and isinstance(part.get("content"), str):
                    texts.append(part["content"])
        if texts:
            return "\n".join(texts)
    return raw
