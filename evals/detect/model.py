"""What the detectors produce and read: the kinds and severities of a `Finding` (the store's record: one row of the
`findings` table and one item of `GET /api/findings`), the detectors' thresholds, and the deterministic finding id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from tracehouse.store.findings import Finding

__all__ = ["DetectConfig", "Finding", "Kind", "Severity", "finding_id"]


class Kind(StrEnum):
    LOOP = "loop"
    DUPLICATE_WORK = "duplicate_work"
    RETRY_STORM = "retry_storm"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def finding_id(kind: Kind | str, trace_id: str, *anchor: str) -> str:
    """A stable id: the same kind, trace and anchor (what identifies the pattern, not when it was seen) give the
    same id, whatever the detection run."""
    text = "\x1f".join((str(kind), trace_id, *anchor))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class DetectConfig:
    """Detector thresholds; the defaults keep the demo's clean workflows silent and flag every planted fault.

    Loops: an explicit hand-off edge taken `handoff_edge_repeats` times inside a cycle; the same (agent, action,
    input hash) succeeding `repeat_action_threshold` times with no new output; agent nesting deeper than
    `max_agent_depth`. Retry storms: at least `storm_min_retries` retries and amplification at or above
    `storm_min_amplification`, or any cascade (a retried call inside a retried call) with at least
    `cascade_min_retries` retries, or one call attempted `storm_max_attempts_per_call` times or more.
    """

    handoff_edge_repeats: int = 2
    repeat_action_threshold: int = 3
    max_agent_depth: int = 12
    storm_min_retries: int = 3
    storm_min_amplification: float = 1.5
    storm_max_attempts_per_call: int = 4
    cascade_min_retries: int = 2
    high_cost_usd: float = 1.0
    # window-level retry rate against its baseline
    rate_window_s: int = 300
    rate_baseline_s: int = 3600
    rate_min_calls: int = 20
    rate_min: float = 0.2
    rate_factor: float = 3.0
