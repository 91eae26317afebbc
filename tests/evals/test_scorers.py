"""Every built-in scorer on crafted traces, passing and failing."""

from __future__ import annotations

from typing import Any

import pytest

from tracehouse.domain.model import Status, StepType
from tracehouse.evals import Suite, score_trace
from tracehouse.evals.model import TraceData
from tracehouse.evals.suite import validate_suite
from tracehouse.store.scores import Score

from .traces import simple, step, trace


def score(data: TraceData, type: str, params: dict[str, Any] | None = None, **spec: Any) -> Score:
    suite = validate_suite(
        {"name": "t", "scorers": [{"type": type, "params": params or {}, **spec}]},
        "t.yaml",
        __import__("pathlib").Path("."),
    )
    scores, skipped = score_trace(suite, data, eval_run_id="r")
    assert not skipped
    assert len(scores) == 1
    return scores[0]


def test_exact_passes_on_equal_output_and_fails_otherwise() -> None:
    assert score(simple("Paris"), "exact", {"value": "paris", "ignore_case": True}).passed is True
    bad = score(simple("Lyon"), "exact", {"value": "Paris"})
    assert bad.passed is False and bad.value == 0.0 and "Lyon" in bad.comment


def test_exact_uses_the_dataset_expected_answer() -> None:
    data = simple("Paris")
    data.expected = "Paris"
    assert score(data, "exact").passed is True
    data.expected = None
    missing = score(data, "exact")
    assert missing.label == "error" and missing.passed is False and missing.value is None


def test_contains_all_any_and_negated() -> None:
    data = simple("The answer is 42. Source: wiki")
    assert score(data, "contains", {"value": ["42", "source"], "ignore_case": True}).passed is True
    assert score(data, "contains", {"value": ["42", "nope"]}).passed is False
    assert score(data, "contains", {"value": ["42", "nope"], "all": False}).passed is True
    assert score(data, "contains", {"value": "sorry", "negate": True}).passed is True
    assert score(data, "contains", {"value": "42", "negate": True}).passed is False


def test_regex_matches_and_reports_bad_patterns() -> None:
    assert score(simple("order #12345 shipped"), "regex", {"pattern": r"#\d{5}"}).passed is True
    assert score(simple("no order"), "regex", {"pattern": r"#\d{5}"}).passed is False
    assert score(simple("x"), "regex", {"pattern": "("}).label == "error"


def test_json_valid_accepts_fenced_json_and_rejects_prose() -> None:
    assert score(simple('```json\n{"a": 1}\n```'), "json_valid").passed is True
    failed = score(simple("{'a': 1}"), "json_valid")
    assert failed.passed is False and "not JSON" in failed.comment


def test_json_schema_validates_the_output() -> None:
    schema = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}}
    assert score(simple('{"answer": 42}'), "json_schema", {"schema": schema}).passed is True
    wrong = score(simple('{"answer": "42"}'), "json_schema", {"schema": schema})
    assert wrong.passed is False and "answer" in wrong.comment


def test_output_scorers_read_the_target_step_and_an_attribute() -> None:
    data = simple("final")
    data.steps[2].attributes["my.out"] = "from attribute"
    on_llm = score(data, "contains", {"value": "attribute"}, target={"step_type": "llm"}, attribute="my.out")
    assert on_llm.passed is True and on_llm.span_id == data.steps[2].span_id and on_llm.agent == "writer"
    assert on_llm.agent_version == "2"  # the version is on the writer's agent step, found for its LLM step too
    on_root = score(simple("final"), "contains", {"value": "final"})
    assert on_root.span_id == "" and on_root.agent == "writer"  # trace-level: the first invoke_agent


def test_output_scorer_without_output_is_skipped_not_failed() -> None:
    result = score(simple(""), "contains", {"value": "x"})
    assert result.label == "skipped" and result.passed is None and result.value is None
    assert "no output" in result.comment


def test_genai_message_output_is_read_as_text() -> None:
    data = simple("")
    data.steps[0].attributes["gen_ai.output.messages"] = (
        '[{"role": "assistant", "parts": [{"type": "text", "content": "hello 42"}]}]'
    )
    assert score(data, "contains", {"value": "hello 42"}).passed is True


def test_reference_modes() -> None:
    data = simple("The capital of France is Paris.")
    data.expected = "Paris"
    assert score(data, "reference", {"mode": "contains"}).passed is True
    assert score(data, "reference", {"mode": "exact"}).passed is False
    data.expected = "the capital of france is paris"
    assert score(data, "reference").passed is True  # fuzzy
    numeric = simple("It costs 41.99 dollars")
    numeric.expected = 42
    assert score(numeric, "reference", {"mode": "numeric", "tolerance": 0.05}).passed is True
    assert score(numeric, "reference", {"mode": "numeric"}).passed is False
    assert score(simple("x"), "reference").label == "error"  # no expected answer


def test_latency_slo_on_trace_and_step() -> None:
    data = simple(duration_ms=120)
    assert score(data, "latency", {"max_ms": 200}).passed is True
    slow = score(data, "latency", {"max_ms": 50})
    assert slow.passed is False and "120 ms" in slow.comment
    assert score(data, "latency", {"max_ms": 75, "scope": "step"}, target={"step_type": "llm"}).passed is True


def test_cost_slo_and_unpriced_calls() -> None:
    data = simple()
    assert score(data, "cost", {"max_usd": 0.01}).passed is True
    assert score(data, "cost", {"max_usd": 0.0005}).passed is False
    data.summary.unpriced = 1
    assert score(data, "cost", {"max_usd": 1, "fail_unpriced": True}).passed is False


def test_token_budget() -> None:
    assert score(simple(), "tokens", {"max_total": 200}).passed is True
    over = score(simple(), "tokens", {"max_input": 50})
    assert over.passed is False and "input 100 > 50" in over.comment


def _repeat(n: int, *, agent: str = "planner", same_parent: bool = True, retry: int = 0) -> TraceData:
    root = step("invoke_workflow w", step_type=StepType.WORKFLOW)
    parents = [
        step(f"invoke_agent {agent}{i}", parent=root.span_id, agent=f"{agent}{i}", step_type=StepType.AGENT)
        for i in range(n)
    ]
    calls = [
        step(
            "chat m",
            parent=(parents[0] if same_parent else parents[i]).span_id,
            agent=agent if same_parent else f"{agent}{i}",
            step_type=StepType.LLM,
            start_ms=i * 10,
            content_hash="h1",
            retry_attempt=retry,
            cost_usd=0.01,
        )
        for i in range(n)
    ]
    return trace(root, *parents, *calls)


def test_no_loop_fails_when_an_agent_repeats_itself() -> None:
    assert score(_repeat(2), "no_loop").passed is True
    looped = score(_repeat(3), "no_loop")
    assert looped.passed is False and looped.agent == "planner"
    assert looped.comment.startswith("loop finding ") and "with the same input 3×" in looped.comment
    assert score(_repeat(3), "no_loop", {"max_repeats": 4}).passed is True


def test_no_loop_reads_detector_findings_first() -> None:
    data = simple()
    data.findings = [{"kind": "loop", "agents": ["critic"], "explanation": "critic repeated 5 times"}]
    found = score(data, "no_loop")
    assert found.passed is False and found.agent == "critic" and "critic repeated" in found.comment


def test_no_duplicate_work_across_branches_but_not_for_retries_or_loops() -> None:
    dup = score(_repeat(2, same_parent=False), "no_duplicate_work")
    assert dup.passed is False and dup.comment.startswith("duplicate_work finding ") and "$0.0100 wasted" in dup.comment
    assert score(_repeat(2, same_parent=True), "no_duplicate_work").passed is True  # a loop, not duplication
    assert score(_repeat(2, same_parent=False, retry=2), "no_duplicate_work").passed is True  # retries excluded
    assert score(simple(), "no_duplicate_work").passed is True


def _tries(*attempts: int) -> TraceData:
    root = step("invoke_workflow w", step_type=StepType.WORKFLOW)
    tries = [
        step("execute_tool search", parent=root.span_id, agent="r", retry_attempt=a, step_type=StepType.TOOL)
        for a in attempts
    ]
    return trace(root, *tries)


def test_retry_budget() -> None:
    data = _tries(1, 2, 3)  # two retries of one call: within the detector's limits, so the budget decides
    over = score(data, "retry_budget", {"max_attempts": 2})
    assert over.passed is False and "attempt 3" in over.comment and over.agent == "r"
    assert score(data, "retry_budget", {"max_attempts": 3}).passed is True
    assert score(data, "retry_budget", {"max_attempts": 3, "max_retries": 1}).passed is False


def test_a_retry_storm_is_retry_budgets_alone_and_names_its_finding() -> None:
    data = _tries(1, 2, 3, 4)
    storm = score(data, "retry_budget", {"max_attempts": 10})
    assert storm.passed is False and storm.comment.startswith("retry_storm finding ") and storm.agent == "r"
    assert score(data, "no_loop").passed is True
    assert score(data, "no_duplicate_work").passed is True


def test_handoff_contract_reads_contract_attributes() -> None:
    ok = simple()
    ok.steps[1].attributes["tracehouse.contract.ok"] = "true"
    assert score(ok, "handoff_contract").passed is True
    broken = simple()
    broken.steps[1].attributes["tracehouse.contract.violation"] = "missing required field 'ticket_id'"
    result = score(broken, "handoff_contract")
    assert result.passed is False and "ticket_id" in result.comment
    by_error = simple()
    by_error.steps[1].error_type = "ContractViolation"
    by_error.steps[1].status_message = "payload: bad"
    assert score(by_error, "handoff_contract").passed is False


def test_no_error_checks_the_root_and_strictly_every_step() -> None:
    assert score(simple(), "no_error").passed is True
    failed_root = simple(status=Status.ERROR, error_type="TimeoutError")
    result = score(failed_root, "no_error")
    assert result.passed is False and "TimeoutError" in result.comment
    recovered = simple()
    recovered.steps[2].status = Status.ERROR
    assert score(recovered, "no_error").passed is True
    assert score(recovered, "no_error", {"strict": True}).passed is False
    orphan = trace(step("chat m", parent="ffffffffffffffff"))
    assert score(orphan, "no_error").passed is False


def test_threshold_overrides_the_scorers_own_verdict() -> None:
    data = simple("the capital of france is paris!")
    data.expected = "the capital of france is paris"
    assert score(data, "reference", threshold=0.999).passed is False
    assert score(data, "reference", threshold=0.5).passed is True


def test_target_matching_nothing_skips_the_scorer() -> None:
    suite = Suite.model_validate({"name": "t", "scorers": [{"type": "json_valid", "target": {"agent": "nobody"}}]})
    scores, skipped = score_trace(suite, simple(), eval_run_id="r")
    assert scores == [] and skipped == 1


@pytest.mark.parametrize("pick,expected", [("first", 1), ("last", 1), ("all", 2)])
def test_target_pick(pick: str, expected: int) -> None:
    data = simple()
    extra = step(
        "chat gpt-4o-mini",
        parent=data.steps[1].span_id,
        agent="writer",
        step_type=StepType.LLM,
        start_ms=5,
        output="second",
    )
    data.steps.append(extra)
    extra.trace_id = data.trace_id
    suite = Suite.model_validate(
        {"name": "t", "scorers": [{"type": "json_valid", "target": {"step_type": "llm", "pick": pick}}]}
    )
    scores, _ = score_trace(suite, data, eval_run_id="r")
    assert len(scores) == expected
