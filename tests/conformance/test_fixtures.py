"""Every committed fixture is whole and agrees with itself: expected.json has the replay tests' keys, its counts are
what the fake server's log says, its trace count is what the captured requests hold, and its versions are the ones
recorded beside it. A hand edit or a half-finished regeneration fails here, before any replay test runs."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file()) if FIXTURES.is_dir() else []
KEYS = {
    "scenario",
    "framework",
    "instrumentation",
    "convention",
    "traces",
    "llm_calls",
    "input_tokens",
    "output_tokens",
    "models",
    "agents",
    "llm_calls_by_agent",
    "tools_executed",
    "tools_requested",
    "handoffs",
    "failed_tools",
    "emits",
    "planted",
    "notes",
}
MAX_FIXTURE_BYTES = 300 * 1024


def norm(dist: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def load(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    folder = FIXTURES / name
    expected = json.loads((folder / "expected.json").read_text())
    calls = [json.loads(line) for line in (folder / "calls.jsonl").read_text().splitlines() if line.strip()]
    return expected, calls


@pytest.mark.parametrize("name", NAMES)
def test_expected_counts_are_the_fake_servers_log(name: str) -> None:
    expected, calls = load(name)
    assert set(expected) == KEYS
    assert expected["scenario"] == name
    assert expected["llm_calls"] == len(calls)
    assert expected["input_tokens"] == sum(c["input_tokens"] or 0 for c in calls)
    assert expected["output_tokens"] == sum(c["output_tokens"] or 0 for c in calls)
    assert expected["models"] == sorted({c["model"] for c in calls})
    assert expected["llm_calls_by_agent"] == dict(Counter(c["agent"] for c in calls))
    assert expected["tools_requested"] == dict(Counter(t["name"] for c in calls for t in c["tool_calls"]))


@pytest.mark.parametrize("name", NAMES)
def test_agents_edges_and_tools_name_only_declared_agents(name: str) -> None:
    expected, _ = load(name)
    agents = set(expected["agents"])
    assert set(expected["llm_calls_by_agent"]) <= agents
    assert set(expected["tools_executed"]) <= agents
    assert {a for edge in expected["handoffs"] for a in edge} <= agents
    executed: Counter[str] = Counter()
    for per_agent in expected["tools_executed"].values():
        executed.update(per_agent)
    assert all(executed[tool] >= n for tool, n in expected["failed_tools"].items())


@pytest.mark.parametrize("name", NAMES)
def test_captured_requests_hold_the_declared_traces(name: str) -> None:
    expected, _ = load(name)
    bodies = sorted((FIXTURES / name / "requests").glob("*.pb"))
    assert bodies, "no captured export request"
    trace_ids = set()
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body.read_bytes())
        trace_ids |= {s.trace_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert len(trace_ids) == expected["traces"]


@pytest.mark.parametrize("name", NAMES)
def test_versions_are_recorded_and_the_fixture_is_small(name: str) -> None:
    expected, _ = load(name)
    lines = (FIXTURES / name / "versions.txt").read_text().splitlines()
    pins = {norm(n): v for n, _, v in (line.partition("==") for line in lines if "==" in line)}
    for field in ("framework", "instrumentation"):
        dist, _, version = expected[field].partition(" ")
        if version:  # "native" instrumentations carry no version of their own
            assert pins.get(norm(dist)) == version, f"{expected[field]} not in versions.txt"
    size = sum(p.stat().st_size for p in (FIXTURES / name).rglob("*") if p.is_file())
    assert size < MAX_FIXTURE_BYTES
