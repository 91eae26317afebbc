"""The trace analysis rules: tree, self time, latency attribution and critical path, agent graph, cost, why."""

from __future__ import annotations

from tracehouse.dashboard import analysis
from tracehouse.dashboard import format as fmt
from tracehouse.domain.model import Status, Step, StepType

MS = 1_000_000


def st(sid: str, parent: str, start: int, end: int, **kw: object) -> Step:
    return Step(
        project_id="p",
        trace_id="t" * 32,
        span_id=sid,
        parent_span_id=parent,
        start_time_ns=start * MS,
        end_time_ns=end * MS,
        name=sid,
        **kw,
    )


def test_tree_orders_children_by_start_and_turns_orphans_into_roots() -> None:
    tree = analysis.build_tree(
        [st("c2", "r", 50, 60), st("r", "", 0, 100), st("c1", "r", 10, 20), st("o", "gone", 5, 6)]
    )
    assert tree.roots == ["r", "o"]
    assert tree.order == [("r", 0), ("c1", 1), ("c2", 1), ("o", 0)]


def test_tree_survives_a_parent_cycle() -> None:
    tree = analysis.build_tree([st("a", "b", 0, 10), st("b", "a", 1, 9)])
    assert {sid for sid, _ in tree.order} == {"a", "b"}


def test_self_time_is_parent_time_not_covered_by_overlapping_children() -> None:
    tree = analysis.build_tree([st("r", "", 0, 100), st("a", "r", 10, 50), st("b", "r", 30, 70), st("c", "r", 90, 120)])
    # children cover 10..70 and 90..100 (c clipped to the parent) -> 70 ms covered of 100
    assert analysis.self_times(tree)["r"] == 30 * MS


def test_latency_attribution_splits_wall_time_along_the_critical_path() -> None:
    steps = [
        st("r", "", 0, 100, step_type=StepType.AGENT),
        st("llm", "r", 10, 60, step_type=StepType.LLM),
        st("tool", "r", 60, 90, step_type=StepType.TOOL),
        st("fast", "r", 10, 20, step_type=StepType.TOOL),  # parallel to llm, not on the path
    ]
    a = analysis.latency_attribution(analysis.build_tree(steps))
    assert a.wall_ns == 100 * MS
    assert a.critical == {"model": 50 * MS, "tool": 30 * MS, "orchestration": 20 * MS}
    assert sum(a.critical.values()) == a.wall_ns
    assert "fast" not in a.path_span_ids and {"r", "llm", "tool"} <= set(a.path_span_ids)
    assert a.work["tool"] == 40 * MS  # all work counts the parallel tool too


def test_gaps_between_separate_roots_are_reported_not_attributed() -> None:
    a = analysis.latency_attribution(analysis.build_tree([st("a", "", 0, 10), st("b", "", 30, 40)]))
    assert a.wall_ns == 40 * MS and a.gap_ns == 20 * MS and a.critical["orchestration"] == 20 * MS


def test_critical_path_handles_a_chain_thousands_deep() -> None:
    steps = [st("s0", "", 0, 10_000)] + [st(f"s{i}", f"s{i - 1}", i, 10_000 - i) for i in range(1, 3000)]
    a = analysis.latency_attribution(analysis.build_tree(steps))
    assert sum(a.critical.values()) == 10_000 * MS and len(a.path_span_ids) == 3000


def test_agent_graph_counts_handoffs_and_calls_without_double_counting_nested_handoffs() -> None:
    steps = [
        st("wf", "", 0, 100, step_type=StepType.WORKFLOW, workflow="research"),
        st("p", "wf", 1, 99, agent="planner", step_type=StepType.AGENT),
        st(
            "h1",
            "p",
            2,
            40,
            agent="planner",
            step_type=StepType.HANDOFF,
            handoff_source="planner",
            handoff_target="coder",
            attributes={"tracehouse.handoff.reason": "write code"},
        ),
        st("c1", "h1", 3, 39, agent="coder", step_type=StepType.AGENT),
        st(
            "h2",
            "p",
            41,
            80,
            agent="planner",
            step_type=StepType.HANDOFF,
            handoff_source="planner",
            handoff_target="coder",
        ),
        st("c2", "h2", 42, 79, agent="coder", step_type=StepType.AGENT),
        st("t", "c2", 43, 50, agent="coder", step_type=StepType.TOOL),
        st("r", "p", 81, 90, agent="reviewer", step_type=StepType.AGENT, status=Status.ERROR),
    ]
    g = analysis.agent_graph(analysis.build_tree(steps))
    edges = {(e.source, e.target, e.kind): e for e in g.edges}
    assert edges[("planner", "coder", "handoff")].count == 2
    assert edges[("planner", "coder", "handoff")].reasons == ["write code"]
    assert edges[("planner", "reviewer", "call")].count == 1
    assert edges[(analysis.ENTRY, "planner", "call")].count == 1
    assert ("planner", "coder", "call") not in edges
    nodes = {n.id: n for n in g.nodes}
    assert nodes["reviewer"].errors == 1 and nodes[analysis.ENTRY].label == "research"


def test_sequential_handoff_is_an_edge_and_explains_the_next_agent() -> None:
    steps = [
        st("root", "", 0, 100, agent="triage", step_type=StepType.AGENT),
        st(
            "h",
            "root",
            10,
            11,
            agent="triage",
            step_type=StepType.HANDOFF,
            handoff_target="billing",
            attributes={"tracehouse.handoff.reason": "refund request"},
        ),
        st("b", "root", 12, 90, agent="billing", step_type=StepType.AGENT),
    ]
    tree = analysis.build_tree(steps)
    kinds = {(e.source, e.target): e.kind for e in analysis.agent_graph(tree).edges}
    assert kinds[("triage", "billing")] == "handoff"
    why = analysis.why(tree, "b")
    assert why.parent is not None and why.parent.span_id == "root"
    assert why.handoff is not None and why.handoff.span_id == "h" and why.handoff_reason == "refund request"


def test_why_finds_the_router_decision_above_a_step() -> None:
    steps = [st("r", "", 0, 10, attributes={"tracehouse.router.decision": "billing"}), st("x", "r", 1, 2)]
    w = analysis.why(analysis.build_tree(steps), "x")
    assert w.router_step is not None and w.router_decision == "billing"


def test_cost_by_agent_and_model_counts_unpriced_calls_apart() -> None:
    steps = [
        st("a", "", 0, 1, agent="x", step_type=StepType.LLM, request_model="m1", cost_usd=0.5, input_tokens=10),
        st("b", "", 0, 1, agent="x", step_type=StepType.LLM, request_model="m2", cost_usd=None, input_tokens=5),
        st("c", "", 0, 1, agent="y", step_type=StepType.TOOL, cost_usd=None),
    ]
    by_agent = analysis.cost_by(steps, "agent")
    assert [(r.key, r.calls, r.cost_usd, r.unpriced) for r in by_agent] == [("x", 2, 0.5, 1)]
    assert [r.key for r in analysis.cost_by(steps, "model")] == ["m1", "m2"]


def test_big_traces_start_collapsed_but_a_focused_step_is_revealed() -> None:
    steps = [st("r", "", 0, 10), st("a", "r", 1, 9), st("a2", "r", 1, 9), st("b", "a", 2, 8), st("c", "b", 3, 7)]
    tree = analysis.build_tree(steps)
    assert analysis.expanded_rows(tree, budget=None) == set(tree.by_id)
    assert analysis.expanded_rows(tree, budget=3) == {"r"}  # r + a + a2 shown; opening a would exceed 3 rows
    assert analysis.expanded_rows(tree, budget=3, focus=["c"]) == {"r", "a", "b"}
    assert analysis.descendants_count(tree) == {"r": 4, "a": 2, "a2": 0, "b": 1, "c": 0}


def test_numbers_read_like_people_write_them() -> None:
    assert fmt.duration_ms(1234) == "1.23 s" and fmt.duration_ms(12.3) == "12 ms" and fmt.duration_ms(0.4) == "400 µs"
    assert fmt.duration_ms(125_000) == "2m 05s" and fmt.duration_ms(None) == "—"
    assert fmt.usd(0.034) == "$0.034" and fmt.usd(12.345) == "$12.35" and fmt.usd(0.00042) == "$0.00042"
    assert fmt.usd(None) == "—" and fmt.usd(0) == "$0" and fmt.usd(1234.5) == "$1,234"
    assert fmt.count(12_345) == "12.3k" and fmt.count(950) == "950" and fmt.count(4_500_000) == "4.5M"
    assert fmt.percent(0.123) == "12.3%"


def test_an_agent_run_beside_the_one_that_handed_off_to_it_is_reached_by_the_handoff_not_called() -> None:
    """OpenAI Agents: the specialist's run is a sibling of the triage's under the workflow, the hand-off inside
    the triage's turn; the graph shows the hand-off, and no call from the start to the specialist."""
    steps = [
        st("w", "", 0, 100, workflow="Agent workflow", step_type=StepType.WORKFLOW),
        st("a", "w", 1, 50, agent="Triage", step_type=StepType.AGENT),
        st("turn", "a", 2, 49, agent="Triage"),
        st(
            "h",
            "turn",
            40,
            41,
            agent="Triage",
            step_type=StepType.HANDOFF,
            handoff_source="Triage",
            handoff_target="Weather specialist",
        ),
        st("b", "w", 51, 99, agent="Weather specialist", step_type=StepType.AGENT),
    ]
    edges = {(e.source, e.target, e.kind) for e in analysis.agent_graph(analysis.build_tree(steps)).edges}
    assert edges == {(analysis.ENTRY, "Triage", "call"), ("Triage", "Weather specialist", "handoff")}
