"""What both receivers do with a decoded request: count invalid spans, spool the rest durably, and report."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehouse.collector.metrics import CollectorMetrics
from tracehouse.collector.normalise import count_invalid_spans
from tracehouse.collector.receiver.errors import Overloaded
from tracehouse.collector.spool import Spool, SpoolFull, SpoolWriteFailed

_SOURCE_ATTRIBUTES = ("service.name", "service.instance.id", "host.name", "process.pid")


def source_key(request: ExportTraceServiceRequest) -> int:
    """A number naming the process that sent the batch (from its resource), so that the writer hands one
    sender's batches to one encoder, where the spans of a trace meet their ancestors."""
    if not request.resource_spans:
        return 0
    found = {kv.key: kv.value for kv in request.resource_spans[0].resource.attributes if kv.key in _SOURCE_ATTRIBUTES}
    text = "|".join(str(found[k]) if k in found else "" for k in _SOURCE_ATTRIBUTES)
    # blake2b, not crc32: CRC is linear, so keys differing in one character often share their low bits.
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(), "little")


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
        rejected, message = count_invalid_spans(request, payload) if total else (0, "")
        accepted = total - rejected
        if accepted:
            try:
                self.spool.append(project_id, payload, source_key(request))
            except SpoolWriteFailed as exc:  # rolled back: nothing of this request is spooled
                raise Overloaded(f"could not spool the request ({exc}); retry later") from None
            except SpoolFull as exc:
                raise Overloaded(f"collector is behind ({exc}); retry later") from None
            self.metrics.batches_spooled.inc()
        self.metrics.spans_accepted.inc(accepted)
        self.metrics.spans_rejected.inc(rejected)
        return IngestResult(accepted, rejected, message)
