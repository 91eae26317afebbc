"""What can go wrong with a request, as types; each maps to one HTTP status and one gRPC code in one place.

They are `tracehouse.errors` kinds (the one root), so a route that raises one gets the server's one HTTP mapping."""

from __future__ import annotations

from tracehouse import errors


class IngestError(errors.TracehouseError):
    """Base: a request the collector will not take; `str(exc)` is the one-line message sent back."""

    http_status = 400
    retryable = False


class BadRequest(IngestError, errors.BadInput):
    http_status = 400


class Unauthorized(IngestError, errors.Unauthorized):
    http_status = 401


class PayloadTooLarge(IngestError, errors.PayloadTooLarge):
    http_status = 413


class UnsupportedMediaType(IngestError, errors.UnsupportedMediaType):
    http_status = 415


class Overloaded(IngestError, errors.Unavailable):
    """The spool is full (the store is behind or down): the client should retry after `retry_after` seconds."""

    http_status = 503
    retryable = True

    def __init__(self, message: str, retry_after: int = 5) -> None:
        errors.Unavailable.__init__(self, message, retry_after)
