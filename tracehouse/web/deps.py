"""FastAPI dependencies every HTTP route shares: the store, and the project the caller's key belongs to.

Project scoping is a dependency, not a convention: a route that reads data takes `Project`, so forgetting the
scope is impossible rather than a review comment. The same dependency is the one CSRF guard of the JSON API: a
browser attaches the dashboard's cookie to a request any page makes, and SameSite does not help against a page on
another port of the same host (same site, other origin), so a state-changing call authenticated by the cookie (or by
`--no-auth`) must prove it comes from the dashboard's own origin. A key in a header needs no such proof: a page of
another origin cannot set one without a CORS preflight, which this server never answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlparse

from fastapi import Depends, HTTPException, Request

from tracehouse.store.client import Store
from tracehouse.store.keys import DEFAULT_PROJECT, KeyRing

KEY_HEADER = "x-tracehouse-key"
KEY_COOKIE = "tracehouse_key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def header_key(request: Request) -> str | None:
    """The key sent in a header: `Authorization: Bearer` or `x-tracehouse-key`."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get(KEY_HEADER) or None


def presented_key(request: Request) -> str | None:
    """The key a request carries: `Authorization: Bearer`, `x-tracehouse-key`, or the dashboard's login cookie."""
    return header_key(request) or request.cookies.get(KEY_COOKIE) or None


def request_origin(request: Request) -> str | None:
    """The host:port the browser says the request comes from (`Origin`, else `Referer`), or None if it says nothing."""
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value and value != "null":
            return urlparse(value).netloc or "?"
        if value == "null":  # an opaque origin (sandboxed frame, data: URL) is never ours
            return "?"
    return None


def is_cross_origin(request: Request) -> bool:
    """True when the browser names an origin other than the one this request was addressed to."""
    origin = request_origin(request)
    return origin is not None and origin != request.url.netloc


def is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def guard_unsafe_request(request: Request) -> None:
    """The CSRF rule for state-changing API calls without a key in a header (see the module docstring)."""
    if request.method not in UNSAFE_METHODS or header_key(request) is not None:
        return
    if is_cross_origin(request):
        raise HTTPException(status_code=403, detail="cross-origin request refused (send the key in a header)")
    has_body = bool(request.headers.get("content-type") or request.headers.get("content-length", "0") != "0")
    if request.app.state.settings.no_auth:
        if has_body and not is_json(request):
            raise HTTPException(status_code=415, detail="content-type: must be application/json")
        return
    if request_origin(request) is None:
        raise HTTPException(
            status_code=403, detail="a cookie-authenticated change needs an Origin header (or send the key in a header)"
        )
    if not is_json(request):
        raise HTTPException(status_code=415, detail="content-type: must be application/json")


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_keyring(request: Request) -> KeyRing:
    keyring: KeyRing = request.app.state.keyring
    return keyring


def resolve_project(request: Request) -> str | None:
    """The caller's project, or None when the key is missing or unknown (`--no-auth` maps everyone to default)."""
    if request.app.state.settings.no_auth:
        return DEFAULT_PROJECT
    return get_keyring(request).project_for(presented_key(request))


def require_project(request: Request) -> str:
    """The caller's project; 401 without a valid key, and a state-changing call must pass the CSRF guard."""
    project = resolve_project(request)
    if project is None:
        raise HTTPException(status_code=401, detail="missing or invalid API key (Authorization: Bearer <key>)")
    guard_unsafe_request(request)
    return project


Project = Annotated[str, Depends(require_project)]
StoreDep = Annotated[Store, Depends(get_store)]


def window_or_default(since: datetime | None, until: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    """An API's optional `since`/`until`: until defaults to now, since to `default` before until."""
    until = until or datetime.now(UTC)
    return since or until - default, until
