"""Reading a fixture back, breaking its delivery the way the real world does, and comparing what tracehouse made of it
with `expected.json` (which comes from the fake server's log and the scenario's structure, never from tracehouse)."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehouse.sdk.pricing import default_prices, undated

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_CLEAN_TOOLS = ("final_answer",)  # smolagents' own answer tool: not one of the app's tool functions


@dataclass
class Fixture:
    name: str
    path: Path
    expected: dict[str, Any]

    def requests(self) -> list[ExportTraceServiceRequest]:
        return [ExportTraceServiceRequest.FromString(p.read_bytes()) for p in sorted(self.path.glob("requests/*.pb"))]


def fixtures() -> list[Fixture]:
    return [
        Fixture(p.parent.name, p.parent, json.loads(p.read_text())) for p in sorted(FIXTURES.glob("*/expected.json"))
    ]


# -- delivery -------------------------------------------------------------------------------------------------------
def retrace(requests: list[ExportTraceServiceRequest], salt: str) -> list[ExportTraceServiceRequest]:
    """The same requests with every trace id (and linked trace id) mapped through `salt`: one fixture can be replayed
    many times into one project without its traces meeting."""

    def new_id(old: bytes) -> bytes:
        return hashlib.sha256(salt.encode() + old).digest()[:16]

    out = []
    for request in requests:
        copy = ExportTraceServiceRequest()
        copy.CopyFrom(request)
        for rs in copy.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    span.trace_id = new_id(span.trace_id)
                    for link in span.links:
                        link.trace_id = new_id(link.trace_id)
        out.append(copy)
    return out


def trace_ids(requests: Iterable[ExportTraceServiceRequest]) -> set[str]:
    return {s.trace_id.hex() for r in requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans}


def one_span_per_request(
    requests: list[ExportTraceServiceRequest], *, shuffle: random.Random | None = None
) -> list[ExportTraceServiceRequest]:
    """Every span in a request of its own: children before parents (deepest first), or in a random order."""
    singles: list[tuple[int, ExportTraceServiceRequest]] = []
    depth = _depths(requests)
    for request in requests:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    single = ExportTraceServiceRequest()
                    out_rs = single.resource_spans.add()
                    out_rs.resource.CopyFrom(rs.resource)
                    out_ss = out_rs.scope_spans.add()
                    out_ss.scope.CopyFrom(ss.scope)
                    out_ss.spans.add().CopyFrom(span)
                    singles.append((depth.get(span.span_id, 0), single))
    if shuffle is not None:
        shuffle.shuffle(singles)
        return [s for _, s in singles]
    return [s for _, s in sorted(singles, key=lambda d: -d[0])]


def _depths(requests: list[ExportTraceServiceRequest]) -> dict[bytes, int]:
    parent = {
        s.span_id: s.parent_span_id
        for r in requests
        for rs in r.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    }
    depth: dict[bytes, int] = {}
    for span_id in parent:
        d, cur, seen = 0, parent.get(span_id), {span_id}
        while cur and cur in parent and cur not in seen:
            seen.add(cur)
            d += 1
            cur = parent.get(cur)
        depth[span_id] = d
    return depth


# -- comparison -----------------------------------------------------------------------------------------------------
def actual(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The expected.json keys computed from the steps tracehouse serves (`/api/traces/{id}` step objects)."""
    llm = [s for s in steps if s["step_type"] == "llm"]
    tools = [s for s in steps if s["step_type"] == "tool" and s["tool_name"] not in _CLEAN_TOOLS]
    executed: dict[str, Counter[str]] = {}
    for s in tools:
        executed.setdefault(s["agent"], Counter())[s["tool_name"]] += 1
    handoffs = sorted((s for s in steps if s["handoff_target"]), key=lambda s: s["start_time"])
    return {
        "llm_calls": len(llm),
        "input_tokens": sum(s["input_tokens"] or 0 for s in steps),
        "output_tokens": sum(s["output_tokens"] or 0 for s in steps),
        "cost_usd": round(sum(s["cost_usd"] or 0 for s in steps), 9),
        # Several instrumentations record only the dated snapshot the provider answered with.
        "models": sorted({undated(s["request_model"]) for s in llm}),
        "agents": sorted({s["agent"] for s in steps if s["agent"]}),
        "llm_calls_by_agent": dict(Counter(s["agent"] for s in llm)),
        "tools_executed": {a: dict(c) for a, c in executed.items()},
        "tools_requested": dict(Counter(c["name"] for s in llm for c in s["tool_calls"])),
        "handoffs": [[s["handoff_source"], s["handoff_target"]] for s in handoffs],
        "failed_tools": dict(Counter(s["tool_name"] for s in tools if s["status"] == "error" or s["error_type"])),
    }


def expected_cost(expected: dict[str, Any]) -> float:
    """What the price table says the fake server's usage costs (every call of a scenario uses one model)."""
    [model] = expected["models"]
    cost = default_prices().cost(model, expected["input_tokens"], expected["output_tokens"])
    return round(cost or 0.0, 9)


# What needs agent names in the spans; where an instrumentation emits none (`emits.agent_names: false`), the README's
# "Works with" table says so and these keys are compared without the agent.
AGENT_KEYS = ("agents", "llm_calls_by_agent", "handoffs")


def without_agents(got: dict[str, Any]) -> dict[str, Any]:
    flat: Counter[str] = Counter()
    for tools in got["tools_executed"].values():
        flat.update(tools)
    return {**{k: v for k, v in got.items() if k not in AGENT_KEYS}, "tools_executed": dict(flat)}


# Where the app runs the tools itself, no span says a tool ran, or failed: the model call shows the tools it asked for.
TOOL_SPAN_KEYS = ("tools_executed", "failed_tools")
# What tracehouse cannot recover yet from what a scenario sends, with the reason (the README's "Works with" says so).
KNOWN_GAPS: dict[str, dict[str, str]] = {
    "openai_raw_otel_genai": {
        "tools_requested": "requested tools are only in gen_ai.choice log records, and tracehouse reads no logs yet",
        "handoffs": "the transfer_to_billing request is only in gen_ai.choice log records",
    },
}


# Where the instrumentation emits no agent attribute but tracehouse still recovers the names, and from what.
RECOVERED_AGENTS: dict[str, str] = {
    "smolagents_openinference": "names from the AGENT spans' names (`manager.run`)",
}


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Each key where tracehouse differs from the truth, as one line."""
    if not expected["emits"]["agent_names"] and expected["scenario"] not in RECOVERED_AGENTS:
        expected, got = without_agents(expected), without_agents(got)
    skip = set(KNOWN_GAPS.get(expected["scenario"], {}))
    if not expected["emits"]["tool_spans"]:
        skip.update(TOOL_SPAN_KEYS)
    got = {k: v for k, v in got.items() if k not in skip}
    want = {k: expected[k] for k in got if k in expected}
    if "agents" in want:
        want["agents"] = sorted(expected["agents"])
    want["cost_usd"] = expected_cost(expected)
    out = []
    for key, value in want.items():
        have = got[key]
        if key == "cost_usd":
            if abs(have - value) > 1e-9:
                out.append(f"{key}: expected {value}, got {have}")
        elif have != value:
            out.append(f"{key}: expected {value}, got {have}")
    return out
