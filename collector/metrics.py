"""The collector's own counters, exposed in Prometheus text at /metrics (one registry per server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics

disable_created_metrics()  # the *_created series only add noise to every scrape


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tracehouse_requests", "OTLP export requests by protocol and outcome", ["protocol", "outcome"], registry=r
        )
        self.spans_accepted = Counter("tracehouse_spans_accepted", "Spans accepted (spooled)", registry=r)
        self.spans_rejected = Counter("tracehouse_spans_rejected", "Spans refused as invalid", registry=r)
        self.batches_spooled = Counter("tracehouse_batches_spooled", "Requests appended to the spool", registry=r)
        self.spans_written = Counter("tracehouse_spans_written", "Steps inserted into ClickHouse", registry=r)
        self.corrections_written = Counter(
            "tracehouse_steps_corrected", "Steps re-written by the trace finaliser", registry=r
        )
        self.write_errors = Counter("tracehouse_write_errors", "Failed ClickHouse inserts (retried)", registry=r)
        self.attributes_dropped = Counter(
            "tracehouse_attributes_dropped", "Attributes cut by the size bounds", registry=r
        )
        self.quarantined = Counter(
            "tracehouse_spool_quarantined_records", "Spool records moved to quarantine after failing", registry=r
        )
        self.quarantine_records = Gauge(
            "tracehouse_spool_quarantine_size", "Spool records waiting in quarantine", registry=r
        )
        self.spool_bytes = Gauge("tracehouse_spool_bytes", "Bytes in the spool not yet written", registry=r)
        self.spool_lag = Gauge("tracehouse_spool_lag_batches", "Spooled batches not yet written", registry=r)
