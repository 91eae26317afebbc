"""Export over real OTLP/HTTP: to a tiny receiver started by the test, and to a closed port without blocking."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider

from tracehouse import sdk


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], ExportTraceServiceRequest]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, request))
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, str], ExportTraceServiceRequest]]]]:
    handler = type("Handler", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    server.shutdown()
    server.server_close()


def test_spans_reach_an_otlp_http_receiver_with_the_api_key(
    receiver: tuple[str, list[tuple[str, dict[str, str], ExportTraceServiceRequest]]],
) -> None:
    url, received = receiver
    sdk.init(endpoint=url, api_key="th_secret", service_name="svc-test", tracer_provider=TracerProvider())
    with sdk.agent("exported"):
        pass
    sdk.shutdown()
    assert received, "nothing was exported"
    path, headers, request = received[0]
    assert path == "/v1/traces"
    assert headers["authorization"] == "Bearer th_secret"
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == ["invoke_agent exported"]


def test_endpoint_and_key_from_environment(
    receiver: tuple[str, list[tuple[str, dict[str, str], ExportTraceServiceRequest]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = receiver
    monkeypatch.setenv("TRACEHOUSE_ENDPOINT", url)
    monkeypatch.setenv("TRACEHOUSE_API_KEY", "th_env")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=agents")
    sdk.init(tracer_provider=TracerProvider())
    with sdk.tool("t"):
        pass
    sdk.shutdown()
    _, headers, _ = received[0]
    assert headers["authorization"] == "Bearer th_env"
    assert headers["x-team"] == "agents"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_never_blocks_the_application() -> None:
    sdk.init(endpoint=f"http://127.0.0.1:{_closed_port()}", tracer_provider=TracerProvider())
    started = time.monotonic()
    for i in range(200):
        with sdk.agent(f"a{i % 5}"), sdk.tool("t"):
            pass
    assert sdk.force_flush(timeout_s=0.5) is False  # export keeps failing, flush gives up on time
    sdk.shutdown(timeout_s=1.0)
    assert time.monotonic() - started < 4.0
