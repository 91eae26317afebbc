"""The rates every page, alert rule and detector reports, each defined once: what is counted, over which steps.

A *call* is a step that does the paid or external work: a model, tool, retrieval or embedding call. Agent, workflow
and hand-off steps only wrap calls, so they are not counted: a failed tool call makes its agent step fail too, and
counting both would count one failure twice. Every attempt of a retried call is a call of its own.

Each rate comes as a pure function over steps (the detectors and scorers), as SQL (the store's counts, as
`outcome.FAILED_SQL` is), and with the one sentence the dashboard shows as its tooltip. The Agents page, an
`error_rate` alert rule filtered to the same agent, and the detectors therefore read the same number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tracehouse.domain.model import Step, StepType
from tracehouse.domain.outcome import FAILED_SQL, failed

CALL_TYPES = frozenset({StepType.LLM, StepType.TOOL, StepType.RETRIEVAL, StepType.EMBEDDING})
# The same set as SQL over `steps`.
CALL_SQL = "step_type IN ('llm', 'tool', 'retrieval', 'embedding')"
# A retry: the second or later attempt of a call (`tracehouse.retry.attempt` > 1).
RETRY_SQL = "retry_attempt > 1"


def is_call(step: Step) -> bool:
    """A model, tool, retrieval or embedding call (the steps every rate is over)."""
    return step.step_type in CALL_TYPES


def is_retry(step: Step) -> bool:
    """The second or later attempt of a call."""
    return step.retry_attempt > 1


def ratio(part: int, whole: int) -> float:
    """part ÷ whole, 0.0 when there is nothing to divide (no calls is no errors, not an unknown)."""
    return part / whole if whole else 0.0


class Verdict(Protocol):
    """A score as the pass rate reads it (`tracehouse.store.scores.Score`)."""

    @property
    def passed(self) -> bool | None: ...


T = TypeVar("T")


@dataclass(frozen=True)
class Rate(Generic[T]):
    """A rate: of the rows it is `over`, the fraction that are `counted`.

    `counted_sql` and `over_sql` are conditions over one row (of `steps`, or of `scores` for the pass rate);
    `counted`/`over` say the same in Python.
    """

    name: str
    label: str
    definition: str  # what the dashboard shows on hover, and the docs say
    counted_sql: str
    counted: Callable[[T], bool]
    over_sql: str
    over: Callable[[T], bool]

    def numerator_sql(self) -> str:
        """The count of counted calls, as an aggregate over any rows (the rows need not be calls only)."""
        return f"countIf(({self.counted_sql}) AND {self.over_sql})"

    def denominator_sql(self) -> str:
        return f"countIf({self.over_sql})"

    def value_sql(self) -> str:
        """The rate over rows already restricted to what it is over (`WHERE over_sql`)."""
        return f"countIf({self.counted_sql}) / count()"

    def of(self, rows: Iterable[T]) -> float:
        """The rate over a set of rows (pure: what the SQL computes, for the detectors, scorers and eval runs)."""
        over = [r for r in rows if self.over(r)]
        return ratio(sum(1 for r in over if self.counted(r)), len(over))


ERROR_RATE = Rate[Step](
    name="error_rate",
    label="Error rate",
    definition="Failed calls ÷ calls. A call is a model, tool, retrieval or embedding step, each attempt counted; "
    "a failed call has status error or an error type. Agent and workflow steps are not counted.",
    counted_sql=FAILED_SQL,
    counted=failed,
    over_sql=CALL_SQL,
    over=is_call,
)
RETRY_RATE = Rate[Step](
    name="retry_rate",
    label="Retry rate",
    definition="Retries ÷ calls. A retry is the second or later attempt of a call (tracehouse.retry.attempt > 1); "
    "a call is a model, tool, retrieval or embedding step, each attempt counted.",
    counted_sql=RETRY_SQL,
    counted=is_retry,
    over_sql=CALL_SQL,
    over=is_call,
)
# Calls made ÷ calls meant: every attempt over the first attempts (1.0 = no retries).
RETRY_AMPLIFICATION_SQL = "count() / greatest(count() - countIf(" + RETRY_SQL + "), 1)"
RETRY_AMPLIFICATION_DEFINITION = (
    "Calls ÷ first attempts: how many calls were made for each one meant (1.0 = no retries)."
)

PASS_RATE = Rate[Verdict](
    name="pass_rate",
    label="Pass rate",
    definition="Passed scores ÷ scores that decided pass or fail. A score its scorer could not judge (error) counts "
    "as failed; a skipped one (nothing to score, e.g. content not captured) is not counted.",
    counted_sql="passed = 1",
    counted=lambda v: v.passed is True,
    over_sql="passed IS NOT NULL",
    over=lambda v: v.passed is not None,
)

RATES: dict[str, Rate[Step]] = {r.name: r for r in (ERROR_RATE, RETRY_RATE)}
# What each rate-like alert metric means, by metric name (the dashboard's tooltips).
DEFINITIONS: dict[str, str] = {
    **{r.name: r.definition for r in RATES.values()},
    "retry_amplification": RETRY_AMPLIFICATION_DEFINITION,
    "eval_pass_rate": PASS_RATE.definition,
    "pass_rate": PASS_RATE.definition,
}
