"""What counts as a failed step, for every count, rate, detector and scorer."""

from __future__ import annotations

from tracehouse.domain.model import Status, Step

# The same rule as SQL over `steps`, for the queries that count failures in the store.
FAILED_SQL = "(status = 'error' OR error_type != '')"


def failed(step: Step) -> bool:
    """A step failed when its status says so or it names an error type (semconv §3 rule 5)."""
    return step.status is Status.ERROR or bool(step.error_type)
