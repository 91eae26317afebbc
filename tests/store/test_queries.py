"""The store's query layer on the real embedded engine: filters, sorts, cursors, dedup and project scope."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.store import BadFilter, Store, TraceFilter, get_trace_summary, group_stats, insert_steps, list_traces
from tracehouse.store.traces import trace_days


def make_trace(project: str, i: int, agent: str, cost: float, error: bool = False) -> list[Step]:
    trace_id = uuid.uuid4().hex
    t0 = time.time_ns() - (100 - i) * 1_000_000_000
    root = Step(
        project,
        trace_id,
        uuid.uuid4().hex[:16],
        "",
        t0,
        t0 + 5_000_000,
        f"invoke_workflow run{i}",
        step_type=StepType.WORKFLOW,
        workflow=f"run{i}",
        service="svc",
    )
    call = Step(
        project,
        trace_id,
        uuid.uuid4().hex[:16],
        root.span_id,
        t0 + 1000,
        t0 + 4_000_000,
        "chat gpt-4o",
        step_type=StepType.LLM,
        agent=agent,
        request_model="gpt-4o",
        input_tokens=100,
        output_tokens=10,
        cost_usd=cost,
        status=Status.ERROR if error else Status.OK,
        service="svc",
    )
    return [root, call]


@pytest.fixture
def traces(store: Store, project_id: str) -> list[list[Step]]:
    made = [
        make_trace(project_id, i, "alpha" if i % 2 else "beta", cost=0.001 * (i % 7), error=i % 5 == 0)
        for i in range(12)
    ]
    for n, steps in enumerate(made):
        insert_steps(store, steps, version=1, dedup_token=f"{project_id}-{n}")
    insert_steps(store, made[3], version=2, dedup_token=f"{project_id}-again")  # a re-sent trace counts once
    return made


def all_pages(store: Store, project: str, flt: TraceFilter) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = list_traces(store, project, TraceFilter(**{**flt.__dict__, "cursor": cursor}))
        ids += [t.trace_id for t in page.traces]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_cursor_pages_cover_every_trace_once_in_order(store: Store, project_id: str, traces: list[list[Step]]) -> None:
    newest_first = all_pages(store, project_id, TraceFilter(limit=5))
    assert newest_first == [t[0].trace_id for t in reversed(traces)]
    by_cost = all_pages(store, project_id, TraceFilter(limit=4, sort="cost"))
    costs = {t[0].trace_id: t[1].cost_usd for t in traces}
    assert sorted(by_cost) == sorted(costs) and [costs[i] for i in by_cost] == sorted(costs.values(), reverse=True)
    ascending = all_pages(store, project_id, TraceFilter(limit=5, sort="duration", descending=False))
    assert sorted(ascending) == sorted(costs)


def test_filters_and_summary_numbers(store: Store, project_id: str, traces: list[list[Step]]) -> None:
    alpha = list_traces(store, project_id, TraceFilter(agent="alpha", limit=50)).traces
    assert {t.trace_id for t in alpha} == {t[0].trace_id for i, t in enumerate(traces) if i % 2}
    errors = list_traces(store, project_id, TraceFilter(status="error", limit=50)).traces
    assert {t.trace_id for t in errors} == {t[0].trace_id for i, t in enumerate(traces) if i % 5 == 0}
    alpha_by_cost = list_traces(store, project_id, TraceFilter(agent="alpha", sort="cost", limit=50)).traces
    assert [t.cost_usd or 0 for t in alpha_by_cost] == sorted((t.cost_usd or 0 for t in alpha), reverse=True)
    found = list_traces(store, project_id, TraceFilter(q="RUN3", limit=50)).traces
    assert [t.root_name for t in found] == ["invoke_workflow run3"]
    (resent,) = list_traces(store, project_id, TraceFilter(trace_ids=(traces[3][0].trace_id,))).traces
    assert (resent.spans, resent.input_tokens, resent.llm_calls) == (2, 100, 1)


def test_group_stats_count_each_span_once(store: Store, project_id: str, traces: list[list[Step]]) -> None:
    now = datetime.now(UTC)
    stats = {g.key: g for g in group_stats(store, project_id, now - timedelta(hours=1), now + timedelta(minutes=1))}
    assert stats["alpha"].steps == 6 and stats["beta"].steps == 6
    assert stats["alpha"].input_tokens == 600 and stats["alpha"].cost_usd == pytest.approx(
        sum(0.001 * (i % 7) for i in range(12) if i % 2)
    )


def test_another_project_sees_nothing_and_bad_filters_say_why(
    store: Store, project_id: str, traces: list[list[Step]]
) -> None:
    assert list_traces(store, project_id + "x", TraceFilter()).traces == []
    with pytest.raises(BadFilter, match="cursor"):
        list_traces(store, project_id, TraceFilter(cursor="garbage!"))
    with pytest.raises(BadFilter, match="limit"):
        list_traces(store, project_id, TraceFilter(limit=0))


def test_one_trace_across_midnight_is_found_whole_by_id(store: Store, project_id: str) -> None:
    """The summary lookup starts from the days a trace has steps on: a trace whose steps straddle midnight counts
    every span of both days, and an unknown id (or another project's) is None."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = int((midnight - timedelta(seconds=2)).timestamp() * 1e9)
    steps = make_trace(project_id, 0, "alpha", cost=0.01)
    late = make_trace(project_id, 1, "beta", cost=0.02)[1]
    steps = [
        replace(steps[0], start_time_ns=t0, end_time_ns=t0 + 4_000_000_000),
        replace(steps[1], start_time_ns=t0 + 1_000, end_time_ns=t0 + 1_000_000_000),
        replace(
            late,
            trace_id=steps[0].trace_id,
            parent_span_id=steps[0].span_id,
            start_time_ns=t0 + 3_000_000_000,
            end_time_ns=t0 + 3_500_000_000,
        ),
    ]
    insert_steps(store, steps, version=1, dedup_token=f"{project_id}-midnight")
    trace_id = steps[0].trace_id

    assert len(trace_days(store, project_id, trace_id)) == 2
    summary = get_trace_summary(store, project_id, trace_id)
    assert summary is not None
    assert (summary.spans, summary.llm_calls, sorted(summary.agents)) == (3, 2, ["alpha", "beta"])
    assert summary.cost_usd == pytest.approx(0.03)
    assert get_trace_summary(store, project_id, uuid.uuid4().hex) is None
    assert get_trace_summary(store, "other" + project_id, trace_id) is None
