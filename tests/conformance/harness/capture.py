"""An OTLP/HTTP receiver on loopback that keeps every export request exactly as the instrumentation sent it.

The corpus's fixtures must be what a real exporter puts on the wire, so nothing here decodes or re-encodes: each
body is gunzipped (when `Content-Encoding: gzip`) and written as-is, one file per request, numbered in arrival
order across all signals:

    <out>/requests/0001.pb   a POST /v1/traces body (ExportTraceServiceRequest, protobuf)
    <out>/logs/0002.pb       a POST /v1/logs body (ExportLogsServiceRequest)

A JSON body (`http/json` exporters) keeps the `.json` suffix. `/v1/metrics` is answered and dropped: the corpus is
about spans. Every request gets 200 with an empty export response in its own encoding, so no exporter retries.
Only the standard library is used.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _http import read_body, send

FOLDERS = {"/v1/traces": "requests", "/v1/logs": "logs"}


class Capture:
    """`with Capture(out_dir) as cap: cap.endpoint` (the base URL to put in OTEL_EXPORTER_OTLP_ENDPOINT)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.seq = 0
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {"requests": 0, "logs": 0, "metrics": 0}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-capture", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Capture:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def store(self, path: str, body: bytes, json_body: bool) -> None:
        """Write one body under the next number; the lock makes file numbers follow arrival order."""
        folder = FOLDERS.get(path)
        with self.lock:
            if folder is None:
                self.counts["metrics"] += 1
                return
            self.seq += 1
            self.counts[folder] += 1
            target = self.out_dir / folder / f"{self.seq:04d}.{'json' if json_body else 'pb'}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                path = self.path.split("?")[0].rstrip("/")
                raw = read_body(self)
                if path not in (*FOLDERS, "/v1/metrics"):
                    self._send(404, "text/plain", b"unknown OTLP path")
                    return
                try:
                    body = _decode(raw, self.headers.get("Content-Encoding", ""))
                except (OSError, zlib.error) as e:
                    self._send(400, "text/plain", f"undecodable body: {e}".encode())
                    return
                is_json = "json" in self.headers.get("Content-Type", "")
                cap.store(path, body, is_json)
                if is_json:
                    self._send(200, "application/json", b"{}")
                else:
                    self._send(200, "application/x-protobuf", b"")  # an empty Export*ServiceResponse

            def _send(self, status: int, ctype: str, payload: bytes) -> None:
                send(self, status, ctype, payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _decode(raw: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    return raw
