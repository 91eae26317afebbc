"""The dashboard's HTML pages: traces (/), one trace, agents, models / cost, evals, alerts, and the login form.

Each page reads through `views` (shared with its JSON twin under /api) and renders a Jinja template with autoescape on;
no page carries inline script, data for charts travels in `<script type="application/json">` blocks.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlparse

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tracehouse.collector.deps import KEY_COOKIE, StoreDep, get_keyring
from tracehouse.collector.store.steps_read import TopBy
from tracehouse.dashboard import views
from tracehouse.dashboard.params import TraceQuery, page_trace_query
from tracehouse.dashboard.web import (
    STATIC_DIR,
    PageError,
    PageProject,
    PageRoute,
    WeekWindowDep,
    WindowDep,
    render,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

COOKIE_MAX_AGE = 30 * 86400
SPAN_ID_PATTERN = r"^[0-9a-fA-F]{1,32}$"


def mount_static(app: FastAPI) -> None:
    """Serve the dashboard's CSS, JS and vendored chart libraries at /static (shipped in the package; no CDN)."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")


PageTraceQuery = Annotated[TraceQuery, Depends(page_trace_query)]


@router.get("/", response_class=HTMLResponse)
def traces_page(request: Request, project: PageProject, store: StoreDep, query: PageTraceQuery) -> Response:
    view = views.trace_list(store, project, query.filter, has_finding=query.has_finding, score_below=query.score_below)
    return render(request, "traces.html", {"view": view, "query": query, "nav": "traces", "project": project})


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(
    request: Request, trace_id: str, project: PageProject, store: StoreDep,
    span: str | None = Query(None, pattern=SPAN_ID_PATTERN),
) -> Response:  # fmt: skip
    view = views.trace_view(store, project, trace_id, span=span.lower() if span else None)
    return render(request, "trace.html", {
        "view": view, "nav": "traces", "project": project, "graph": views.graph_json(view.graph),
    })  # fmt: skip


@router.get("/traces/{trace_id}/steps/{span_id}", response_class=HTMLResponse)
def step_fragment(request: Request, project: PageProject, store: StoreDep, trace_id: str, span_id: str) -> Response:
    """The step-detail panel alone (the trace page loads it when a row is clicked)."""
    if not re.fullmatch(SPAN_ID_PATTERN, span_id):
        raise PageError(400, "span id must be 1-32 hexadecimal characters")
    detail = views.step_view(store, project, trace_id, span_id.lower())
    return render(request, "_step_detail.html", {"d": detail, "trace_id": trace_id.lower(), "fragment": True})


@router.get("/agents", response_class=HTMLResponse)
def agents_page(
    request: Request, project: PageProject, store: StoreDep, window: WindowDep,
    agent: str | None = Query(None, max_length=200), by: Literal["slowest", "costliest", "failed"] = "slowest",
) -> Response:  # fmt: skip
    by_: TopBy = by
    view = views.agents_view(store, project, window, agent=agent or None, by=by_)
    return render(request, "agents.html", {"view": view, "nav": "agents", "project": project})


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, project: PageProject, store: StoreDep, window: WindowDep) -> Response:
    view = views.models_view(store, project, window)
    return render(request, "models.html", {"view": view, "nav": "models", "project": project})


@router.get("/evals", response_class=HTMLResponse)
def evals_page(
    request: Request, project: PageProject, store: StoreDep, window: WeekWindowDep,
    suite: str | None = Query(None, max_length=200),
) -> Response:  # fmt: skip
    view = views.evals_view(store, project, window, suite=suite or None)
    return render(request, "evals.html", {"view": view, "nav": "evals", "project": project})


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, project: PageProject, store: StoreDep, window: WeekWindowDep) -> Response:
    view = views.alerts_view(store, project, window)
    return render(request, "alerts.html", {"view": view, "nav": "alerts", "project": project,
                                           "pretty": views.pretty_json})  # fmt: skip


# -- login ----------------------------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = Query(None, max_length=2000)) -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "error": None, "nav": "login", "project": None})


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin and urlparse(origin).netloc != request.url.netloc:
        return render(request, "login.html", {"next": "/", "error": "cross-site sign-in refused", "nav": "login",
                                              "project": None}, 403)  # fmt: skip
    form = parse_qs((await request.body()).decode("utf-8", "replace")[:10_000])
    key = (form.get("key") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    project = get_keyring(request).project_for(key) if key else None
    if project is None:
        return render(request, "login.html", {"next": target, "error": "That key is not valid (or was revoked).",
                                              "nav": "login", "project": None}, 401)  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        KEY_COOKIE, key, max_age=COOKIE_MAX_AGE, httponly=True, samesite="strict", path="/",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")
    return response
