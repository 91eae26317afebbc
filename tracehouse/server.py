"""Server wiring: builds the FastAPI app and the services `tracehouse serve` runs, from Settings.

It composes the parts (receivers, spool, writer, API, dashboard, evals); it does not contain them.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import generate_latest
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

from tracehouse import admin
from tracehouse._version import __version__
from tracehouse.client import ProjectOut
from tracehouse.collector.finaliser import Finaliser
from tracehouse.collector.metrics import CollectorMetrics
from tracehouse.collector.receiver import http as otlp_http
from tracehouse.collector.receiver.grpc import GrpcReceiver
from tracehouse.collector.receiver.ingest import Ingest
from tracehouse.collector.spool import Spool
from tracehouse.collector.writer import Writer
from tracehouse.dashboard.api import interrupts as interrupts_api
from tracehouse.dashboard.api import overview as overview_api
from tracehouse.dashboard.api import traces as traces_api
from tracehouse.dashboard.pages import mount_static
from tracehouse.dashboard.pages import router as pages_router
from tracehouse.evals import api as evals_api
from tracehouse.evals.alerting import api as alerts_api
from tracehouse.evals.alerting.service import AlertService
from tracehouse.evals.detect import api as findings_api
from tracehouse.evals.detect.service import DetectionService
from tracehouse.evals.online import OnlineEvaluator
from tracehouse.jobs import JobRunner
from tracehouse.sdk.local import KEY_FILE
from tracehouse.sdk.pricing import load_prices
from tracehouse.settings import Settings
from tracehouse.store import DSN, Store, StoreUnavailable
from tracehouse.store.keys import DEFAULT_PROJECT, KeyRing
from tracehouse.store.leases import Lease
from tracehouse.web.deps import Project, require_project
from tracehouse.web.errors import install_error_handlers

log = logging.getLogger("tracehouse")

DOCS_ASSETS = "/docs-assets"
JOBS_LEASE = "jobs"


class Service(Protocol):
    """A background part of the server (key ring refresher, writer, gRPC receiver, notifiers, the jobs runner)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Health(BaseModel):
    """The process answers; and which version it runs."""

    status: str
    version: str


class Readiness(BaseModel):
    """Whether this replica can accept and will write (200) or not (503), the store's state, the bytes waiting in
    the spool, the writer's state ("ok" or its last error) and every problem found."""

    status: str
    store: str
    spool_bytes: int
    writer: str
    problems: list[str]


def ensure_default_key(keyring: KeyRing, data_dir: Path) -> tuple[str | None, Path]:
    """On first start, a key for the default project, saved (0600) in the data dir; returns a key created now."""
    path = data_dir / KEY_FILE
    if any(r.project_id == DEFAULT_PROJECT and not r.revoked for r in keyring.list()) and path.exists():
        return None, path
    key, _ = keyring.create(DEFAULT_PROJECT, "default key (created at first start)")
    admin.write_secret(path, key)
    return key, path


def show_first_key(created: str | None, path: Path) -> None:
    """The first key goes to the terminal only: stderr when it is a TTY, never stdout or a log (which are kept)."""
    if created and sys.stderr.isatty():
        print(
            f"  default project key (shown once; also in {path}, mode 0600):\n    {created}",
            file=sys.stderr,
            flush=True,
        )
    elif created:
        print(f"  default project key: created in {path} (mode 0600; not printed: no terminal)", flush=True)
    else:
        print(f"  default project key: in {path}", flush=True)


def build_app(settings: Settings) -> FastAPI:
    """The whole HTTP surface; the lifespan starts and stops the background services."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = start_runtime(app, settings)
        try:
            yield
        finally:
            for service in reversed(services):
                service.stop()
            admin.remove_admin_file(settings.data_dir, app.state.admin_token)
            app.state.store.close()

    # /docs and /openapi.json are routes of ours (below), so they take the same key rule as /metrics.
    app = FastAPI(
        title="tracehouse", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    # Built here, before the server starts, so a bad rules file is a one-line error and not a failed startup.
    app.state.store = Store(DSN.parse(settings.store_dsn, default_database=settings.database))
    app.state.alert_service = AlertService(app.state.store, settings.alerts_file)
    app.state.online_evals = (
        OnlineEvaluator.from_files(app.state.store, settings.online_suites, interval_seconds=settings.online_interval_s)
        if settings.online_suites
        else None
    )
    install_error_handlers(app)
    routers = (
        otlp_http.router,
        traces_api.router,
        overview_api.router,
        admin.router,
        findings_api.router,
        alerts_api.router,
        evals_api.router,
        interrupts_api.router,
        pages_router,
    )
    for router in routers:
        app.include_router(router)
    mount_static(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> Health:
        return Health(status="ok", version=__version__)

    @app.get("/readyz", tags=["ops"], responses={200: {"model": Readiness}, 503: {"model": Readiness}})
    def readyz(request: Request) -> Response:
        # Ready means "can accept and will write": with the store down the spool still absorbs ingest, and taking
        # every replica out of a load balancer then would turn a store outage into a collector outage. The store's
        # state is reported; a spool past its high-water mark or unable to append, or a stuck writer, make the
        # replica unready.
        state = request.app.state
        high_water = int(settings.spool_max_bytes * 0.8)
        pending = state.spool.pending_bytes()
        store_ok = state.store.ping()
        problems = [] if store_ok else ["store unreachable: accepting into the spool"]
        ready = pending <= high_water
        if not ready:
            problems.append(f"spool above its high-water mark ({pending} > {high_water} bytes)")
        spool_ok, spool_problems = state.spool.problems()
        writer_ok, writer_problems = state.writer.problems()
        ready = ready and spool_ok and writer_ok
        problems += spool_problems + writer_problems
        body = Readiness(
            status="ready" if ready else "not ready",
            store="ok" if store_ok else "unreachable",
            spool_bytes=pending,
            writer="ok" if state.writer.healthy else state.writer.last_error,
            problems=problems,
        )
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/api/project", tags=["ops"], response_model=ProjectOut)
    def project(project: Project) -> ProjectOut:
        """The project the presented key belongs to (what a client checks its `--project` against)."""
        return ProjectOut(project=project)

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(ops_access)], response_class=PlainTextResponse)
    def metrics(request: Request) -> Response:
        registry = request.app.state.metrics.registry
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(ops_access)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(ops_access)])
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="tracehouse API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    # Swagger UI's files come from a package, not a CDN: /docs works offline, as the rest of the UI does.
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    return app


def ops_access(request: Request) -> None:
    """/metrics, /docs and /openapi.json: open on loopback (or with `public_metrics`), else any valid API key; they
    tell an outsider the server's version, routes and traffic."""
    if not request.app.state.settings.ops_public:
        require_project(request)


def start_runtime(app: FastAPI, settings: Settings) -> list[Service]:
    """Open the store, migrate, make the first key, and start the writer and the gRPC receiver."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store: Store = app.state.store
    schema_ready = _try_migrate(store, settings)
    keyring = KeyRing(store)
    metrics = CollectorMetrics()
    spool = Spool(
        settings.spool_dir,
        max_bytes=settings.spool_max_bytes,
        segment_bytes=settings.spool_segment_bytes,
        min_free_bytes=settings.spool_min_free_bytes,
    )
    ingest = Ingest(spool, metrics)
    load_prices(settings.prices)  # a bad price file fails here, not in the encoder process
    writer = Writer(
        spool,
        store,
        metrics,
        prices_path=settings.prices,
        processes=settings.writer_processes,
        batch_spans=settings.writer_batch_spans,
        flush_ms=settings.writer_flush_ms,
        max_attempts=settings.writer_max_attempts,
        ensure_schema=None if schema_ready else lambda: store.migrate(settings.retention_days),
    )
    app.state.store, app.state.keyring, app.state.metrics = store, keyring, metrics
    app.state.spool, app.state.ingest, app.state.writer = spool, ingest, writer
    admin_token = secrets.token_urlsafe(24)
    endpoint = admin.AdminEndpoint(admin.loopback_url(settings.host, settings.port), admin_token)
    admin.write_admin_file(settings.data_dir, endpoint)
    app.state.admin_token = admin_token

    first_key = ensure_default_key(keyring, settings.data_dir) if not settings.no_auth and schema_ready else None

    def project_for_key(key: str | None) -> str | None:
        return DEFAULT_PROJECT if settings.no_auth else keyring.project_for(key)

    grpc_receiver = GrpcReceiver(ingest, project_for_key, settings.host, settings.grpc_port, settings.max_request_bytes)
    services: list[Service] = [_SpoolCloser(spool), keyring, writer, grpc_receiver, app.state.alert_service]
    # Cluster-wide jobs run on one replica at a time: the holder of the jobs lease in the store.
    runner = JobRunner(Lease(store, JOBS_LEASE), [app.state.alert_service])
    app.state.alert_service.runs_here = lambda: runner.holds
    finaliser = Finaliser(
        store,
        quiet_s=settings.finalise_quiet_s,
        max_delay_s=settings.finalise_max_delay_s,
        on_corrected=metrics.corrections_written.inc,
    )
    app.state.finaliser = finaliser
    runner.add(finaliser)
    if settings.detect:
        runner.add(DetectionService(store))
    if app.state.online_evals is not None:
        runner.add(app.state.online_evals)
        app.state.online_evals.poll_in_thread = False  # its workers score what its polls queue, on the holder
        services.append(app.state.online_evals)
    services.append(runner)
    app.state.jobs = runner
    for service in services:
        service.start()
    # The banner comes once everything it names is listening, so no start-up log line lands inside it.
    print(
        f"tracehouse {__version__} listening\n"
        f"  dashboard + API   http://{settings.host}:{settings.port}/\n"
        f"  OTLP/HTTP         http://{settings.host}:{settings.port}/v1/traces\n"
        f"  OTLP/gRPC         {settings.host}:{grpc_receiver.port}\n"
        f"  store             {store.dsn.redacted()}",
        flush=True,
    )
    if first_key is not None:
        show_first_key(*first_key)
    return services


def _try_migrate(store: Store, settings: Settings) -> bool:
    """Migrate now if the store answers; if it does not, start anyway (ingest spools) and let the writer migrate."""
    try:
        store.migrate(settings.retention_days)
        return True
    except StoreUnavailable as exc:
        print(f"  store unreachable ({exc}); accepting into the spool until it returns", flush=True)
        return False


class _SpoolCloser:
    """Closes the spool last, after the writer has drained what it could."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def start(self) -> None:
        return None

    def stop(self) -> None:
        self._spool.close()
