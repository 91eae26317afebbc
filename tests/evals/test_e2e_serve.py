"""End to end: `tracehouse demo` traces in a real `tracehouse serve`, the example suites run by `tracehouse eval run`,
scores read back through `GET /api/scores`, a re-run replacing rather than duplicating."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "evals" / "examples"
DEMO = "from tracehouse.orchestrator.demo import run_demo; import sys; run_demo(sys.argv[1], sys.argv[2], echo=None)"


def eval_run(server: Any, suite: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "tracehouse",
        "eval",
        "run",
        str(EXAMPLES / suite),
        "--server",
        server.url,
        "--api-key",
        server.api_key,
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def demo_server(server: Any) -> Any:
    """A server holding one run of every demo workflow (content capture on), keyed by workflow name."""
    env = {**os.environ, "TRACEHOUSE_CAPTURE_CONTENT": "1"}
    subprocess.run([sys.executable, "-c", DEMO, server.url, server.api_key], check=True, env=env, timeout=120)
    deadline = time.monotonic() + 30
    traces: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        traces = httpx.get(f"{server.url}/api/traces", params={"limit": 50}, headers=server.headers).json()["traces"]
        if len(traces) >= 8:
            break
        time.sleep(0.3)
    assert len(traces) == 8, traces
    server.workflows = {t["workflow"]: t["trace_id"] for t in traces}
    return server


def scores(server: Any, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/api/scores", params=params, headers=server.headers)
    assert response.status_code == 200, f"GET /api/scores: {response.status_code} (is the evals router mounted?)"
    return list(response.json()["scores"])


def test_example_suites_gate_the_demo_and_scores_read_back(demo_server: Any, tmp_path: Path) -> None:
    wf = demo_server.workflows
    clean = eval_run(demo_server, "demo_clean.yaml")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    faulty = eval_run(demo_server, "demo_suite.yaml", "--junit", str(tmp_path / "junit.xml"))
    assert faulty.returncode == 1, faulty.stdout + faulty.stderr
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    failed = {c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None}
    assert {"no_error", "no_loop", "no_duplicate_work", "cost", "retry_budget"} <= failed
    assert "latency" not in failed and "handoff_contract" not in failed

    no_error = {s["trace_id"]: s for s in scores(demo_server, name="no_error") if s["suite"] == "demo-behaviour"}
    assert set(no_error) == set(wf.values())
    assert {t for t, s in no_error.items() if s["passed"] is False} == {wf["demo.handoff_loop"], wf["demo.cost_cap"]}
    loops = {s["trace_id"] for s in scores(demo_server, name="no_loop") if s["passed"] is False}
    assert wf["demo.handoff_loop"] in loops and wf["demo.research"] not in loops
    dup = {s["trace_id"] for s in scores(demo_server, name="no_duplicate_work") if s["passed"] is False}
    assert wf["demo.duplicate_work"] in dup
    storm = {s["trace_id"]: s for s in scores(demo_server, name="retry_budget") if s["passed"] is False}
    assert wf["demo.retry_storm"] in storm and storm[wf["demo.retry_storm"]]["comment"].startswith(
        "retry_storm finding"
    )
    # The planted storm is reported once, under the scorer it belongs to.
    assert wf["demo.retry_storm"] not in loops and wf["demo.retry_storm"] not in dup

    first_run = {s["eval_run_id"] for s in no_error.values()}
    again = eval_run(demo_server, "demo_suite.yaml")
    assert again.returncode == 1
    rerun = [s for s in scores(demo_server, name="no_error") if s["suite"] == "demo-behaviour"]
    assert len(rerun) == 8 and {s["eval_run_id"] for s in rerun}.isdisjoint(first_run)  # replaced, not duplicated
    runs = httpx.get(f"{demo_server.url}/api/eval-runs", headers=demo_server.headers).json()["eval_runs"]
    assert [r["status"] for r in runs if r["suite"] == "demo-behaviour"] == ["failed", "failed"]
    assert runs[0]["summary"]["traces"] == 8

    content = eval_run(demo_server, "demo_content.yaml")
    ref = {s["trace_id"]: s for s in scores(demo_server, name="answer_matches_reference")}
    assert ref[wf["demo.research"]]["passed"] is True and ref[wf["demo.support_router"]]["passed"] is True, (
        content.stdout
    )
    assert content.returncode == 0, content.stdout + content.stderr
