"""Secrets: the first key is shown on the terminal only (never in the server's log), the key and admin files are
0600, and `tracehouse keys` sends the admin token only to the server that wrote it, never to a process that took
its port."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, free_port


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracehouse", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_first_key_is_never_in_the_server_log(make_server: Any) -> None:
    server: ServerProcess = make_server()
    assert server.api_key.startswith("th_")
    assert server.api_key not in server.log()  # stdout + stderr of `serve`, as a service manager keeps them
    assert "default-key" in server.log()
    for name in ("default-key", "admin"):
        assert stat.S_IMODE((server.data_dir / name).stat().st_mode) == 0o600, name


def test_first_key_is_shown_on_a_terminal(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    master, slave = pty.openpty()
    log = (tmp_path / "serve.log").open("w")
    cmd = [
        sys.executable,
        "-m",
        "tracehouse",
        "serve",
        "--port",
        str(port),
        "--grpc-port",
        str(free_port()),
        "--data-dir",
        str(data_dir),
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=slave)
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"th_" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096)
        key = (data_dir / "default-key").read_text().strip()
        time.sleep(0.5)
        assert key.encode() in seen
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.close(master)
        log.close()
    assert key not in (tmp_path / "serve.log").read_text()


@pytest.fixture
def impostor() -> Iterator[tuple[Callable[[int], None], list[dict[str, str]]]]:
    """Something that answers HTTP on a port once a server's: records every request's headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = b'{"status": "ok", "keys": [], "proof": "0"}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            return None

    servers: list[ThreadingHTTPServer] = []

    def start(port: int) -> None:
        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        servers.append(httpd)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()

    yield start, seen
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_keys_never_sends_the_admin_token_to_a_process_on_a_dead_servers_port(make_server: Any, impostor: Any) -> None:
    start_impostor, seen = impostor
    server: ServerProcess = make_server()
    admin = json.loads((server.data_dir / "admin").read_text())
    assert admin["url"] == server.url
    listed = run_cli("keys", "list", "--data-dir", str(server.data_dir))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[:3] == ["PREFIX", "PROJECT", "STATE"]
    assert "default" in listed.stdout

    server.kill()  # kill -9: the admin file stays behind, naming the port
    start_impostor(server.port)
    # The port the user names (as the README said to) is the impostor's: the token must not go there either.
    refused = run_cli("keys", "list", "--data-dir", str(server.data_dir), env={"TRACEHOUSE_PORT": str(server.port)})
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "not the server" in refused.stderr
    assert seen and all(admin["token"] not in json.dumps(h) for h in seen)


def test_clean_stop_removes_the_admin_file_and_keys_open_the_store(make_server: Any) -> None:
    server: ServerProcess = make_server()
    server.stop()
    assert not (server.data_dir / "admin").exists()
    listed = run_cli("keys", "list", "--data-dir", str(server.data_dir))
    assert listed.returncode == 0 and "default" in listed.stdout
