"""The dashboard's HTML pages: traces (/), one trace, agents, models / cost, evals, alerts, interrupts, and the login
form.

Each page reads through `views` (shared with its JSON twin under /api) and renders a Jinja template with autoescape on;
no page carries inline script, data for charts travels in `<script type="application/json">` blocks.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qs, urlparse

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tracehouse.dashboard import views
from tracehouse.dashboard.params import TraceQuery, page_trace_query
from tracehouse.dashboard.web import (
    STATIC_DIR,
    PageError,
    PageProject,
    PageRoute,
    WeekWindowDep,
    Window,
    WindowDep,
    render,
)
from tracehouse.evals.alerting.api import Alerts
from tracehouse.evals.alerting.repository import RuleConflict, RuleNotFound
from tracehouse.evals.alerting.rules import GroupBy, Op, RuleFileError, SeverityName, parse_duration
from tracehouse.evals.alerting.service import AlertService
from tracehouse.store import Store
from tracehouse.store.interrupts import BadAnswer, InterruptNotPending, answer_interrupt, parse_answer
from tracehouse.store.steps import TopBy
from tracehouse.web.deps import KEY_COOKIE, StoreDep, get_keyring, is_cross_origin

router = APIRouter(route_class=PageRoute, include_in_schema=False)

COOKIE_MAX_AGE = 30 * 86400
OPS: tuple[str, ...] = get_args(Op)
SEVERITIES: tuple[str, ...] = get_args(SeverityName)
GROUP_BYS: tuple[str, ...] = get_args(GroupBy)
RULE_FILTERS = ("agent", "model", "provider")  # the filters the rule form edits; others are kept as they are
SPAN_ID_PATTERN = r"^[0-9a-fA-F]{1,32}$"


def mount_static(app: FastAPI) -> None:
    """Serve the dashboard's CSS, JS and vendored chart libraries at /static (shipped in the package; no CDN)."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")


PageTraceQuery = Annotated[TraceQuery, Depends(page_trace_query)]


@router.get("/", response_class=HTMLResponse)
def traces_page(request: Request, project: PageProject, store: StoreDep, query: PageTraceQuery) -> Response:
    view = views.trace_list(
        store,
        project,
        query.filter,
        has_finding=query.has_finding,
        score_below=query.score_below,
        linked_to=query.linked_to,
    )
    return render(request, "traces.html", {"view": view, "query": query, "nav": "traces", "project": project})


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(
    request: Request,
    trace_id: str,
    project: PageProject,
    store: StoreDep,
    span: str | None = Query(None, pattern=SPAN_ID_PATTERN),
) -> Response:
    view = views.trace_view(store, project, trace_id, span=span.lower() if span else None)
    return render(
        request,
        "trace.html",
        {
            "view": view,
            "nav": "traces",
            "project": project,
            "graph": views.graph_json(view.graph),
        },
    )


@router.get("/traces/{trace_id}/steps/{span_id}", response_class=HTMLResponse)
def step_fragment(request: Request, project: PageProject, store: StoreDep, trace_id: str, span_id: str) -> Response:
    """The step-detail panel alone (the trace page loads it when a row is clicked)."""
    if not re.fullmatch(SPAN_ID_PATTERN, span_id):
        raise PageError(400, "span id must be 1-32 hexadecimal characters")
    detail = views.step_view(store, project, trace_id, span_id.lower())
    return render(request, "_step_detail.html", {"d": detail, "trace_id": trace_id.lower(), "fragment": True})


@router.get("/agents", response_class=HTMLResponse)
def agents_page(
    request: Request,
    project: PageProject,
    store: StoreDep,
    window: WindowDep,
    agent: str | None = Query(None, max_length=200),
    by: Literal["slowest", "costliest", "failed"] = "slowest",
) -> Response:
    by_: TopBy = by
    view = views.agents_view(store, project, window, agent=agent or None, by=by_)
    return render(request, "agents.html", {"view": view, "nav": "agents", "project": project})


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, project: PageProject, store: StoreDep, window: WindowDep) -> Response:
    view = views.models_view(store, project, window)
    return render(request, "models.html", {"view": view, "nav": "models", "project": project})


@router.get("/evals", response_class=HTMLResponse)
def evals_page(
    request: Request,
    project: PageProject,
    store: StoreDep,
    window: WeekWindowDep,
    suite: str | None = Query(None, max_length=200),
) -> Response:
    view = views.evals_view(store, project, window, suite=suite or None)
    return render(request, "evals.html", {"view": view, "nav": "evals", "project": project})


# -- alerts: rules and silences, edited through plain forms (POST, 303 back to /alerts) ----------------------------

FORM_LIMIT = 20_000  # bytes of a form body
RULE_DEFAULTS = {"metric": "error_rate", "op": ">", "window": "5m", "severity": "warning", "enabled": "on"}
MAX_SILENCE_S = 366 * 86400


def _alert_service(request: Request) -> AlertService | None:
    return getattr(request.app.state, "alert_service", None)


def _alerts(
    request: Request,
    project: str,
    store: Store,
    window: Window,
    *,
    rule_form: dict[str, str] | None = None,
    editing: str | None = None,
    silence_form: dict[str, str] | None = None,
    error: str | None = None,
    error_for: str | None = None,
    status: int = 200,
) -> Response:
    """The Alerts page; after a refused form, with the message next to that form and the values as submitted."""
    view = views.alerts_view(store, project, window, _alert_service(request))
    return render(
        request,
        "alerts.html",
        {
            "view": view,
            "nav": "alerts",
            "project": project,
            "rule_form": rule_form or RULE_DEFAULTS,
            "editing": editing,
            "silence_form": silence_form or {},
            "error": error,
            "error_for": error_for,
            "ops": OPS,
            "severities": SEVERITIES,
            "group_bys": GROUP_BYS,
        },
        status,
    )


def rule_form_values(rule: dict[str, Any]) -> dict[str, str]:
    """A rule's JSON (`Rule.to_json()`) as the values of the rule form."""
    filters = rule.get("filters") or {}
    return {
        "name": rule["name"],
        "metric": rule["metric"],
        "op": rule["op"],
        "threshold": f"{rule['threshold']:.15g}",
        "window": rule["window"],
        "for": rule["for"],
        "severity": rule["severity"],
        "group_by": rule.get("group_by") or "",
        "description": rule.get("description", ""),
        "enabled": "on" if rule.get("enabled", True) else "",
        **{k: filters.get(k) or "" for k in RULE_FILTERS},
    }


def rule_from_form(form: dict[str, str], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rule the form describes, over `base` (the rule being edited: fields the form lacks, such as a baseline
    or a findings `kind` filter, are kept). An empty field means the rule's default; the engine validates."""
    data = {k: v for k, v in (base or {}).items() if k != "project"}  # the engine sets the project
    for key in ("name", "metric", "op", "threshold", "window", "for", "severity", "group_by", "description"):
        value = form.get(key, "").strip()
        if value:
            data[key] = value
        else:
            data.pop(key, None)
    filters = dict(data.get("filters") or {})
    for key in RULE_FILTERS:
        value = form.get(key, "").strip()
        if value:
            filters[key] = value
        else:
            filters.pop(key, None)
    data["filters"] = filters
    data["enabled"] = form.get("enabled") == "on"
    return data


async def _read_form(request: Request) -> dict[str, str]:
    """The urlencoded body (at most FORM_LIMIT bytes, first value per field); cross-site posts are refused."""
    if is_cross_origin(request):
        raise PageError(403, "cross-site form refused")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise PageError(413, f"the form is larger than {FORM_LIMIT} bytes")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50)
    return {k: v[0] for k, v in parsed.items()}


def _back() -> Response:
    return RedirectResponse("/alerts", status_code=303)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    project: PageProject,
    store: StoreDep,
    window: WeekWindowDep,
    edit: str | None = Query(None, max_length=100),
) -> Response:
    service = _alert_service(request)
    if not edit or service is None:
        return _alerts(request, project, store, window)
    rule = next((r for r in service.engine.overview(project) if r["name"] == edit), None)
    if rule is None:
        raise PageError(404, f"no rule named {edit!r}")
    return _alerts(request, project, store, window, rule_form=rule_form_values(rule), editing=edit)


@router.post("/alerts/rules", response_class=HTMLResponse)
async def create_rule(
    request: Request, project: PageProject, store: StoreDep, window: WeekWindowDep, service: Alerts
) -> Response:
    form = await _read_form(request)
    try:
        service.engine.put_rule(project, rule_from_form(form), create=True)
    except (RuleFileError, RuleConflict) as exc:
        status = 409 if isinstance(exc, RuleConflict) else 400
        return _alerts(request, project, store, window, rule_form=form, error=str(exc), error_for="rule", status=status)
    return _back()


@router.post("/alerts/rules/{name}", response_class=HTMLResponse)
async def update_rule(
    request: Request, name: str, project: PageProject, store: StoreDep, window: WeekWindowDep, service: Alerts
) -> Response:
    form = await _read_form(request)
    current = {e.rule.name: e.rule for e in service.engine.rules_for(project)}.get(name)
    if current is None:
        raise PageError(404, f"no rule named {name!r}")
    try:  # a file or default rule becomes this project's API rule of the same name
        service.engine.put_rule(project, {**rule_from_form(form, current.to_json()), "name": name}, name=name)
    except RuleFileError as exc:
        return _alerts(
            request,
            project,
            store,
            window,
            rule_form={**form, "name": name},
            editing=name,
            error=str(exc),
            error_for="rule",
            status=400,
        )
    except RuleNotFound:
        raise PageError(404, f"no rule named {name!r}") from None
    return _back()


@router.post("/alerts/rules/{name}/delete", response_class=HTMLResponse)
async def delete_rule(request: Request, name: str, project: PageProject, service: Alerts) -> Response:
    await _read_form(request)
    try:  # a file or default rule is hidden for this project
        service.engine.delete_rule(project, name)
    except RuleNotFound:
        raise PageError(404, f"no rule named {name!r}") from None
    return _back()


@router.post("/alerts/silences", response_class=HTMLResponse)
async def create_silence(
    request: Request, project: PageProject, store: StoreDep, window: WeekWindowDep, service: Alerts
) -> Response:
    form = await _read_form(request)
    rule = form.get("rule", "").strip() or None
    comment = form.get("comment", "").strip()
    try:
        if rule is not None and rule not in {e.rule.name for e in service.engine.rules_for(project)}:
            raise RuleFileError(f"silence: rule: no rule named {rule!r}")
        if len(comment) > 1000:
            raise RuleFileError("silence: comment: at most 1000 characters")
        duration = parse_duration(form["duration"]) if form.get("duration", "").strip() else None
        if duration is not None and duration > MAX_SILENCE_S:
            raise RuleFileError("silence: duration: at most 366d")
        service.engine.add_silence(
            project, rule=rule, labels={}, duration_s=duration, comment=comment, created_by="dashboard"
        )
    except (RuleFileError, ValueError) as exc:
        message = str(exc) if isinstance(exc, RuleFileError) else f"silence: duration: {exc}"
        return _alerts(
            request, project, store, window, silence_form=form, error=message, error_for="silence", status=400
        )
    return _back()


@router.post("/alerts/silences/{silence_id}/delete", response_class=HTMLResponse)
async def delete_silence(request: Request, silence_id: str, project: PageProject, service: Alerts) -> Response:
    await _read_form(request)
    try:
        service.engine.delete_silence(project, silence_id)
    except RuleNotFound:
        raise PageError(404, f"no active silence {silence_id!r}") from None
    return _back()


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
    if is_cross_origin(request):
        return render(
            request,
            "login.html",
            {"next": "/", "error": "cross-site sign-in refused", "nav": "login", "project": None},
            403,
        )
    form = parse_qs((await request.body()).decode("utf-8", "replace")[:10_000])
    key = (form.get("key") or [""])[0].strip()
    target = _safe_next((form.get("next") or ["/"])[0])
    project = get_keyring(request).project_for(key) if key else None
    if project is None:
        return render(
            request,
            "login.html",
            {"next": target, "error": "That key is not valid (or was revoked).", "nav": "login", "project": None},
            401,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        KEY_COOKIE,
        key,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _interrupts(
    request: Request,
    project: str,
    store: Store,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    view = views.interrupt_list(store, project)
    context = {"view": view, "error": error, "form": form or {}, "nav": "interrupts", "project": project}
    return render(request, "interrupts.html", context, status)


@router.get("/interrupts", response_class=HTMLResponse)
def interrupts_page(request: Request, project: PageProject, store: StoreDep) -> Response:
    return _interrupts(request, project, store)


@router.post("/interrupts/{interrupt_id}/answer", response_class=HTMLResponse)
async def answer_interrupt_form(
    request: Request, project: PageProject, store: StoreDep, interrupt_id: str = Path(pattern=r"^[0-9a-f]{32}$")
) -> Response:
    form = await _read_form(request)
    trace_id = form.get("trace_id", "")
    try:
        answer = parse_answer(form.get("answer", ""))
        answer_interrupt(store, project, interrupt_id, answer, trace_id=trace_id if _HEX32.match(trace_id) else None)
    except BadAnswer as exc:
        return _interrupts(request, project, store, str(exc), {**form, "interrupt_id": interrupt_id}, 400)
    except InterruptNotPending as exc:
        raise PageError(404, str(exc)) from None
    return RedirectResponse("/interrupts", status_code=303)


_HEX32 = re.compile(r"^[0-9a-f]{32}$")
