"""Decoding OTLP trace requests: protobuf or the OTLP JSON mapping, optionally gzip'd, within a size bound."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracehouse.collector.receiver.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`; refuse anything OTLP does not define."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise UnsupportedMediaType(
        f"unsupported content type {kind or '(none)'!r}: send application/x-protobuf or application/json"
    )


def decompress(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """Undo `Content-Encoding`; the limit applies to the decompressed size too, so a gzip bomb is refused."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {max_bytes}")
        return body
    if enc not in ("gzip", "deflate"):
        raise UnsupportedMediaType(f"unsupported content encoding {enc!r}: use gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if enc == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {enc}: {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds the limit of {max_bytes} bytes")
    return out


def decode_protobuf(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        raise BadRequest(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    return request


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids_to_base64(obj: dict[str, Any]) -> None:
    """OTLP/JSON spells ids in hex where proto3 JSON expects base64; an id that is not hex becomes empty, so the
    normaliser refuses that one span (partial success) instead of the whole request failing."""
    for name in _ID_FIELDS:
        value = obj.get(name)
        if isinstance(value, str) and value:
            try:
                obj[name] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                obj[name] = ""


def decode_json(data: bytes) -> ExportTraceServiceRequest:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("body is not valid OTLP/JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object with resourceSpans")
    try:
        for rs in doc.get("resourceSpans") or []:
            for ss in rs.get("scopeSpans") or []:
                for span in ss.get("spans") or []:
                    _hex_ids_to_base64(span)
                    for link in span.get("links") or []:
                        _hex_ids_to_base64(link)
        request = ExportTraceServiceRequest()
        ParseDict(doc, request, ignore_unknown_fields=True)
    except (ParseError, AttributeError, TypeError, ValueError, binascii.Error) as exc:
        raise BadRequest(f"body is not an OTLP/JSON ExportTraceServiceRequest: {str(exc)[:300]}") from None
    except RecursionError:
        raise BadRequest("body is not valid OTLP/JSON: nested too deeply") from None
    return request


def decode(
    body: bytes, content_type: str | None, content_encoding: str | None, max_bytes: int
) -> tuple[ExportTraceServiceRequest, str, bytes]:
    """The request, its media type, and the protobuf bytes to spool (the body itself when it was protobuf)."""
    kind = media_type(content_type)
    data = decompress(body, content_encoding, max_bytes)
    if kind == PROTOBUF:
        return decode_protobuf(data), kind, data
    request = decode_json(data)
    try:
        return request, kind, request.SerializeToString()
    except ValueError as exc:  # a string JSON allows and protobuf does not (a lone surrogate)
        raise BadRequest(f"body is not an OTLP/JSON ExportTraceServiceRequest: {str(exc)[:300]}") from None
