"""The alert state machine on its own (pure: no store, no clock): a rule and an evaluation in, a transition and
what to notify out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracehouse.evals.alerting.rules import Rule
from tracehouse.evals.alerting.states import FIRING, INACTIVE, PENDING, RESOLVED, Instance, advance, judge
from tracehouse.store.alerts import MetricRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULE = Rule.model_validate(
    {"name": "r", "metric": "error_rate", "threshold": 0.1, "for": "1m", "repeat_interval": "1h"}
)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_pending_then_firing_once_then_repeat_then_resolved_with_news_only_to_those_who_heard() -> None:
    inst = Instance("p", "r", "", {})
    steps = [(0, True), (30, True), (60, True), (120, True), (3700, True), (3800, False), (3900, False)]
    seen = []
    for t, active in steps:
        transition, notify = advance(RULE, inst, 0.5 if active else None, active, _at(t), silenced=False)
        seen.append((inst.state, notify, transition is not None))
    assert seen == [
        (PENDING, None, True),
        (PENDING, None, False),
        (FIRING, "firing", True),
        (FIRING, None, False),
        (FIRING, "repeat", True),
        (RESOLVED, "resolved", True),
        (RESOLVED, None, False),
    ]


def test_a_silenced_firing_is_neither_announced_nor_its_end() -> None:
    inst = Instance("p", "r", "", {}, state=PENDING, since=_at(0))
    assert advance(RULE, inst, 1.0, True, _at(60), silenced=True)[1] is None and inst.state == FIRING
    assert advance(RULE, inst, None, False, _at(90), silenced=True)[1] is None and inst.state == RESOLVED


def test_a_pending_that_stops_holding_goes_back_to_inactive() -> None:
    inst = Instance("p", "r", "", {})
    advance(RULE, inst, 0.5, True, _at(0), silenced=False)
    transition, notify = advance(RULE, inst, 0.0, False, _at(10), silenced=False)
    assert inst.state == INACTIVE and notify is None and transition is not None and transition.previous == PENDING


def test_judge_needs_samples_threshold_and_the_baseline_factor() -> None:
    spike = Rule.model_validate(
        {"name": "s", "metric": "cost_per_hour", "threshold": 1, "min_samples": 2, "baseline": {"factor": 3}}
    )
    rows = [
        MetricRow("p", "a", 4.0, 5),
        MetricRow("p", "b", 4.0, 5),
        MetricRow("p", "c", 4.0, 1),
        MetricRow("p", "d", 4, 5),
    ]
    base = [MetricRow("p", "a", 1.0, 5), MetricRow("p", "b", 2.0, 5), MetricRow("p", "c", 1.0, 5)]
    assert [(r.key, active) for r, active in judge(spike, rows, base)] == [
        ("a", True),  # 4 > 1 and 4 > 3 × 1
        ("b", False),  # 4 is not > 3 × 2
        ("c", False),  # too few samples
        ("d", False),  # no baseline value
    ]
