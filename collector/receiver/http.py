"""OTLP/HTTP: `POST /v1/traces` with protobuf or JSON bodies (gzip allowed), answered as the OTLP spec says."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from google.protobuf.json_format import MessageToDict
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from pydantic import BaseModel, Field

from tracehouse.collector.receiver.decode import PROTOBUF, decode, media_type
from tracehouse.collector.receiver.errors import (
    BadRequest,
    IngestError,
    Overloaded,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from tracehouse.collector.receiver.ingest import Ingest, IngestResult
from tracehouse.store import StoreUnavailable
from tracehouse.web.deps import resolve_project

router = APIRouter(tags=["otlp"])


class PartialSuccess(BaseModel):
    """The spans refused out of an accepted request, and why (OTLP's `ExportTracePartialSuccess` in JSON)."""

    rejectedSpans: str = Field(description="An int64, written as a string as OTLP/JSON does.")
    errorMessage: str = Field("", description="Absent when empty, as OTLP/JSON leaves out default values.")


class ExportResponse(BaseModel):
    """OTLP's `ExportTraceServiceResponse` in JSON: `{}` when every span was accepted."""

    partialSuccess: PartialSuccess | None = None


class ExportError(BaseModel):
    """A refused request: OTLP's `google.rpc.Status` in JSON (code 14 UNAVAILABLE is retryable, 3 is not)."""

    code: int
    message: str


# The answers are written by hand in the request's encoding (protobuf or JSON); these document the JSON ones.
_PROTOBUF_BODY: dict[str, object] = {"content": {PROTOBUF: {}}}
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"model": ExportResponse, **_PROTOBUF_BODY},
    **{
        e.http_status: {"model": ExportError, **_PROTOBUF_BODY}
        for e in (BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, Overloaded)
    },
}


_DISCARD_BYTES = 256 * 1024 * 1024  # read and drop at most this much of a refused body before answering


async def _discard(request: Request) -> None:
    """Read and drop the rest of a refused body, so the client reads the 413 instead of a reset connection (a
    server that answers and closes while the client is still sending makes the client's write fail)."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > _DISCARD_BYTES:
            return


async def _read_bounded(request: Request, limit: int) -> bytes:
    """The body, refusing it as soon as it passes `limit` bytes on the wire (without keeping what was sent)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        await _discard(request)
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            chunks.clear()
            await _discard(request)
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(result: IngestResult, kind: str) -> Response:
    response = ExportTraceServiceResponse()
    if result.rejected:
        response.partial_success.rejected_spans = result.rejected
        response.partial_success.error_message = result.message
    if kind == PROTOBUF:
        return Response(response.SerializeToString(), media_type=PROTOBUF)
    return Response(json.dumps(MessageToDict(response)), media_type="application/json")


def _error(exc: IngestError, kind: str) -> Response:
    """An OTLP error answer: a google.rpc.Status in the request's encoding, plus Retry-After when retryable."""
    status = Status(code=14 if exc.retryable else 3, message=str(exc))
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else {}
    if kind == PROTOBUF:
        return Response(status.SerializeToString(), status_code=exc.http_status, media_type=PROTOBUF, headers=headers)
    return Response(
        content=json.dumps({"code": status.code, "message": status.message}),
        status_code=exc.http_status,
        media_type="application/json",
        headers=headers,
    )


@router.post("/v1/traces", summary="OTLP/HTTP trace export", responses=_RESPONSES)
async def export_traces(request: Request) -> Response:
    ingest: Ingest = request.app.state.ingest
    limit: int = request.app.state.settings.max_request_bytes
    try:
        kind = media_type(request.headers.get("content-type"))
    except IngestError as exc:
        return _error(exc, "application/json")
    outcome = "ok"
    try:
        try:
            project = resolve_project(request)
        except StoreUnavailable as exc:
            raise Overloaded(str(exc)) from None
        if project is None:
            raise Unauthorized("missing or invalid API key (Authorization: Bearer <key> or x-tracehouse-key)")
        # Bounded by the wire limit here, and by the same limit after decompression in decode().
        body = await _read_bounded(request, limit)
        encoding = request.headers.get("content-encoding")
        otlp, kind, payload = await run_in_threadpool(decode, body, kind, encoding, limit)
        result = await run_in_threadpool(ingest.accept, project, otlp, payload)
        if result.rejected:
            outcome = "partial"
        return _answer(result, kind)
    except IngestError as exc:
        outcome = type(exc).__name__
        return _error(exc, kind)
    finally:
        ingest.metrics.requests.labels("http", outcome).inc()
