"""The Alerts page through the test client: every rule with its state, rule and silence forms (create, edit, delete,
refused input), isolation between projects, escaping, and the page without alert evaluation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.dashboard.conftest import build_app, multi_agent_trace
from tracehouse.store import Store

MIN = 60 * 1_000_000_000
# A cookie-authenticated API change must come from the dashboard's origin with a JSON body (the CSRF guard).
SAME_ORIGIN_JSON = {"origin": "http://testserver", "content-type": "application/json"}
RULE = {
    "name": "checkout-errors",
    "metric": "error_rate",
    "op": ">=",
    "threshold": "0.1",
    "window": "1h",
    "for": "",
    "severity": "critical",
    "group_by": "",
    "agent": "",
    "model": "",
    "provider": "",
    "description": "checkout fails",
    "enabled": "on",
}


def api_rules(client: TestClient) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in client.get("/api/alerts").json()["rules"]}


@pytest.fixture
def other(dash_app: FastAPI) -> Iterator[TestClient]:
    """A client signed in to another project."""
    key, _ = dash_app.state.keyring.create("other-" + str(time.time_ns()), "test")
    with TestClient(dash_app, base_url="http://testserver", follow_redirects=False) as c:
        c.cookies.set("tracehouse_key", key)
        yield c


def test_page_lists_the_default_rules_with_their_state(client: TestClient, store: Store, project_id: str) -> None:
    multi_agent_trace(project_id, time.time_ns() - 5 * MIN, error=True).save(store)
    assert client.post("/alerts/rules", data=RULE).status_code == 303
    assert client.post("/api/alerts/check", headers=SAME_ORIGIN_JSON).status_code == 200
    html = client.get("/alerts").text
    for name in ("retry-storm", "retry-storm-traces", "loops", "spend-spike", "checkout-errors"):
        assert f"<strong>{name}</strong>" in html
    assert ">default</td>" in html and ">api</td>" in html
    assert '<span class="badge st-firing">firing</span>' in html and "all: firing = 0.3333" in html
    assert "error_rate &gt;= 0.1 over 1h" in html  # the expression
    twin = {r["name"]: r for r in client.get("/api/alerts-overview").json()["rules"]}
    assert twin["checkout-errors"]["state"] == "firing" and twin["loops"]["source"] == "default"
    assert twin["loops"]["state"] == "inactive"


def test_create_edit_and_delete_a_rule_through_the_forms(client: TestClient) -> None:
    created = client.post("/alerts/rules", data=RULE)
    assert created.status_code == 303 and created.headers["location"] == "/alerts"
    assert "<strong>checkout-errors</strong>" in client.get("/alerts").text
    rule = api_rules(client)["checkout-errors"]
    assert rule["origin"] == "api" and rule["threshold"] == 0.1 and rule["op"] == ">=" and rule["window"] == "1h"
    assert rule["severity"] == "critical" and rule["enabled"] is True and rule["filters"] == {}

    conflict = client.post("/alerts/rules", data=RULE)
    assert conflict.status_code == 409 and "already exists" in conflict.text

    form = client.get("/alerts?edit=checkout-errors")
    assert form.status_code == 200 and 'action="/alerts/rules/checkout-errors"' in form.text
    assert 'name="threshold" value="0.1"' in form.text and "Save rule" in form.text
    edited = {**RULE, "threshold": "0.25", "agent": "checkout", "enabled": ""}
    del edited["enabled"]  # an unchecked box is not sent
    assert client.post("/alerts/rules/checkout-errors", data=edited).status_code == 303
    rule = api_rules(client)["checkout-errors"]
    assert rule["threshold"] == 0.25 and rule["filters"] == {"agent": "checkout"} and rule["enabled"] is False

    assert client.post("/alerts/rules/checkout-errors/delete").status_code == 303
    assert "checkout-errors" not in api_rules(client)
    assert client.post("/alerts/rules/checkout-errors/delete").status_code == 404
    assert client.get("/alerts?edit=checkout-errors").status_code == 404


def test_bad_input_rerenders_the_form_with_the_message_and_creates_nothing(client: TestClient) -> None:
    bad = client.post("/alerts/rules", data={**RULE, "threshold": "lots"})
    assert bad.status_code == 400 and "rule: threshold: Input should be a valid number" in bad.text
    assert 'name="threshold" value="lots"' in bad.text and 'value="checkout fails"' in bad.text  # values kept
    assert "checkout-errors" not in api_rules(client)
    window = client.post("/alerts/rules", data={**RULE, "window": "soon"})
    assert window.status_code == 400 and "rule: window:" in window.text
    assert client.post("/alerts/rules/checkout-errors", data=RULE).status_code == 404


def test_editing_a_default_rule_keeps_what_the_form_does_not_show(client: TestClient) -> None:
    form = client.get("/alerts?edit=loops").text
    assert "Saving replaces the default rule" in form and 'name="name" value="loops"' in form
    values = {"metric": "findings", "op": ">", "threshold": "2", "window": "15m", "severity": "info", "enabled": "on"}
    assert client.post("/alerts/rules/loops", data=values).status_code == 303
    loops = api_rules(client)["loops"]
    assert loops["origin"] == "api" and loops["threshold"] == 2 and loops["filters"] == {"kind": "loop"}
    assert ">api (replaces default)</td>" in client.get("/alerts").text
    assert client.post("/alerts/rules/spend-spike/delete").status_code == 303  # hidden for this project
    assert "spend-spike" not in api_rules(client)


def test_add_and_remove_a_silence(client: TestClient) -> None:
    data = {"rule": "loops", "duration": "2h", "comment": "deploying the planner"}
    assert client.post("/alerts/silences", data=data).status_code == 303
    [silence] = client.get("/api/alerts/silences").json()["silences"]
    assert silence["rule"] == "loops" and silence["comment"] == "deploying the planner"
    html = client.get("/alerts").text
    assert "deploying the planner" in html and f'action="/alerts/silences/{silence["id"]}/delete"' in html

    bad = client.post("/alerts/silences", data={**data, "duration": "a while"})
    assert bad.status_code == 400 and "silence: duration: expected a duration" in bad.text and "a while" in bad.text
    unknown = client.post("/alerts/silences", data={**data, "rule": "nope"})
    assert unknown.status_code == 400 and "no rule named" in unknown.text
    assert client.post("/alerts/silences", data={"duration": "1h"}).status_code == 303  # all rules
    assert len(client.get("/api/alerts/silences").json()["silences"]) == 2

    assert client.post(f"/alerts/silences/{silence['id']}/delete").status_code == 303
    assert [s["rule"] for s in client.get("/api/alerts/silences").json()["silences"]] == [None]
    assert client.post(f"/alerts/silences/{silence['id']}/delete").status_code == 404


def test_another_project_cannot_see_or_delete_this_projects_rules_and_silences(
    client: TestClient, other: TestClient
) -> None:
    assert client.post("/alerts/rules", data=RULE).status_code == 303
    assert client.post("/alerts/silences", data={"rule": "checkout-errors", "comment": "mine only"}).status_code == 303
    [silence] = client.get("/api/alerts/silences").json()["silences"]

    html = other.get("/alerts").text
    assert "<strong>checkout-errors</strong>" not in html and "mine only" not in html
    assert "checkout-errors" not in api_rules(other)
    assert other.get("/alerts?edit=checkout-errors").status_code == 404
    assert other.post("/alerts/rules/checkout-errors", data=RULE).status_code == 404
    assert other.post("/alerts/rules/checkout-errors/delete").status_code == 404
    assert other.post(f"/alerts/silences/{silence['id']}/delete").status_code == 404
    assert "checkout-errors" in api_rules(client)
    assert len(client.get("/api/alerts/silences").json()["silences"]) == 1


def test_cross_site_and_oversized_forms_are_refused(client: TestClient) -> None:
    cross = client.post("/alerts/rules", data=RULE, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403 and "checkout-errors" not in api_rules(client)
    big = client.post("/alerts/rules", data={**RULE, "description": "x" * 30_000})
    assert big.status_code == 413 and "checkout-errors" not in api_rules(client)


def test_markup_in_rule_name_and_description_shows_as_text(client: TestClient) -> None:
    name = "<script>alert(1)</script>"
    bad = client.post("/alerts/rules", data={**RULE, "name": name})
    assert bad.status_code == 400 and "rule: name: String should match pattern" in bad.text
    assert "<script>alert(1)" not in bad.text and 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in bad.text
    img = '"><img src=x onerror=alert(1)>'
    assert client.post("/alerts/rules", data={**RULE, "description": img}).status_code == 303
    html = client.get("/alerts").text
    assert "<img src=x" not in html and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    silence = client.post("/alerts/silences", data={"comment": img})
    assert silence.status_code == 303 and "<img src=x" not in client.get("/alerts").text


def test_without_alert_evaluation_the_page_renders_and_forms_answer_503(store: Store, tmp_path: Path) -> None:
    app = build_app(store, tmp_path, no_auth=True, alerts=False)
    with TestClient(app, follow_redirects=False) as c:
        page = c.get("/alerts")
        assert page.status_code == 200 and "Alert evaluation is not running" in page.text
        assert "No alerts yet" in page.text
        assert c.get("/api/alerts-overview").json()["running"] is False
        for path in ("/alerts/rules", "/alerts/rules/loops", "/alerts/rules/loops/delete", "/alerts/silences"):
            r = c.post(path, data=RULE)
            assert r.status_code == 503 and "alert evaluation is not running" in r.text, path
