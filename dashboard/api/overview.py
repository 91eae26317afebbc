"""JSON twins of the agents, models / cost, evals and alerts pages, with the same parameters as the pages.

Named apart from the evals and alerting APIs (`/api/scores`, `/api/eval-runs`, `/api/alerts`), which own those
tables' write and query APIs; these return exactly what the dashboard pages show.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from tracehouse.dashboard import views
from tracehouse.dashboard.api.overview_models import AgentsOverview, AlertsPageOverview, EvalsOverview, ModelsOverview
from tracehouse.dashboard.web import ApiRoute, WeekWindowDep, Window, WindowDep
from tracehouse.web.deps import Project, StoreDep

router = APIRouter(prefix="/api", tags=["dashboard"], route_class=ApiRoute)


def _window(w: Window) -> dict[str, Any]:
    return {"since": views.to_jsonable(w.since), "until": views.to_jsonable(w.until), "range": w.range}


@router.get("/agents", response_model=AgentsOverview, response_model_exclude_unset=True)
def api_agents(
    project: Project,
    store: StoreDep,
    window: WindowDep,
    agent: str | None = Query(None, max_length=200),
    by: Literal["slowest", "costliest", "failed"] = "slowest",
) -> dict[str, Any]:
    """Per agent over the window: calls, error rate, p50/p95/p99, tokens, cost, retries, findings, mean score, and
    time series; with `agent`, also that agent's slowest / costliest / failed steps (`by`)."""
    view = views.agents_view(store, project, window, agent=agent or None, by=by)
    out: dict[str, Any] = {
        "window": _window(window),
        "agents": [
            {
                **views.to_jsonable(r.stats),
                "findings": r.findings,
                "wasted_cost_usd": r.wasted_cost_usd,
                "mean_score": r.mean_score,
            }
            for r in view.agents
        ],
        "charts": view.charts,
    }
    if agent:
        out["agent"] = agent
        out["by"] = by
        out["steps"] = views.to_jsonable(view.steps)
        out["findings"] = views.to_jsonable(view.findings)
    return out


@router.get("/models", response_model=ModelsOverview)
def api_models(project: Project, store: StoreDep, window: WindowDep) -> dict[str, Any]:
    """Spend over the window by model and agent, unpriced calls per model, the most expensive traces, and series."""
    v = views.models_view(store, project, window)
    return {
        "window": _window(window),
        "project": v.project,
        "total_cost_usd": v.total_cost_usd,
        "total_tokens": v.total_tokens,
        "unpriced_calls": v.unpriced_calls,
        "models": views.to_jsonable(v.models),
        "agents": views.to_jsonable(v.agents),
        "unpriced": views.to_jsonable(v.unpriced),
        "top_traces": [
            {
                "trace_id": t.trace_id,
                "root_name": t.root_name,
                "cost_usd": t.cost_usd,
                "start_time": views.to_jsonable(t.start_time),
            }
            for t in v.top_traces
        ],
        "charts": v.charts,
    }


@router.get("/evals-overview", response_model=EvalsOverview)
def api_evals_overview(
    project: Project, store: StoreDep, window: WeekWindowDep, suite: str | None = Query(None, max_length=200)
) -> dict[str, Any]:
    """Eval runs, scores per suite / scorer / agent, the mean-score trend and failing cases (window default 7d)."""
    v = views.evals_view(store, project, window, suite=suite or None)
    return {
        "window": _window(window),
        "suite": v.suite,
        "runs": [r.to_json() for r in v.runs],
        "groups": views.to_jsonable(v.groups),
        "failing": views.to_jsonable(v.failing),
        "charts": v.charts,
    }


@router.get("/alerts-overview", response_model=AlertsPageOverview, response_model_exclude_unset=True)
def api_alerts_overview(request: Request, project: Project, store: StoreDep, window: WeekWindowDep) -> dict[str, Any]:
    """Every alert rule with its state and origin (when alert evaluation runs in this server), the active silences,
    the state of each alert instance, and the firing history in the window (default 7d)."""
    v = views.alerts_view(store, project, window, getattr(request.app.state, "alert_service", None))
    return {
        "window": _window(window),
        "running": v.running,
        "rules": v.rules,
        "silences": v.silences,
        "evaluation": v.evaluation,
        "states": views.to_jsonable(v.states),
        "history": views.to_jsonable(v.history),
    }
