"""The demo's planted faults, end to end: run the demo against a real `tracehouse serve`, then `/api/findings` has
every planted loop, duplicate and storm on its trace and nothing on the clean runs."""

from __future__ import annotations

import time

import httpx
import pytest

from tracehouse.orchestrator.demo import run_demo

EXPECTED_KIND = {"handoff_loop": "loop", "duplicate_work": "duplicate_work", "retry_storm": "retry_storm"}


@pytest.mark.slow
def test_demo_faults_are_found_and_clean_runs_have_no_findings(server) -> None:  # type: ignore[no-untyped-def]
    report = run_demo(server.url, server.api_key, echo=None)
    planted = {r.fault: r.trace_id for r in report.runs if r.fault in EXPECTED_KIND}
    clean = {r.trace_id for r in report.runs if r.fault is None}
    assert set(planted) == set(EXPECTED_KIND) and clean
    found: dict[str, set[str]] = {}
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        # the detector scans traces after a quiet period; ask it to run now as well (idempotent)
        httpx.post(f"{server.url}/api/detect/run", headers=server.headers, json={}, timeout=60)
        body = httpx.get(f"{server.url}/api/findings", headers=server.headers, timeout=10).json()
        found = {}
        for f in body["findings"]:
            found.setdefault(f["trace_id"], set()).add(f["kind"])
        cycle_seen = any(f["trace_id"] == planted["handoff_loop"] and "→" in f["explanation"] for f in body["findings"])
        if cycle_seen and all(EXPECTED_KIND[fault] in found.get(trace, set()) for fault, trace in planted.items()):
            break
        time.sleep(1)
    for fault, trace in planted.items():
        assert EXPECTED_KIND[fault] in found.get(trace, set()), (fault, found)
    assert not clean & set(found), {t: found[t] for t in clean & set(found)}
    # The planted loop shows as the hand-off cycle (and may also show as the repeated identical model call inside it).
    [loop] = [f for f in body["findings"] if f["trace_id"] == planted["handoff_loop"] and "→" in f["explanation"]]
    assert len(loop["agents"]) >= 2 and "→" in loop["explanation"] and loop["span_ids"]
    for f in body["findings"]:
        assert set(f) >= {
            "id",
            "kind",
            "severity",
            "trace_id",
            "span_ids",
            "agents",
            "wasted_tokens",
            "wasted_cost_usd",
            "explanation",
            "detected_at",
        }
