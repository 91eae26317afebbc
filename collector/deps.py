"""FastAPI dependencies every HTTP route shares: the store, and the project the caller's key belongs to.

Project scoping is a dependency, not a convention: a route that reads data takes `Project`, so forgetting the
scope is impossible rather than a review comment.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from tracehouse.collector.auth import DEFAULT_PROJECT, KeyRing
from tracehouse.collector.store.client import Store

KEY_HEADER = "x-tracehouse-key"
KEY_COOKIE = "tracehouse_key"


def presented_key(request: Request) -> str | None:
    """The key a request carries: `Authorization: Bearer`, `x-tracehouse-key`, or the dashboard's login cookie."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get(KEY_HEADER) or request.cookies.get(KEY_COOKIE) or None


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
    project = resolve_project(request)
    if project is None:
        raise HTTPException(status_code=401, detail="missing or invalid API key (Authorization: Bearer <key>)")
    return project


Project = Annotated[str, Depends(require_project)]
StoreDep = Annotated[Store, Depends(get_store)]
