"""Fixtures for the dashboard's tests: an in-process app over the session store (auth on, one key per test's project),
and builders for realistic multi-agent traces written straight into the store."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tracehouse.dashboard.api import overview as overview_api
from tracehouse.dashboard.api import traces as traces_api
from tracehouse.dashboard.pages import mount_static
from tracehouse.dashboard.pages import router as pages_router
from tracehouse.domain.model import Status, Step, StepType
from tracehouse.evals.alerting.api import router as alerts_router
from tracehouse.evals.alerting.service import AlertService
from tracehouse.settings import load_settings
from tracehouse.store import Store, insert_steps
from tracehouse.store.keys import KeyRing

_ids = itertools.count(1)
_versions = itertools.count(1)


def build_app(store: Store, data_dir: Path, *, no_auth: bool = False, alerts: bool = True) -> FastAPI:
    app = FastAPI()
    app.state.store = store
    app.state.settings = load_settings(no_auth=no_auth, data_dir=data_dir)
    app.state.keyring = KeyRing(store)
    if alerts:  # the schedule is not started: rules are evaluated on demand (POST /api/alerts/check)
        app.state.alert_service = AlertService(store)
    app.include_router(alerts_router)
    app.include_router(traces_api.router)
    app.include_router(overview_api.router)
    app.include_router(pages_router)
    mount_static(app)
    return app


@pytest.fixture(scope="session")
def dash_app(store: Store, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return build_app(store, tmp_path_factory.mktemp("dash"))


@pytest.fixture
def api_key(dash_app: FastAPI, project_id: str) -> str:
    key, _ = dash_app.state.keyring.create(project_id, "test")
    return key


@pytest.fixture
def client(dash_app: FastAPI, api_key: str) -> Iterator[TestClient]:
    """A signed-in client (the login cookie) for the test's project."""
    with TestClient(dash_app, base_url="http://testserver", follow_redirects=False) as c:
        c.cookies.set("tracehouse_key", api_key)
        yield c


@pytest.fixture
def anon(dash_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(dash_app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def span_id() -> str:
    return f"{next(_ids):016x}"


@dataclass
class TraceBuilder:
    """Builds one trace step by step; times in milliseconds from the trace start."""

    project_id: str
    t0_ns: int
    trace_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    steps: list[Step] = field(default_factory=list)
    service: str = "svc"

    def add(self, name: str, start_ms: float, end_ms: float, parent: Step | None = None, **kw: Any) -> Step:
        kw.setdefault("status", Status.OK)
        s = Step(
            project_id=self.project_id,
            trace_id=self.trace_id,
            span_id=span_id(),
            parent_span_id=parent.span_id if parent else "",
            start_time_ns=self.t0_ns + int(start_ms * 1e6),
            end_time_ns=self.t0_ns + int(end_ms * 1e6),
            name=name,
            service=self.service,
            **kw,
        )
        if "agent" not in kw and parent is not None and parent.agent and s.step_type != StepType.WORKFLOW:
            s.agent = parent.agent
        self.steps.append(s)
        return s

    def save(self, store: Store) -> str:
        insert_steps(store, self.steps, version=next(_versions), dedup_token=uuid.uuid4().hex)
        return self.trace_id


def multi_agent_trace(
    project_id: str,
    t0_ns: int,
    *,
    agent_names: tuple[str, str] = ("planner", "researcher"),
    cost: float = 0.01,
    error: bool = False,
) -> TraceBuilder:
    """workflow -> planner (llm, hand-off to researcher) -> researcher (tool, llm)."""
    a, b = agent_names
    tb = TraceBuilder(project_id, t0_ns)
    wf = tb.add(
        "research workflow", 0, 1000, step_type=StepType.WORKFLOW, operation="invoke_workflow", workflow="research"
    )
    pl = tb.add(
        f"invoke_agent {a}",
        10,
        990,
        wf,
        agent=a,
        step_type=StepType.AGENT,
        operation="invoke_agent",
        attributes={"tracehouse.router.decision": f"route to {b}"},
    )
    tb.add(
        "chat gpt-4o",
        20,
        220,
        pl,
        step_type=StepType.LLM,
        operation="chat",
        request_model="gpt-4o",
        provider="openai",
        input_tokens=1200,
        output_tokens=300,
        cost_usd=cost,
    )
    ho = tb.add(
        f"transfer_to_{b}",
        230,
        900,
        pl,
        step_type=StepType.HANDOFF,
        operation="execute_tool",
        handoff_source=a,
        handoff_target=b,
        tool_name=f"transfer_to_{b}",
        attributes={"tracehouse.handoff.reason": "needs sources"},
    )
    rs = tb.add(f"invoke_agent {b}", 240, 890, ho, agent=b, step_type=StepType.AGENT, operation="invoke_agent")
    tb.add(
        "execute_tool web_search",
        250,
        600,
        rs,
        step_type=StepType.TOOL,
        operation="execute_tool",
        tool_name="web_search",
        status=Status.ERROR if error else Status.OK,
        error_type="Timeout" if error else "",
    )
    tb.add(
        "chat gpt-4o-mini",
        610,
        880,
        rs,
        step_type=StepType.LLM,
        operation="chat",
        request_model="gpt-4o-mini",
        provider="openai",
        input_tokens=800,
        output_tokens=200,
        cost_usd=cost / 10,
    )
    return tb
