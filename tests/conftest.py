"""Shared fixtures: an embedded store for in-process tests, and real `tracehouse serve` processes on loopback.

chDB allows one engine path per process, so the in-process store is one per test session; tests keep apart by
writing under a project id of their own (`project_id` fixture).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tracehouse.store import Store

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _fresh_tracing() -> Iterator[None]:
    """Each test starts with OpenTelemetry and the SDK unconfigured, as a fresh process would: an earlier test's
    `sdk.init` (or global tracer provider) must not decide where a later test's spans go."""
    yield
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    from tracehouse import sdk

    sdk.shutdown(timeout_s=1.0)
    # What opentelemetry-test-utils' reset_trace_globals() does: the global provider may be set once per process.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    trace._PROXY_TRACER_PROVIDER = trace.ProxyTracerProvider()


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The session's store, migrated: embedded, or the ClickHouse server named by TRACEHOUSE_TEST_CLICKHOUSE_URL
    (so every store test runs against a real server too when one is available)."""
    s = Store(os.environ.get("TRACEHOUSE_TEST_CLICKHOUSE_URL") or f"chdb://{tmp_path_factory.mktemp('store')}")
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def project_id() -> str:
    return "t" + uuid.uuid4().hex[:12]


@dataclass
class ServerProcess:
    """A `tracehouse serve` child process on loopback ports, with the key it printed."""

    data_dir: Path
    port: int
    grpc_port: int
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    api_key: str = ""
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.log_path = self.data_dir.parent / f"serve-{self.port}.log"
        log = self.log_path.open("a")
        cmd = [
            sys.executable,
            "-m",
            "tracehouse",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--grpc-port",
            str(self.grpc_port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        env = {**os.environ, "TRACEHOUSE_LOG_LEVEL": "info", **self.env}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tracehouse serve exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"tracehouse serve did not come up:\n{self.log_path.read_text()}")
        key_file = self.data_dir / "default-key"
        self.api_key = key_file.read_text().strip() if key_file.exists() else ""
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """kill -9: no shutdown, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[type[ServerProcess] | object]:
    """Factory: `make_server(extra_args=[...], env={...})` starts a server; all are stopped after the test."""
    started: list[ServerProcess] = []

    def factory(
        extra_args: list[str] | None = None, env: dict[str, str] | None = None, data_dir: Path | None = None
    ) -> ServerProcess:
        server = ServerProcess(
            data_dir=data_dir or tmp_path / f"data{len(started)}",
            port=free_port(),
            grpc_port=free_port(),
            extra_args=extra_args or [],
            env=env or {},
        )
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server):  # type: ignore[no-untyped-def]
    """One running `tracehouse serve` with auth on (its default key in `.api_key`)."""
    return make_server()
