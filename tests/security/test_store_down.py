"""A remote store that stops answering must not stall the server: key lookups read a snapshot that a background
thread refreshes, so `/healthz` answers at once while the store hangs (real `tracehouse serve`, real sockets)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerProcess, free_port
from tracehouse.store import Store, StoreUnavailable
from tracehouse.store.keys import KeyRing

OTLP_JSON = b'{"resourceSpans": []}'


class BlackHole:
    """A TCP port that accepts connections and never answers: a remote ClickHouse host that hangs."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)  # never accept(): connections wait in the backlog, reads never return

    def close(self) -> None:
        self.sock.close()  # resets the waiting connections, so the hung reads fail now


@pytest.fixture
def dead_port() -> Iterator[int]:
    yield free_port()


def test_key_lookup_answers_from_the_snapshot_while_the_store_hangs(store: Store, project_id: str) -> None:
    live = KeyRing(store)
    key, _ = live.create(project_id)
    hole = BlackHole(free_port())
    ring = KeyRing(Store(f"http://127.0.0.1:{hole.port}/", query_timeout=20), refresh_seconds=0.05)
    ring._by_hash = dict(live._by_hash or {})  # the snapshot the ring had before its store went away
    ring.start()
    try:
        time.sleep(0.3)  # the refresher is now stuck in a read on the black hole
        t0 = time.monotonic()
        assert ring.project_for(key) == project_id
        assert ring.project_for("th_unknown") is None
        assert time.monotonic() - t0 < 0.1
    finally:
        hole.close()
        ring.stop()


def test_a_ring_that_never_loaded_refuses_at_once(dead_port: int) -> None:
    hole = BlackHole(dead_port)
    ring = KeyRing(Store(f"http://127.0.0.1:{dead_port}/", query_timeout=20))
    ring.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable):
            ring.project_for("th_anything")
        assert time.monotonic() - t0 < 0.1
    finally:
        hole.close()
        ring.stop()


def test_healthz_answers_fast_while_the_remote_store_hangs(make_server: object, dead_port: int) -> None:
    # The store refuses at start (the server starts, spooling), then hangs: every new connection is a black hole.
    server: ServerProcess = make_server(extra_args=["--dsn", f"http://127.0.0.1:{dead_port}/tracehouse"])  # type: ignore[operator]
    hole = BlackHole(dead_port)
    answers: list[int] = []

    def export() -> None:
        headers = {"content-type": "application/json", "authorization": "Bearer th_not_checkable_now"}
        try:
            r = httpx.post(f"{server.url}/v1/traces", content=OTLP_JSON, headers=headers, timeout=60)
            answers.append(r.status_code)
        except httpx.HTTPError:
            answers.append(-1)

    try:
        senders = [threading.Thread(target=export) for _ in range(3)]
        for t in senders:
            t.start()
            time.sleep(0.2)
        worst = 0.0
        for _ in range(15):
            t0 = time.monotonic()
            assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.2)
        for t in senders:
            t.join(timeout=60)
        assert worst < 0.5, f"/healthz took {worst:.2f}s while the store hung"
        assert answers == [503, 503, 503]  # "retry later": the key cannot be checked, nothing is accepted blind
    finally:
        hole.close()
        server.stop()
