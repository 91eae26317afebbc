"""Suite runs against stored traces: store mode and API mode, idempotent re-runs, CLI exit codes and JUnit."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from rich.console import Console

from tracehouse.client import Client
from tracehouse.domain.model import Status
from tracehouse.evals import load_suite, run_suite
from tracehouse.evals.report import print_summary, write_junit
from tracehouse.evals.sources import ApiSink, ApiSource, StoreSink, StoreSource
from tracehouse.settings import ClientSettings
from tracehouse.store import Store
from tracehouse.store.scores import failure_shares, list_eval_runs, list_scores

from .conftest import EvalApp, store_trace
from .traces import simple

SUITE = """
name: {name}
select: {{since: 1h, workflow: "invoke_workflow qa"}}
scorers:
  - type: no_error
  - name: cites
    type: contains
    params: {{value: source, ignore_case: true}}
    min_pass_rate: {floor}
  - {{type: latency, params: {{max_ms: 10000}}}}
"""


def seed(store: Store, project: str) -> list[str]:
    """Three qa traces (one without a source, one failed) and one trace of another workflow."""
    good = store_trace(store, project, simple("42. Source: wiki"))
    no_source = store_trace(store, project, simple("just 42"))
    failed = store_trace(store, project, simple("Source: x", status=Status.ERROR, error_type="Boom"))
    other = simple("Source: y")
    other.steps[0].name = "invoke_workflow other"
    store_trace(store, project, other)
    return [good.trace_id, no_source.trace_id, failed.trace_id]


def suite_file(tmp_path: Path, floor: float = 0.5, name: str = "qa-suite") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SUITE.format(name=name, floor=floor))
    return path


def test_store_mode_run_scores_selected_traces_and_rerun_replaces(
    store: Store, project_id: str, tmp_path: Path
) -> None:
    ids = seed(store, project_id)
    suite = load_suite(suite_file(tmp_path))
    first = run_suite(suite, StoreSource(store, project_id), StoreSink(store, project_id), concurrency=2)
    assert first.traces == 3 and len(first.scores) == 9
    stats = {s.name: s for s in first.scorers}
    assert stats["cites"].pass_rate == 2 / 3 and stats["cites"].ok
    assert stats["no_error"].pass_rate == 2 / 3 and not stats["no_error"].ok  # default floor 100%
    assert first.failures == ["no_error: pass rate 67% < 100%"]
    assert {w["trace_id"] for w in stats["no_error"].worst} == {ids[2]}
    second = run_suite(suite, StoreSource(store, project_id), StoreSink(store, project_id))
    stored = list_scores(store, project_id, suite="qa-suite")
    assert len(stored) == 9  # replaced, not duplicated
    assert {s.eval_run_id for s in stored} == {second.eval_run_id}
    runs = {r.eval_run_id: r for r in list_eval_runs(store, project_id)}
    assert runs[first.eval_run_id].status == "failed" and runs[second.eval_run_id].summary["traces"] == 3
    shares = failure_shares(
        store, project_id, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1)
    )
    assert shares[0].agent == "writer" and shares[0].failing_traces == 2  # both failing traces' steps are the writer's


def test_by_agent_table_and_export(store: Store, project_id: str, tmp_path: Path) -> None:
    seed(store, project_id)
    result = run_suite(load_suite(suite_file(tmp_path)), StoreSource(store, project_id))
    agents = result.by_agent()
    assert list(agents["agent"]) == ["writer"] and agents["agent_version"].iloc[0] == "2"
    assert agents["scores"].iloc[0] == 9 and agents["failed"].iloc[0] == 2
    result.frame().to_parquet(tmp_path / "scores.parquet")
    assert len(pd.read_parquet(tmp_path / "scores.parquet")) == 9


def test_api_mode_run_reads_and_writes_through_the_server(evals_app: EvalApp, store: Store, tmp_path: Path) -> None:
    seed(store, evals_app.project_id)
    client = Client(ClientSettings(url="http://testserver", api_key=evals_app.api_key), http=evals_app.client)
    result = run_suite(load_suite(suite_file(tmp_path)), ApiSource(client), ApiSink(client))
    assert result.traces == 3
    scores = evals_app.client.get("/api/scores", params={"name": "cites"}).json()["scores"]
    assert len(scores) == 3 and {s["eval_run_id"] for s in scores} == {result.eval_run_id}
    runs = evals_app.client.get("/api/eval-runs").json()["eval_runs"]
    assert runs[0]["eval_run_id"] == result.eval_run_id and runs[0]["summary"]["passed"] is False


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracehouse.evals.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_exit_codes_and_junit(evals_app: EvalApp, store: Store, live_url: str, tmp_path: Path) -> None:
    seed(store, evals_app.project_id)
    relaxed = tmp_path / "relaxed.yaml"
    relaxed.write_text(
        SUITE.format(name="relaxed", floor=0.5).replace("- type: no_error", "- {type: no_error, min_pass_rate: 0.5}")
    )
    ok = cli(
        "run", str(relaxed), "--server", live_url, "--api-key", evals_app.api_key, "--junit", str(tmp_path / "ok.xml")
    )
    assert ok.returncode == 0, ok.stderr
    assert "PASSED relaxed" in ok.stdout and "per agent" in ok.stdout
    strict = cli(
        "run",
        str(suite_file(tmp_path, floor=1.0, name="strict")),
        "--server",
        live_url,
        "--api-key",
        evals_app.api_key,
        "--junit",
        str(tmp_path / "bad.xml"),
        "--out",
        str(tmp_path / "s.csv"),
    )
    assert strict.returncode == 1, strict.stderr
    assert "FAILED strict" in strict.stdout and f"{live_url}/traces/" in strict.stdout  # worst cases link to traces
    junit = ET.parse(tmp_path / "bad.xml").getroot()
    suite = junit.find("testsuite")
    assert suite is not None and suite.get("failures") == "2"
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failed == {"no_error", "cites"}
    assert ET.parse(tmp_path / "ok.xml").getroot().get("failures") == "0"
    assert len(pd.read_csv(tmp_path / "s.csv")) == 9
    nothing = cli(
        "run",
        str(relaxed),
        "--server",
        live_url,
        "--api-key",
        evals_app.api_key,
        "--since",
        "2000-01-01T00:00:00",
        "--until",
        "2000-01-02T00:00:00",
    )
    assert nothing.returncode == 1 and "no traces matched the selection" in nothing.stdout
    bad_key = cli("run", str(relaxed), "--server", live_url, "--api-key", "th_wrong")
    assert bad_key.returncode == 2 and bad_key.stderr.startswith("error: ") and "401" in bad_key.stderr
    bad_flag = cli("run", str(relaxed), "--server", live_url, "--since", "yesterday")
    assert bad_flag.returncode == 2 and "--since" in bad_flag.stderr and "Traceback" not in bad_flag.stderr


CONTENT_SUITE = """
name: content
select: {since: 1h, workflow: "invoke_workflow qa"}
scorers:
  - {name: cites, type: contains, params: {value: source, ignore_case: true}}
  - {name: nothing_captured, type: contains, params: {value: x}, target: {name: "no such step"}}
"""


def test_a_trace_without_content_is_skipped_apart_from_pass_and_fail(
    store: Store, project_id: str, tmp_path: Path
) -> None:
    store_trace(store, project_id, simple("42. Source: wiki"))
    store_trace(store, project_id, simple(""))  # recorded without content capture
    path = tmp_path / "content.yaml"
    path.write_text(CONTENT_SUITE)
    result = run_suite(load_suite(path), StoreSource(store, project_id), StoreSink(store, project_id))
    cites = next(s for s in result.scorers if s.name == "cites")
    assert (cites.scores, cites.passed, cites.failed, cites.errors, cites.skipped) == (1, 1, 0, 0, 1)
    assert cites.pass_rate == 1.0 and cites.ok and "no output" in cites.skip_reason
    assert result.passed and result.summary()["scorers"][0]["skipped"] == 1

    write_junit(result, tmp_path / "junit.xml")
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("skipped")) == ("0", "1")
    skipped = {c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None}
    assert skipped == {"nothing_captured"}  # cites scored one trace: its skip is in its output, not a skipped case
    out = io.StringIO()
    print_summary(result, Console(file=out, width=200))
    assert "skipped cites: 1 (not scored: the target step has no output" in out.getvalue()
