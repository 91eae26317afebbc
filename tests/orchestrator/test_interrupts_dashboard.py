"""Pending interrupts answered from the dashboard (issue 14, piece 4), against a real `tracehouse serve`: the run's
spans reach the server over OTLP/HTTP, the interrupt is listed from its span (`GET /api/interrupts` and the
Interrupts page), a person answers it there (API or form), and the run's owner resumes with `server=`, which takes
the answer into the run's own SQLite state. One server for the module."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from pydantic import BaseModel

from tests.conftest import ARTIFACTS, ServerProcess, free_port
from tracehouse.orchestrator import Agent, FakeProvider, Orchestrator, OrchestratorError, SQLiteStateStore
from tracehouse.orchestrator.cli import runs_group

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


class Address(BaseModel):
    street: str
    city: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("serve") / "data", free_port(), free_port()).start()
    yield proc
    proc.stop()


def _capture_content(monkeypatch: Any) -> None:
    from opentelemetry import trace as otel_trace

    from tracehouse.sdk._content import BUILTIN_REDACTORS, make_policy
    from tracehouse.sdk._state import HOLDER, TRACER_NAME, Runtime

    tracer = otel_trace.get_tracer_provider().get_tracer(TRACER_NAME)
    monkeypatch.setattr(HOLDER, "runtime", Runtime(tracer, make_policy(True, 2000, BUILTIN_REDACTORS)))


def _orch(db: Path, shipped: list[str]) -> Orchestrator:
    def clerk(ctx: Any) -> dict[str, Any]:
        where = ctx.interrupt("Where should parcel <b>7</b> go? Ask ops@example.com if unsure.", Address)
        shipped.append(where.city)
        return {"city": where.city}

    return Orchestrator(
        "t.dashboard", Agent("clerk", clerk, writes=["city"]), provider=FakeProvider(), store=SQLiteStateStore(db)
    )


def _send(server: ServerProcess, spans: Any, trace_id: str) -> None:
    mine = [s for s in spans.all() if format(s.context.trace_id, "032x") == trace_id]
    body = encode_spans(mine).SerializeToString()
    sent = httpx.post(
        f"{server.url}/v1/traces",
        content=body,
        headers={**server.headers, "content-type": "application/x-protobuf"},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text


def _listed(server: ServerProcess, trace_id: str, want: int, headers: dict[str, str] | None = None) -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        got = httpx.get(
            f"{server.url}/api/interrupts", params={"trace_id": trace_id}, headers=headers or server.headers
        )
        assert got.status_code == 200, got.text
        items = got.json()["interrupts"]
        if len(items) == want or time.monotonic() > deadline:
            return list(items)
        time.sleep(0.3)


def _other_key(server: ServerProcess) -> dict[str, str]:
    token = json.loads((server.data_dir / "admin").read_text())["token"]
    created = httpx.post(
        f"{server.url}/api/admin/keys", json={"project": "other-team"}, headers={"x-tracehouse-admin": token}
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def test_an_interrupt_is_answered_in_the_dashboard_and_the_run_resumes_with_it(
    server: ServerProcess, spans: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    _capture_content(monkeypatch)
    shipped: list[str] = []
    db = tmp_path / "runs.db"
    paused = _orch(db, shipped).run({})
    assert paused.status == "interrupted"
    _send(server, spans, paused.trace_id)

    [item] = _listed(server, paused.trace_id, 1)
    [local] = _orch(db, shipped).pending_interrupts(paused.trace_id)
    assert item["interrupt_id"] == local.interrupt_id and item["kind"] == "question" and item["status"] == "pending"
    assert item["question"].startswith("Where should parcel <b>7</b> go?") and "ops@example.com" not in item["question"]
    assert item["answer_schema"]["required"] == ["street", "city"] and item["agent"] == "clerk"
    assert _listed(server, paused.trace_id, 0, _other_key(server)) == []  # another project's key sees nothing

    page = httpx.get(f"{server.url}/interrupts", headers=server.headers)
    assert page.status_code == 200 and "Where should parcel &lt;b&gt;7&lt;/b&gt; go?" in page.text  # escaped
    assert "<b>7</b>" not in page.text

    answer_url = f"{server.url}/api/interrupts/{item['interrupt_id']}/answer"
    first = httpx.post(answer_url, json={"answer": {"street": "1 Quay", "city": "Rennes"}}, headers=server.headers)
    assert first.status_code == 200 and first.json()["status"] == "answered"
    # the page's form replaces the answer (same origin, urlencoded, as a browser sends it)
    form = httpx.post(
        f"{server.url}/interrupts/{item['interrupt_id']}/answer",
        data={"trace_id": paused.trace_id, "answer": '{"street": "1 Quay", "city": "Brest"}'},
        headers={**server.headers, "origin": server.url},
    )
    assert form.status_code == 303, form.text
    [answered] = _listed(server, paused.trace_id, 1)
    assert answered["status"] == "answered" and answered["answer"] == {"street": "1 Quay", "city": "Brest"}

    done = _orch(db, shipped).resume(paused.trace_id, server=server.url, api_key=server.api_key)
    assert done.ok, done.error
    assert shipped == ["Brest"] and done.state["city"] == "Brest"
    _send(server, spans, paused.trace_id)  # the resumed step says the interrupt was answered
    assert _listed(server, paused.trace_id, 0) == []


def test_bad_answers_are_refused_with_a_message(server: ServerProcess) -> None:
    unknown = "0" * 32
    url = f"{server.url}/api/interrupts/{unknown}/answer"
    missing = httpx.post(url, json={"answer": "approve"}, headers=server.headers)
    assert missing.status_code == 404 and "no pending interrupt" in missing.json()["error"]
    bad_id = httpx.post(f"{server.url}/api/interrupts/nope/answer", json={"answer": 1}, headers=server.headers)
    assert bad_id.status_code in (400, 422) and "Traceback" not in bad_id.text
    not_json = httpx.post(url, content=b"{", headers={**server.headers, "content-type": "application/json"})
    assert not_json.status_code in (400, 422) and "Traceback" not in not_json.text
    assert httpx.post(url, json={"answer": 1}).status_code == 401  # no key
    huge = httpx.post(url, json={"answer": "x" * 20_000}, headers=server.headers)
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]
    bad_filter = httpx.get(f"{server.url}/api/interrupts", params={"trace_id": "x'"}, headers=server.headers)
    assert bad_filter.status_code in (400, 422)
    cross = httpx.post(
        f"{server.url}/interrupts/{unknown}/answer",
        data={"answer": "approve"},
        headers={**server.headers, "origin": "http://evil.example"},
    )
    assert cross.status_code == 403


def test_resuming_from_a_server_that_refuses_says_so(tmp_path: Path, server: ServerProcess) -> None:
    shipped: list[str] = []
    db = tmp_path / "runs.db"
    paused = _orch(db, shipped).run({})
    with pytest.raises(OrchestratorError, match=r"refused the interrupts .*401.*key"):
        _orch(db, shipped).resume(paused.trace_id, server=server.url, api_key="not-a-key")
    args = ["pull", "--db", str(db), paused.trace_id, "--server", server.url]
    refused = CliRunner().invoke(runs_group, args, env={"TRACEHOUSE_API_KEY": ""})
    assert refused.exit_code != 0 and "refused" in refused.output and "Traceback" not in refused.output
    out = CliRunner().invoke(runs_group, [*args, "--api-key", server.api_key])
    assert out.exit_code == 0 and "no answer on" in out.output  # nothing answered on the server for this run


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install -y chromium")
def test_a_person_answers_on_the_interrupts_page_in_a_browser(
    server: ServerProcess, spans: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _capture_content(monkeypatch)
    shipped: list[str] = []
    db = tmp_path / "runs.db"
    paused = _orch(db, shipped).run({})
    _send(server, spans, paused.trace_id)
    [item] = _listed(server, paused.trace_id, 1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/login")
            page.fill("#key", server.api_key)
            page.click("button[type=submit]")
            page.click("nav >> text=Interrupts")
            row = page.locator("tr", has=page.locator(f"form[action='/interrupts/{item['interrupt_id']}/answer']"))
            expect(row).to_contain_text("Where should parcel <b>7</b> go?")  # shown as text, not markup
            row.locator("textarea[name=answer]").fill('{"street": "2 Rue", "city": "Nantes"}')
            row.locator("button[type=submit]").click()
            answered = page.locator("tr", has=page.locator(f"form[action='/interrupts/{item['interrupt_id']}/answer']"))
            expect(answered).to_contain_text("answered")
            expect(answered).to_contain_text("Nantes")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-interrupts.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
    done = _orch(db, shipped).resume(paused.trace_id, server=server.url, api_key=server.api_key)
    assert done.ok and shipped == ["Nantes"]
