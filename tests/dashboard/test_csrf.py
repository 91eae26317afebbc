"""CSRF on the JSON API: a state-changing call authenticated by the dashboard cookie needs a same-origin Origin (or
Referer) and a JSON body; a key in a header needs neither; a `text/plain` body is never read as JSON. In-process
here; `test_browser.py::test_page_on_another_port_cannot_write_with_the_victims_cookie` replays the attack in chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.evals.conftest import make_app
from tracehouse.evals.alerting.api import router as alerts_router
from tracehouse.evals.alerting.service import AlertService
from tracehouse.settings import load_settings
from tracehouse.store import Store

SCORE = '{"trace_id": "' + "a" * 32 + '", "name": "forged", "value": 0}'
ORIGIN = "http://testserver"
JSON = {"content-type": "application/json"}


@pytest.fixture
def app_and_key(store: Store, project_id: str, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    app = make_app(store, tmp_path)
    app.state.alert_service = AlertService(store)
    app.include_router(alerts_router)
    key, _ = app.state.keyring.create(project_id)
    with TestClient(app, base_url=ORIGIN) as client:
        yield client, key


def scores(client: TestClient, key: str) -> list[dict[str, object]]:
    body = client.get("/api/scores", headers={"Authorization": f"Bearer {key}"}).json()
    return list(body["scores"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "text/plain", "origin": "http://127.0.0.1:9"}, 403),  # the sibling-port page
        ({"content-type": "text/plain"}, 403),  # no Origin / Referer at all
        ({**JSON, "origin": "http://127.0.0.1:9"}, 403),
        ({**JSON, "referer": "http://evil.example/page"}, 403),
        ({**JSON, "origin": "null"}, 403),  # a sandboxed frame
        ({"content-type": "text/plain", "origin": ORIGIN}, 415),  # same origin, but not JSON
        ({"content-type": "application/x-www-form-urlencoded", "origin": ORIGIN}, 415),
    ],
)
def test_cookie_authenticated_change_without_same_origin_json_is_refused(
    app_and_key: tuple[TestClient, str], headers: dict[str, str], status: int
) -> None:
    client, key = app_and_key
    client.cookies.set("tracehouse_key", key)
    answer = client.post("/api/scores", content=SCORE, headers=headers)
    assert answer.status_code == status, answer.text
    assert client.post("/api/eval-runs", content='{"eval_run_id": "x"}', headers=headers).status_code == status
    assert client.delete("/api/alerts/rules/errors", headers=headers).status_code == status
    assert scores(client, key) == []


def test_cookie_authenticated_change_from_the_dashboard_origin_works(app_and_key: tuple[TestClient, str]) -> None:
    client, key = app_and_key
    client.cookies.set("tracehouse_key", key)
    assert client.post("/api/scores", content=SCORE, headers={**JSON, "origin": ORIGIN}).status_code == 200
    referer = {**JSON, "referer": f"{ORIGIN}/traces/x"}
    assert client.post("/api/alerts/check", headers=referer).status_code == 200
    assert [s["name"] for s in scores(client, key)] == ["forged"]
    assert client.get("/api/alerts").status_code == 200  # reads need no Origin


def test_key_in_a_header_needs_no_origin_but_a_text_body_is_never_json(app_and_key: tuple[TestClient, str]) -> None:
    client, key = app_and_key
    bearer = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/scores", content=SCORE, headers={**bearer, **JSON}).status_code == 200
    assert client.post("/api/alerts/check", headers=bearer).status_code == 200
    text = client.post("/api/scores", content=SCORE, headers={**bearer, "content-type": "text/plain"})
    assert text.status_code == 415 and "application/json" in text.json()["detail"]


def test_no_auth_server_refuses_cross_origin_and_text_bodies(store: Store, tmp_path: Path) -> None:
    app = make_app(store, tmp_path)
    app.state.settings = load_settings(no_auth=True, data_dir=tmp_path)
    with TestClient(app, base_url=ORIGIN) as client:
        cross = client.post("/api/scores", content=SCORE, headers={**JSON, "origin": "http://localhost:9"})
        assert cross.status_code == 403
        text = client.post("/api/scores", content=SCORE, headers={"content-type": "text/plain"})
        assert text.status_code == 415
        assert client.post("/api/scores", content=SCORE, headers=JSON).status_code == 200  # curl, scripts
