"""`/api/alerts*`: rules with their state, history, on-demand evaluation, and the edits the Alerts page makes
(rules and silences). Rules edited here are stored per project in the `alerts` table; file rules stay in the file."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from tracehouse.evals.alerting.api_models import (
    AlertHistory,
    AlertsCheck,
    AlertsOverview,
    RuleOut,
    SilenceOut,
    Silences,
)
from tracehouse.evals.alerting.repository import RuleConflict, RuleNotFound
from tracehouse.evals.alerting.rules import RuleFileError, parse_duration
from tracehouse.evals.alerting.service import AlertService
from tracehouse.store.alerts import list_events
from tracehouse.store.client import iso_z
from tracehouse.web.deps import Project, StoreDep

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


def get_alert_service(request: Request) -> AlertService:
    service: AlertService | None = getattr(request.app.state, "alert_service", None)
    if service is None:
        raise HTTPException(status_code=503, detail="alert evaluation is not running in this server")
    return service


Alerts = Annotated[AlertService, Depends(get_alert_service)]


def _iso(value: datetime | None) -> str | None:
    return iso_z(value) if value else None


@router.get("", response_model=AlertsOverview, response_model_exclude_unset=True)
def api_alerts(project: Project, service: Alerts) -> dict[str, Any]:
    """Every rule of the project (file, defaults and API-made) with its state and instances."""
    return service.overview(project)


@router.get("/history", response_model=AlertHistory)
def api_alert_history(
    project: Project,
    store: StoreDep,
    rule: str | None = Query(None, max_length=100),
    since: datetime | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """State changes and notifications, newest first; `notified` and `notify_error` show delivery."""
    events = list_events(store, project, rule=rule, since=since, limit=limit)
    return {"events": [{**e, "at": _iso(e["at"]), "updated_at": _iso(e["updated_at"])} for e in events]}


@router.post("/check", response_model=AlertsCheck, response_model_exclude_unset=True)
def api_alerts_check(project: Project, service: Alerts) -> dict[str, Any]:
    """Evaluate this project's rules now (no other project's data is read or notified); returns its transitions and
    the rules' state."""
    if not service.runs_here():
        raise HTTPException(
            status_code=409, detail="alerts are evaluated by the replica holding the jobs lease, not this one"
        )
    transitions = service.check(project)
    return {"transitions": [t.__dict__ for t in transitions], **service.overview(project)}


def _bad(exc: Exception) -> HTTPException:
    return HTTPException(status_code=400, detail=str(exc))


@router.post("/rules", status_code=201, response_model=RuleOut, response_model_exclude_unset=True)
def api_create_rule(project: Project, service: Alerts, rule: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Add a rule to the project (409 when one of that name exists); returns it as stored."""
    try:
        created = service.engine.put_rule(project, rule, create=True)
    except RuleFileError as exc:
        raise _bad(exc) from None
    except RuleConflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return created.to_json()


@router.put("/rules/{name}", response_model=RuleOut, response_model_exclude_unset=True)
def api_update_rule(
    name: str, project: Project, service: Alerts, rule: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Replace the project's rule `name` (404 when there is none); returns it as stored."""
    try:
        updated = service.engine.put_rule(project, {"name": name, **rule}, name=name)
    except RuleFileError as exc:
        raise _bad(exc) from None
    except RuleNotFound:
        raise HTTPException(status_code=404, detail=f"no rule named {name!r}") from None
    return updated.to_json()


@router.delete("/rules/{name}", status_code=204)
def api_delete_rule(name: str, project: Project, service: Alerts) -> None:
    try:
        service.engine.delete_rule(project, name)
    except RuleNotFound:
        raise HTTPException(status_code=404, detail=f"no rule named {name!r}") from None


class SilenceIn(BaseModel):
    rule: str | None = Field(None, description="Rule name; all rules when absent.")
    labels: dict[str, str] = Field(default_factory=dict, description="Exact label matches, e.g. {'agent': 'x'}.")
    duration: str | float | None = Field(None, description="e.g. '2h' (default 1h) — or give ends_at.")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    comment: str = Field("", max_length=1000)
    created_by: str = Field("", max_length=200)


@router.get("/silences", response_model=Silences)
def api_silences(project: Project, service: Alerts, expired: bool = False) -> dict[str, Any]:
    """The project's active silences; with `expired`, the ended ones too."""
    return {"silences": [s.to_json() for s in service.engine.silences(project, include_expired=expired)]}


@router.post("/silences", status_code=201, response_model=SilenceOut)
def api_create_silence(project: Project, service: Alerts, body: SilenceIn) -> dict[str, Any]:
    """Hold back notifications of the matching instances for `duration` (or until `ends_at`)."""
    try:
        duration = parse_duration(body.duration) if body.duration is not None else None
        silence = service.engine.add_silence(
            project,
            rule=body.rule,
            labels=body.labels,
            duration_s=duration,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            comment=body.comment,
            created_by=body.created_by,
        )
    except (RuleFileError, ValueError) as exc:
        raise _bad(exc) from None
    return silence.to_json()


@router.delete("/silences/{silence_id}", status_code=204)
def api_delete_silence(silence_id: str, project: Project, service: Alerts) -> None:
    try:
        service.engine.delete_silence(project, silence_id)
    except RuleNotFound:
        raise HTTPException(status_code=404, detail=f"no active silence {silence_id!r}") from None
