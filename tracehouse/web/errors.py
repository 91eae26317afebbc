"""The one mapping from errors to HTTP answers: a `TracehouseError` answers its own status and one-line message, as
do FastAPI's `HTTPException` and a request that fails validation. JSON routes answer `{"error": message}`; the
dashboard's pages render the same status and message as a page (`dashboard/web.py`)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from tracehouse.errors import ServerError, TracehouseError, Unavailable

log = logging.getLogger("tracehouse")

ANSWERED = (TracehouseError, HTTPException, RequestValidationError)


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def http_answer(exc: Exception) -> tuple[int, str, dict[str, str]]:
    """Status, one-line message and headers for an error in `ANSWERED` (a server fault logs its detail here)."""
    if isinstance(exc, RequestValidationError):
        return 400, validation_message(exc), {}
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail), dict(exc.headers or {})
    if not isinstance(exc, TracehouseError):
        raise TypeError(f"not an answered error: {type(exc).__name__}")
    if isinstance(exc, Unavailable):
        log.warning("%s: %s", type(exc).__name__, exc.message)
    elif isinstance(exc, ServerError):
        log.error("%s: %s", type(exc).__name__, exc, exc_info=exc)
    return exc.http_status, exc.public_message, exc.http_headers


def json_error(exc: Exception) -> JSONResponse:
    status, message, headers = http_answer(exc)
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    """Registered once on the app: every route's errors get the answers above, never a stack trace."""

    async def handle(request: Request, exc: Exception) -> Response:
        return json_error(exc)

    for kind in ANSWERED:
        app.add_exception_handler(kind, handle)
