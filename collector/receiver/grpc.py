"""OTLP/gRPC: `TraceService/Export` on its own port, sharing validation and the spool with the HTTP receiver.

The method is registered with a raw-bytes request (no deserializer), so a body that is not an
ExportTraceServiceRequest is this handler's INVALID_ARGUMENT rather than grpc's INTERNAL "Exception deserializing
request", and the bytes received are the bytes spooled (no re-serialisation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tracehouse.collector.receiver.decode import decode_protobuf
from tracehouse.collector.receiver.errors import IngestError, Overloaded, Unauthorized
from tracehouse.collector.receiver.ingest import Ingest
from tracehouse.store import StoreUnavailable

log = logging.getLogger(__name__)

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def key_from_metadata(metadata: tuple[tuple[str, str | bytes], ...]) -> str | None:
    for name, value in metadata:
        text = value.decode() if isinstance(value, bytes) else value
        if name == "authorization" and text[:7].lower() == "bearer ":
            return text[7:].strip() or None
        if name == "x-tracehouse-key":
            return text or None
    return None


_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class TraceService:
    def __init__(self, ingest: Ingest, project_for_key: Callable[[str | None], str | None]) -> None:
        self._ingest = ingest
        self._project_for_key = project_for_key

    def handler(self) -> grpc.GenericRpcHandler:
        """`Export` taking the request body as bytes (decoded here, so a bad body is INVALID_ARGUMENT)."""
        export: grpc.RpcMethodHandler[bytes, ExportTraceServiceResponse] = grpc.unary_unary_rpc_method_handler(
            self.Export, response_serializer=ExportTraceServiceResponse.SerializeToString
        )
        return grpc.method_handlers_generic_handler(_SERVICE, {"Export": export})

    def Export(self, body: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        outcome = "ok"
        try:
            try:
                project = self._project_for_key(key_from_metadata(tuple(context.invocation_metadata())))
            except StoreUnavailable as exc:
                raise Overloaded(str(exc)) from None
            if project is None:
                raise Unauthorized("missing or invalid API key (metadata authorization: Bearer <key>)")
            result = self._ingest.accept(project, decode_protobuf(body), body)
            response = ExportTraceServiceResponse()
            if result.rejected:
                outcome = "partial"
                response.partial_success.rejected_spans = result.rejected
                response.partial_success.error_message = result.message
            return response
        except IngestError as exc:
            outcome = type(exc).__name__
            code = _CODES.get(exc.http_status, grpc.StatusCode.INVALID_ARGUMENT)
            if isinstance(exc, Overloaded):
                # RetryInfo in the status details tells OTLP exporters how long to back off.
                detail = AnyProto()
                detail.Pack(RetryInfo(retry_delay=Duration(seconds=exc.retry_after)))
                status = Status(code=code.value[0], message=str(exc), details=[detail])
                context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            context.abort(code, str(exc))
            raise  # unreachable: abort raises
        finally:
            self._ingest.metrics.requests.labels("grpc", outcome).inc()


class GrpcReceiver:
    """The gRPC server, started and stopped with `tracehouse serve`."""

    def __init__(
        self,
        ingest: Ingest,
        project_for_key: Callable[[str | None], str | None],
        host: str,
        port: int,
        max_message_bytes: int,
    ) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-grpc"),
            options=[("grpc.max_receive_message_length", max_message_bytes)],
        )
        self._server.add_generic_rpc_handlers((TraceService(ingest, project_for_key).handler(),))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.port = self._server.add_insecure_port(address)

    def start(self) -> None:
        self._server.start()
        log.info("OTLP/gRPC listening on port %d", self.port)

    def stop(self) -> None:
        self._server.stop(grace=5).wait()
