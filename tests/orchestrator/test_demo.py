"""`tracehouse demo` end to end: a child process runs the demo against a local OTLP/HTTP receiver; the decoded spans
must show every planted fault and nothing suspicious in the clean runs."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tracehouse.sdk import semconv as sc


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []
    headers_seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        Receiver.bodies.append(body)
        Receiver.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet (no access log)."""


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.bodies, Receiver.headers_seen = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def _spans() -> dict[str, list[dict[str, Any]]]:
    traces: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for body in Receiver.bodies:
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    traces[s.trace_id.hex()].append(
                        {
                            "name": s.name,
                            "attrs": {a.key: _value(a.value) for a in s.attributes},
                            "events": [(e.name, {a.key: _value(a.value) for a in e.attributes}) for e in s.events],
                            "error": s.status.code == 2,
                            "parent": s.parent_span_id.hex(),
                        }
                    )
    return traces


def test_demo_sends_every_workflow_with_its_planted_fault(endpoint: str) -> None:
    code = (
        "from tracehouse.orchestrator.cli import demo; "
        f"demo.main(['--endpoint', '{endpoint}', '--api-key', 'demo-key', '--no-eval', '--no-check'],"
        " standalone_mode=False)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(f"{endpoint}/traces/") == 8 and f"{endpoint}/agents" in proc.stdout
    assert any("demo-key" in " ".join(h.values()) for h in Receiver.headers_seen)

    traces = _spans()
    by_workflow = {}
    for tid, spans in traces.items():
        roots = [s for s in spans if s["attrs"].get(sc.GEN_AI_OPERATION_NAME) == sc.OP_INVOKE_WORKFLOW]
        assert len(roots) == 1
        by_workflow[roots[0]["attrs"][sc.GEN_AI_AGENT_NAME]] = spans
        assert tid in proc.stdout
    assert set(by_workflow) == {
        "demo.research",
        "demo.support_router",
        "demo.fanout",
        "demo.state_machine",
        "demo.handoff_loop",
        "demo.duplicate_work",
        "demo.retry_storm",
        "demo.cost_cap",
    }

    def attempts(spans: list[dict[str, Any]]) -> int:
        return max((s["attrs"].get(sc.RETRY_ATTEMPT, 1) for s in spans), default=1)

    def loops(spans: list[dict[str, Any]]) -> bool:
        return any(s["attrs"].get(sc.LOOP_DETECTED) for s in spans)

    def duplicates(spans: list[dict[str, Any]]) -> set[str]:
        agents: dict[tuple[str, str], set[str]] = defaultdict(set)
        for s in spans:
            h = s["attrs"].get(sc.CONTENT_HASH)
            if h and not s["attrs"].get(sc.DEDUP_HIT):
                agents[(s["attrs"][sc.GEN_AI_OPERATION_NAME], h)].add(s["attrs"].get(sc.GEN_AI_AGENT_NAME, ""))
        return {h for (_, h), who in agents.items() if len(who) > 1}

    for clean in ("demo.research", "demo.support_router", "demo.fanout", "demo.state_machine"):
        spans = by_workflow[clean]
        assert attempts(spans) == 1, clean
        assert not loops(spans), clean
        assert not duplicates(spans), clean
        assert not any(s["error"] for s in spans), clean

    assert loops(by_workflow["demo.handoff_loop"])
    assert len([s for s in by_workflow["demo.handoff_loop"] if s["name"].startswith("execute_tool transfer_to_")]) > 4
    assert duplicates(by_workflow["demo.duplicate_work"])
    storm = by_workflow["demo.retry_storm"]
    assert attempts(storm) >= 3 and sum(s["error"] for s in storm) >= 6
    assert any(s["name"].startswith("invoke_agent") and s["attrs"].get(sc.RETRY_ATTEMPT, 1) > 1 for s in storm)
    [root] = [s for s in by_workflow["demo.cost_cap"] if s["name"].startswith("invoke_workflow")]
    assert any(
        name == sc.EVENT_RUN_TERMINATED and ev.get(sc.ERROR_TYPE) == "BudgetExceeded" for name, ev in root["events"]
    )
