"""Evals fixtures: an app over the session store (evals + traces routers) reachable in-process and over loopback."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import free_port
from tracehouse.dashboard.api.traces import router as traces_router
from tracehouse.evals.api import router as evals_router
from tracehouse.evals.model import TraceData
from tracehouse.settings import load_settings
from tracehouse.store import Store, insert_steps
from tracehouse.store.keys import KeyRing


def make_app(store: Store, data_dir: Path) -> FastAPI:
    app = FastAPI()
    app.include_router(traces_router)
    app.include_router(evals_router)
    app.state.store = store
    app.state.settings = load_settings(no_auth=False, data_dir=data_dir)
    app.state.keyring = KeyRing(store)
    return app


@dataclass
class EvalApp:
    app: FastAPI
    project_id: str
    api_key: str
    client: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def evals_app(store: Store, project_id: str, tmp_path: Path) -> Iterator[EvalApp]:
    app = make_app(store, tmp_path / "data")
    key, _ = app.state.keyring.create(project_id)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield EvalApp(app=app, project_id=project_id, api_key=key, client=client)


@pytest.fixture
def live_url(evals_app: EvalApp) -> Iterator[str]:
    """The same app served by uvicorn on a loopback port (for CLI subprocesses)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(evals_app.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def store_trace(store: Store, project_id: str, data: TraceData, *, end_at: datetime | None = None) -> TraceData:
    """Write a crafted trace's steps to the store, moved so that it ends at `end_at` (default: now)."""
    end_at = end_at or datetime.now(UTC)
    last = max(s.end_time_ns for s in data.steps)
    shift = int(end_at.timestamp() * 1e9) - last
    steps = [
        replace(s, project_id=project_id, start_time_ns=s.start_time_ns + shift, end_time_ns=s.end_time_ns + shift)
        for s in data.steps
    ]
    insert_steps(store, steps, version=1, dedup_token=uuid.uuid4().hex)
    data.steps = steps
    return data
