"""Print what a fixture's captured export requests contain: one line per span, or a JSON summary.

A reading aid for writing `emits` and `notes` in expected.json (which are about the raw input), and the source of
run.py's sanity check on the number of traces. It needs `opentelemetry-proto`, which every scenario venv has (the
OTLP exporter depends on it), as does tracehouse's own venv.

    python tests/conformance/harness/otlp_dump.py tests/conformance/fixtures/NAME [--summary] [--attrs]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def spans(fixture: Path) -> Iterator[tuple[str, Span]]:
    """(request file name, span) for every span of every captured trace request, in arrival order."""
    for f in sorted((fixture / "requests").glob("*.pb")):
        req = ExportTraceServiceRequest.FromString(f.read_bytes())
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    yield f.name, s


def log_records(fixture: Path) -> Iterator[tuple[str, Any]]:
    """(request file name, log record) for every captured /v1/logs request, in arrival order."""
    for f in sorted((fixture / "logs").glob("*.pb")):
        req = ExportLogsServiceRequest.FromString(f.read_bytes())
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    yield f.name, r


def summary(fixture: Path) -> dict[str, Any]:
    all_spans = [s for _, s in spans(fixture)]
    links = sum(len(s.links) for s in all_spans)
    logs = sum(1 for _ in log_records(fixture))
    return {"spans": len(all_spans), "traces": len({s.trace_id for s in all_spans}), "links": links, "logs": logs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fixture", type=Path)
    ap.add_argument("--summary", action="store_true", help="print counts as JSON")
    ap.add_argument("--attrs", action="store_true", help="print every attribute under its span")
    args = ap.parse_args()
    if args.summary:
        print(json.dumps(summary(args.fixture)))
        return
    for name, s in spans(args.fixture):
        status = "ERROR" if s.status.code == Status.STATUS_CODE_ERROR else ""
        parent = s.parent_span_id.hex()[:6] or "-"
        print(f"{name} {s.trace_id.hex()[:6]} {s.span_id.hex()[:6]}<{parent} {s.name!r} kind={s.kind} {status}")
        if args.attrs:
            for kv in s.attributes:
                text = json.dumps(value(kv.value))
                print(f"    {kv.key} = {text[:200]}{'…' if len(text) > 200 else ''}")
            for e in s.events:
                text = json.dumps({kv.key: value(kv.value) for kv in e.attributes})
                print(f"    event {e.name} {text[:200]}{'…' if len(text) > 200 else ''}")
            for link in s.links:
                print(f"    link -> {link.trace_id.hex()[:6]} {link.span_id.hex()[:6]}")
    for name, r in log_records(args.fixture):
        attrs = {kv.key: value(kv.value) for kv in r.attributes}
        body = json.dumps(value(r.body))
        print(f"{name} log {r.trace_id.hex()[:6]} {r.span_id.hex()[:6]} {r.event_name or ''} {attrs} {body[:200]}")


if __name__ == "__main__":
    main()
