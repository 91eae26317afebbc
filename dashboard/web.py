"""The dashboard's HTTP plumbing: the Jinja environment (autoescape on), security headers with a strict
Content-Security-Policy, the login-or-redirect project dependency, time windows, and route classes that turn bad
input into a 400 page / JSON message instead of a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from tracehouse.dashboard import format as fmt
from tracehouse.domain.rates import DEFINITIONS, RATES
from tracehouse.errors import TracehouseError
from tracehouse.store import BadFilter
from tracehouse.store.client import as_utc
from tracehouse.web.deps import resolve_project
from tracehouse.web.errors import ANSWERED, http_answer, json_error

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(fmt.FILTERS)
_env.globals["rates"] = RATES  # each rate's label and definition, for the tooltip wherever a rate appears
_env.globals["metric_definitions"] = DEFINITIONS
templates = Jinja2Templates(env=_env)


class PageError(TracehouseError):
    """An error shown to a person as a page (and to a program as JSON): status and one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status


class LoginRequired(Exception):
    """No valid key on a page request: send the browser to /login."""


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A template as an HTML response with the security headers."""
    ctx = {"request": request, "no_auth": bool(request.app.state.settings.no_auth), **context}
    response = templates.TemplateResponse(request, template, ctx, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {
        400: "Bad request",
        401: "Sign in needed",
        403: "Not allowed",
        404: "Not found",
        503: "Temporarily unavailable",
    }
    return render(
        request, "error.html", {"status": status, "title": titles.get(status, "Error"), "message": message}, status
    )


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class PageRoute(APIRoute):
    """HTML routes: validation errors, bad filters and missing things become an error page; no key -> /login."""

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            except ANSWERED as exc:
                status, message, _ = http_answer(exc)
                return _error_page(request, status, message)

        return handler


class ApiRoute(APIRoute):
    """JSON routes: bad input -> 400 {"error": message}, missing -> 404, whatever app the router is mounted in."""

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except ANSWERED as exc:
                return json_error(exc)

        return handler


def page_project(request: Request) -> str:
    project = resolve_project(request)
    if project is None:
        raise LoginRequired()
    return project


PageProject = Annotated[str, Depends(page_project)]

RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_PATTERN = "^(" + "|".join(RANGES) + "|all)$"


@dataclass(frozen=True)
class Window:
    """A time window: `range` is a preset name (or "custom" when since/until were given)."""

    since: datetime
    until: datetime
    range: str

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()

    def bucket_seconds(self, points: int = 60) -> int:
        """A round bucket size giving about `points` buckets."""
        raw = max(self.seconds / points, 60)
        for step in (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
            if raw <= step:
                return step
        return 86400 * int(raw // 86400 + 1)


def make_window(since: datetime | None, until: datetime | None, range_: str | None, default: str = "24h") -> Window:
    now = datetime.now(UTC)
    if since is not None or until is not None:
        hi = as_utc(until) if until else now
        lo = as_utc(since) if since else hi - RANGES[default]
        if hi <= lo:
            raise BadFilter("until: must be after since")
        return Window(lo, hi, "custom")
    name = range_ or default
    if name == "all":
        return Window(now - timedelta(days=3650), now + timedelta(minutes=5), "all")
    if name not in RANGES:
        raise BadFilter(f"range: must be one of {', '.join(RANGES)}, all")
    # A little slack past now: clocks of senders run a bit ahead.
    return Window(now - RANGES[name], now + timedelta(minutes=5), name)


def window_dependency(default: str) -> Callable[..., Window]:
    """A dependency reading `since`, `until` and `range` (preset, default `default`) into a Window."""

    def dep(
        since: Annotated[datetime | None, Query(description="window start (RFC 3339); overrides range")] = None,
        until: Annotated[datetime | None, Query(description="window end (RFC 3339); default now")] = None,
        range: str | None = Query(
            None,
            pattern=RANGE_PATTERN,
            description=f"preset window ({default} by default): 15m, 1h, 6h, 24h, 7d, 30d, all",
        ),
    ) -> Window:
        return make_window(since, until, range, default=default)

    return dep


WindowDep = Annotated[Window, Depends(window_dependency("24h"))]
WeekWindowDep = Annotated[Window, Depends(window_dependency("7d"))]
