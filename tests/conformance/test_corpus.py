"""Every committed fixture is whole and says what its own logs say: the export requests decode as OTLP, the counted
values and versions in expected.json are the ones recomputed from calls.jsonl, tools.jsonl and versions.txt, the
structure matches the scenario's script and names only its declared agents. Guards against hand edits and
half-regenerated fixtures, before any replay test runs; needs no framework installed."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

CORPUS = Path(__file__).resolve().parent
FIXTURES = sorted(p.name for p in (CORPUS / "fixtures").iterdir() if (p / "expected.json").is_file())
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
EMITS = {"agent_names", "usage", "tool_spans", "handoff_spans"}
BUDGET_BYTES = 300 * 1024


def _load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance_harness_run", CORPUS / "harness" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN = _load_run()


def _expected(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / "fixtures" / name / "expected.json").read_text())


def test_every_scenario_has_a_fixture_and_every_fixture_a_scenario() -> None:
    assert RUN.scenario_names() == FIXTURES


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_counts_are_the_ones_its_logs_give(name: str) -> None:
    fixture = CORPUS / "fixtures" / name
    exp = _expected(name)
    assert set(exp) == KEYS and set(exp["emits"]) == EMITS
    pins = [line for line in (fixture / "versions.txt").read_text().splitlines() if "==" in line]
    recomputed = RUN.expected(
        name,
        RUN.load_script(name),
        RUN.read_jsonl(fixture / "calls.jsonl"),
        RUN.read_jsonl(fixture / "tools.jsonl"),
        pins,
    )
    assert exp == recomputed
    assert exp["llm_calls"] > 0 and exp["failed_tools"], "every scenario makes model calls and has a failing tool"
    assert exp["handoffs"] and len(exp["agents"]) >= 2, "every scenario is multi-agent with a hand-off/delegation"


@pytest.mark.parametrize("name", FIXTURES)
def test_agents_edges_and_tools_name_only_declared_agents(name: str) -> None:
    exp = _expected(name)
    agents = set(exp["agents"])
    assert set(exp["llm_calls_by_agent"]) <= agents and set(exp["tools_executed"]) <= agents
    assert {a for edge in exp["handoffs"] for a in edge} <= agents
    executed: Counter[str] = Counter()
    for per_agent in exp["tools_executed"].values():
        executed.update(per_agent)
    assert all(executed[tool] >= n for tool, n in exp["failed_tools"].items())


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_requests_are_otlp_with_the_declared_traces(name: str) -> None:
    fixture = CORPUS / "fixtures" / name
    bodies = sorted((fixture / "requests").glob("*.pb"))
    assert bodies, "no captured export request"
    trace_ids = set()
    for f in bodies:
        req = ExportTraceServiceRequest.FromString(f.read_bytes())
        trace_ids |= {s.trace_id for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans}
    for f in sorted((fixture / "logs").glob("*.pb")):
        assert ExportLogsServiceRequest.FromString(f.read_bytes()).resource_logs
    assert len(trace_ids) == _expected(name)["traces"]
    assert sum(p.stat().st_size for p in fixture.rglob("*") if p.is_file()) < BUDGET_BYTES
