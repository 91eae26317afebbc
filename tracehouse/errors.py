"""The one error root: every error a person or a program is shown is a `TracehouseError`, and carries its answer.

An error class says which HTTP status a route answers with, which exit code a command ends with, and its message is
one line. The answer is decided here and mapped in two places only: to HTTP by `tracehouse.web.errors` (registered
once on the app), and to the command line by `TracehouseGroup` below (one line on stderr, the error's exit code,
never a traceback). Light on purpose (click and the standard library): the plain install's CLI uses it.

    >>> class NoSuchRule(NotFound): ...
    >>> err = NoSuchRule("no rule named 'x'\\nmore detail")
    >>> (err.http_status, err.exit_code, err.message)
    (404, 1, "no rule named 'x'")
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

EXIT_FAILED = 1  # the command could not do its work (store down, key refused, nothing found)
EXIT_USAGE = 2  # bad input: a flag, a file, a setting, a server that cannot be reached


class TracehouseError(Exception):
    """Base of every error tracehouse shows; `message` is its first line."""

    http_status: int = 500
    exit_code: int = EXIT_FAILED

    @property
    def message(self) -> str:
        text = str(self).strip()
        return text.splitlines()[0] if text else type(self).__name__

    @property
    def public_message(self) -> str:
        """What an HTTP answer says: the message, except for a server fault (whose details go to the log only)."""
        return self.message

    @property
    def http_headers(self) -> dict[str, str]:
        return {}


class BadInput(TracehouseError):
    """A request, flag, setting or file that cannot be used as given."""

    http_status = 400
    exit_code = EXIT_USAGE


class Unauthorized(TracehouseError):
    http_status = 401
    exit_code = EXIT_USAGE


class Forbidden(TracehouseError):
    http_status = 403
    exit_code = EXIT_USAGE


class NotFound(TracehouseError):
    http_status = 404


class Conflict(TracehouseError):
    http_status = 409


class PayloadTooLarge(BadInput):
    http_status = 413


class UnsupportedMediaType(BadInput):
    http_status = 415


class Unavailable(TracehouseError):
    """A part this needs is down or full for now: retry after `retry_after` seconds."""

    http_status = 503

    def __init__(self, message: str = "", retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServerError(TracehouseError):
    """A fault of the server's own; an HTTP answer says only that it happened."""

    http_status = 500

    @property
    def public_message(self) -> str:
        return "the server could not answer this request"


class ClientError(TracehouseError):
    """A command could not get its answer from a tracehouse server (unreachable, refused, or a bad answer)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        if status is not None and status not in (400, 401, 403):
            self.exit_code = EXIT_FAILED  # the server answered: what was asked for is not there or not possible


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr and exit `code`: how every command ends on an error."""
    click.echo(f"error: {message.strip().splitlines()[0] if message.strip() else 'failed'}", err=True)
    sys.exit(code)


class TracehouseGroup(click.Group):
    """A command group whose commands end on a `TracehouseError` with one line on stderr and the error's exit code.

    `error_exit_code` overrides that code for a group whose exit 1 means something else (a CI gate: a threshold
    failed, an alert fires), so any error there exits 2."""

    error_exit_code: int | None = None

    def __init__(self, *args: Any, error_exit_code: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if error_exit_code is not None:
            self.error_exit_code = error_exit_code

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TracehouseError as exc:
            fail(exc.message, self.error_exit_code or exc.exit_code)
