"""Online evals on newly finished traces (with back-pressure), and experiments over a dataset compared side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tracehouse import sdk
from tracehouse.evals import Suite, load_dataset
from tracehouse.evals.experiments import Experiment, compare, run_experiment
from tracehouse.evals.online import OnlineEvaluator
from tracehouse.store import Store
from tracehouse.store.scores import list_eval_runs, list_scores

from .conftest import store_trace
from .traces import simple

ONLINE = Suite.model_validate(
    {
        "name": "online",
        "select": {"workflow": "invoke_workflow qa"},
        "scorers": [{"type": "contains", "params": {"value": "Source"}}],
    }
)


def test_online_evaluator_scores_new_traces_once_they_settle(store: Store, project_id: str) -> None:
    online = OnlineEvaluator(
        store,
        [ONLINE.model_copy(update={"select": ONLINE.select.model_copy(update={"project": project_id})})],
        settle_seconds=5,
        backfill_seconds=60,
    )
    now = datetime.now(UTC)
    settled = store_trace(store, project_id, simple("42. Source: x"), end_at=now - timedelta(seconds=30))
    fresh = store_trace(store, project_id, simple("no source"), end_at=now)
    other = simple("Source")
    other.steps[0].name = "invoke_workflow other"
    store_trace(store, project_id, other, end_at=now - timedelta(seconds=30))
    assert online.poll_once(now) >= 2
    online.drain()
    scored = {s.trace_id: s for s in list_scores(store, project_id, suite="online")}
    assert set(scored) == {settled.trace_id}  # the other workflow does not match; the fresh one has not settled
    assert scored[settled.trace_id].source == "online" and scored[settled.trace_id].passed is True
    online.poll_once(now + timedelta(seconds=10))
    online.drain()
    assert {s.trace_id for s in list_scores(store, project_id, suite="online")} == {settled.trace_id, fresh.trace_id}
    assert list_eval_runs(store, project_id, suite="online")[0].summary["online"] is True


def test_online_evaluator_drops_and_counts_when_behind(store: Store, project_id: str) -> None:
    suite = ONLINE.model_copy(update={"select": ONLINE.select.model_copy(update={"project": project_id})})
    online = OnlineEvaluator(store, [suite], settle_seconds=0, backfill_seconds=60, queue_size=2)
    now = datetime.now(UTC)
    for _ in range(5):
        store_trace(store, project_id, simple(), end_at=now - timedelta(seconds=5))
    online.poll_once(now)
    assert online.stats.dropped >= 3 and online.stats.queued == 2


def test_online_evaluator_runs_in_the_background(store: Store, project_id: str) -> None:
    suite = ONLINE.model_copy(update={"select": ONLINE.select.model_copy(update={"project": project_id})})
    online = OnlineEvaluator(store, [suite], interval_seconds=0.2, settle_seconds=0, backfill_seconds=60)
    data = store_trace(store, project_id, simple(), end_at=datetime.now(UTC) - timedelta(seconds=2))
    online.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list_scores(store, project_id, trace_id=data.trace_id):
            time.sleep(0.1)
    finally:
        online.stop()
    assert list_scores(store, project_id, trace_id=data.trace_id)[0].name == "contains"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"id": "a", "input": "2+2", "expected": "4"}\n{"id": "b", "input": "capital of France", "expected": "Paris"}\n'
        '{"id": "c", "input": "boom", "expected": "x"}\n'
    )
    return path


def _workflow(version: int) -> Callable[[str], str]:
    answers = {1: {"2+2": "4", "capital of France": "Lyon"}, 2: {"2+2": "4", "capital of France": "Paris"}}[version]

    @sdk.agent("answerer", version=str(version))
    def answer(question: str) -> str:
        with sdk.llm_call("gpt-4o-mini", "openai") as call:
            call.set_usage(input_tokens=50 * version, output_tokens=5)
        if question == "boom":
            raise RuntimeError("cannot answer")
        return answers[question]

    return answer


def test_experiments_trace_score_and_compare(dataset: Path, tmp_path: Path) -> None:
    scorers = Suite.model_validate(
        {"name": "x", "scorers": [{"type": "reference", "params": {"mode": "exact"}}, {"type": "no_error"}]}
    ).scorers
    cases = load_dataset(dataset)
    v1 = run_experiment("v1", cases, _workflow(1), scorers)
    v2 = run_experiment("v2", cases, _workflow(2), scorers, concurrency=2)
    rows = v1.results.set_index("case_id")
    assert rows.loc["a", "score.reference"] == 1.0 and rows.loc["b", "score.reference"] == 0.0
    assert rows.loc["c", "error"].startswith("RuntimeError") and not rows.loc["c", "passed.no_error"]
    assert rows.loc["a", "input_tokens"] == 50 and rows.loc["a", "cost_usd"] > 0  # the workflow's own LLM span
    assert len(set(v1.results["trace_id"])) == 3
    v1.save(tmp_path / "v1.parquet")
    v2.save(tmp_path / "v2.csv")
    comparison = compare(Experiment.load(tmp_path / "v1.parquet"), Experiment.load(tmp_path / "v2.csv"))
    assert comparison.better == 1 and comparison.worse == 0 and comparison.same == 2
    assert comparison.cases.iloc[0]["case_id"] == "b" or comparison.cases["change"].tolist().count("better") == 1
    summary = comparison.summary.set_index("metric")
    assert summary.loc["reference", "delta"] == pytest.approx(0.5)  # case c errored in both: no delta
    assert summary.loc["cost_usd", "delta"] > 0  # v2 spends more input tokens per call
    assert isinstance(comparison.cases, pd.DataFrame) and "delta.latency_ms" in comparison.cases


def test_cli_experiment_and_compare(dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "qa_flows.py").write_text(
        "def v1(q):\n    return {'2+2': '4', 'capital of France': 'Lyon'}.get(q, 'x')\n"
        "def v2(q):\n    return {'2+2': '4', 'capital of France': 'Paris'}.get(q, 'x')\n"
    )
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nscorers:\n  - {type: reference, params: {mode: exact}}\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "tracehouse.evals.cli", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)

    for name in ("v1", "v2"):
        made = cli(
            "experiment",
            "--dataset",
            str(dataset),
            "--workflow",
            f"qa_flows:{name}",
            "--suite",
            str(suite),
            "--name",
            name,
            "--out",
            str(tmp_path / f"{name}.parquet"),
        )
        assert made.returncode == 0, made.stderr
    compared = cli(
        "compare", str(tmp_path / "v1.parquet"), str(tmp_path / "v2.parquet"), "--out", str(tmp_path / "d.csv")
    )
    assert compared.returncode == 0, compared.stderr
    assert "better 1, worse 0, same 2" in compared.stdout
    assert set(pd.read_csv(tmp_path / "d.csv")["change"]) == {"better", "same"}
    bad = cli(
        "experiment",
        "--dataset",
        str(dataset),
        "--workflow",
        "nope",
        "--suite",
        str(suite),
        "--name",
        "x",
        "--out",
        str(tmp_path / "x.parquet"),
    )
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --workflow: expected module:function, got 'nope'"
