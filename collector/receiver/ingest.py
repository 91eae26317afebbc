"""What both receivers do with a decoded request: count invalid spans, spool the rest durably, and report."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehouse.collector.metrics import CollectorMetrics
from tracehouse.collector.normalise import count_invalid_spans
from tracehouse.collector.receiver.errors import Overloaded
from tracehouse.collector.spool import Spool, SpoolFull


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    rejected: int
    message: str


class Ingest:
    """Validate, spool, count. The spool append (with fsync) happens before the caller answers."""

    def __init__(self, spool: Spool, metrics: CollectorMetrics) -> None:
        self.spool = spool
        self.metrics = metrics

    def accept(self, project_id: str, request: ExportTraceServiceRequest, payload: bytes) -> IngestResult:
        total = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        rejected, message = count_invalid_spans(request) if total else (0, "")
        accepted = total - rejected
        if accepted:
            try:
                self.spool.append(project_id, payload)
            except SpoolFull as exc:
                raise Overloaded(f"collector is behind ({exc}); retry later") from None
            self.metrics.batches_spooled.inc()
        self.metrics.spans_accepted.inc(accepted)
        self.metrics.spans_rejected.inc(rejected)
        return IngestResult(accepted, rejected, message)
