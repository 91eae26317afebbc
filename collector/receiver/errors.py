"""What can go wrong with a request, as types; each maps to one HTTP status and one gRPC code in one place."""

from __future__ import annotations


class IngestError(Exception):
    """Base: a request the collector will not take; `str(exc)` is the one-line message sent back."""

    http_status = 400
    retryable = False


class BadRequest(IngestError):
    http_status = 400


class Unauthorized(IngestError):
    http_status = 401


class PayloadTooLarge(IngestError):
    http_status = 413


class UnsupportedMediaType(IngestError):
    http_status = 415


class Overloaded(IngestError):
    """The spool is full (the store is behind or down): the client should retry after `retry_after` seconds."""

    http_status = 503
    retryable = True

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
