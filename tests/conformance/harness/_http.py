"""Reading and answering requests on the harness's two stdlib HTTP servers (fake model and OTLP capture).

Clients send bodies with Content-Length or, some of them, chunked; both must reach the servers whole.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        parts = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()  # the CRLF after each chunk
        while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def send(handler: BaseHTTPRequestHandler, status: int, ctype: str, payload: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
