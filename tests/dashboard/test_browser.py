"""The dashboard in a real browser (headless Debian Chromium via Playwright) against a real `tracehouse serve`,
filled with spans sent by the OpenTelemetry SDK's own OTLP/HTTP exporter. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ARTIFACTS, ServerProcess, free_port
from tests.dashboard.conftest import build_app, multi_agent_trace

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install -y chromium"),
]


@pytest.fixture
def dash_server(make_server: Any) -> ServerProcess:
    server: ServerProcess = make_server()
    return server


def send_traces(url: str, key: str) -> None:
    """Two multi-agent runs through the real OTLP/HTTP exporter: planner hands off to researcher; router calls coder."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "browser-test"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {key}"}))
    )
    tracer = provider.get_tracer("tests.browser")

    def chat(model: str, tokens: int) -> None:
        with tracer.start_as_current_span(
            f"chat {model}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.provider.name": "openai",
                "gen_ai.usage.input_tokens": tokens,
                "gen_ai.usage.output_tokens": tokens // 4,
            },
        ):
            time.sleep(0.01)

    for first, second in (("planner", "researcher"), ("router", "coder")):
        with (
            tracer.start_as_current_span(
                "research run",
                attributes={"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "research"},
            ),
            tracer.start_as_current_span(
                f"invoke_agent {first}",
                attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": first},
            ),
        ):
            chat("gpt-4o", 1000)
            with (
                tracer.start_as_current_span(
                    f"execute_tool transfer_to_{second}",
                    attributes={
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": f"transfer_to_{second}",
                        "tracehouse.handoff.source": first,
                        "tracehouse.handoff.target": second,
                        "tracehouse.handoff.reason": "needs sources",
                    },
                ),
                tracer.start_as_current_span(
                    f"invoke_agent {second}",
                    attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": second},
                ),
            ):
                with tracer.start_as_current_span(
                    "execute_tool web_search",
                    attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "web_search"},
                ):
                    time.sleep(0.02)
                chat("gpt-4o-mini", 400)
    provider.shutdown()


def wait_for_traces(url: str, key: str, n: int, timeout: float = 30.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/api/traces", headers={"Authorization": f"Bearer {key}"})
        traces = r.json().get("traces", []) if r.status_code == 200 else []
        if len(traces) >= n and all(t["spans"] >= 7 for t in traces):
            return traces
        time.sleep(0.3)
    raise AssertionError(f"traces did not arrive: {r.status_code} {r.text[:300]}")


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_traces_filter_open_trace_expand_waterfall_and_graph(dash_server: ServerProcess, browser: object) -> None:
    from playwright.sync_api import expect

    send_traces(dash_server.url, dash_server.api_key)
    wait_for_traces(dash_server.url, dash_server.api_key, 2)
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1500, "height": 1000})  # type: ignore[attr-defined]
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{dash_server.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.fill("#key", dash_server.api_key)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Traces")).to_be_visible()
    expect(page.locator("table.traces tbody tr")).to_have_count(2)
    shot(page, "traces")

    page.fill("input[name=agent]", "coder")
    page.press("input[name=agent]", "Enter")
    expect(page.locator("table.traces tbody tr")).to_have_count(1)
    assert "agent=coder" in page.url
    expect(page.locator("table.traces")).to_contain_text("coder")
    page.click("a.trace-link")

    expect(page.get_by_role("heading", name="Agent graph")).to_be_visible()
    expect(page.locator("#agent-graph canvas").first).to_be_visible()  # drawn by Cytoscape
    expect(page.locator("table.edges")).to_contain_text("router")
    expect(page.locator("table.edges")).to_contain_text("handoff")
    expect(page.locator("svg.wf rect").first).to_be_visible()
    expect(page.get_by_text("Model inference")).to_be_visible()

    coder_row = page.locator("tr", has=page.locator("a.step-link", has_text="invoke_agent coder"))
    tool_row = page.locator("tr", has=page.locator("a.step-link", has_text="execute_tool web_search"))
    expect(tool_row).to_be_visible()
    coder_row.locator("button.tog").click()  # collapse the coder's subtree ...
    expect(tool_row).to_be_hidden()
    coder_row.locator("button.tog").click()  # ... and expand it again
    expect(tool_row).to_be_visible()
    tool_row.locator("a.step-link").click()
    expect(page.locator("#step-detail")).to_contain_text("web_search")
    expect(page.locator("#step-detail")).to_contain_text("Why it ran")
    shot(page, "trace")
    assert not errors, "\n".join(errors)


@pytest.fixture
def live_app(store, tmp_path: Path) -> Iterator[tuple[str, object]]:
    """The dashboard over the session store on a real uvicorn socket (for data the test writes directly)."""
    import uvicorn

    app = build_app(store, tmp_path)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_follow_a_finding_to_its_step(live_app: tuple[str, object], store, project_id: str, browser: object) -> None:
    from playwright.sync_api import expect

    url, app = live_app
    key, _ = app.state.keyring.create(project_id, "browser")  # type: ignore[attr-defined]
    tb = multi_agent_trace(project_id, time.time_ns() - 60_000_000_000)
    # Make the flagged step deep and start collapsed: a big trace under the researcher's tool call.
    tool = tb.steps[5]
    for i in range(400):
        tb.add(f"sub {i}", 260 + i * 0.5, 260 + i * 0.5 + 0.4, tool, agent="researcher")
    target = tb.add("repeat web_search", 300, 310, tb.steps[4], agent="researcher")
    tb.save(store)
    store.insert(
        "findings",
        [
            [project_id],
            [uuid.uuid4().hex[:16]],
            ["loop"],
            ["high"],
            [tb.trace_id],
            [[target.span_id]],
            [["researcher"]],
            [900],
            [0.004],
            ["researcher repeated web_search 4 times with the same input"],
            ["{}"],
            [datetime.now(UTC)],
        ],
        [
            "project_id",
            "id",
            "kind",
            "severity",
            "trace_id",
            "span_ids",
            "agents",
            "wasted_tokens",
            "wasted_cost_usd",
            "explanation",
            "details",
            "detected_at",
        ],
    )
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})  # type: ignore[attr-defined]
    ctx.add_cookies([{"name": "tracehouse_key", "value": key, "url": url}])
    page = ctx.new_page()
    page.goto(f"{url}/?has_finding=true")
    expect(page.locator("table.traces tbody tr")).to_have_count(1)
    expect(page.locator("table.traces")).to_contain_text("loop")
    page.click("a.trace-link")
    finding = page.locator("li.finding")
    expect(finding).to_contain_text("repeated web_search 4 times")
    row = page.locator(f"#step-{target.span_id}")
    finding.locator("a.finding-step").first.click()
    expect(row).to_be_visible()
    expect(row).to_have_class(__import__("re").compile(r"\bselected\b"))
    expect(page.locator("#step-detail")).to_contain_text("repeat web_search")
    expect(page.locator("#step-detail")).to_contain_text("loop")
    shot(page, "finding")


ATTACK_PAGE = """<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" target="sink" action="{victim}/api/scores">
<input name='{{"trace_id":"{trace}","name":"csrf-form","value":0,"x":"' value='"}}'></form>
<iframe name="sink"></iframe>
<script>
const victim = "{victim}";
const score = JSON.stringify({{trace_id: "{trace}", name: "csrf-fetch", value: 0}});
const run = JSON.stringify({{eval_run_id: "csrf-run", suite: "forged"}});
const opts = (body) => ({{method: "POST", mode: "no-cors", credentials: "include",
                          headers: {{"Content-Type": "text/plain"}}, body}});
Promise.allSettled([
  fetch(victim + "/api/scores", opts(score)),
  fetch(victim + "/api/eval-runs", opts(run)),
  fetch(victim + "/api/alerts/check", {{method: "POST", mode: "no-cors", credentials: "include"}}),
]).then(() => {{
  document.querySelector("iframe").addEventListener("load", () => {{ document.title = "sent"; }});
  document.getElementById("f").submit();
}});
</script></body></html>"""


@pytest.fixture
def attacker_site() -> Iterator[tuple[str, dict[str, str]]]:
    """A page server on another loopback port: same site as the dashboard (ports do not count), another origin."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", pages
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_page_on_another_port_cannot_write_with_the_victims_cookie(
    dash_server: ServerProcess, attacker_site: tuple[str, dict[str, str]], browser: object
) -> None:
    from playwright.sync_api import expect

    evil_url, pages = attacker_site
    trace = uuid.uuid4().hex
    pages["/"] = ATTACK_PAGE.format(victim=dash_server.url, trace=trace)
    ctx = browser.new_context()  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.goto(f"{dash_server.url}/login")  # the victim signs in: the real SameSite=Strict cookie
    page.fill("#key", dash_server.api_key)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Traces", exact=True)).to_be_visible()

    evil = ctx.new_page()
    evil.goto(evil_url + "/")
    expect(evil).to_have_title("sent", timeout=15_000)
    headers = dash_server.headers
    forged = httpx.get(f"{dash_server.url}/api/scores", params={"trace_id": trace}, headers=headers).json()["scores"]
    runs = httpx.get(f"{dash_server.url}/api/eval-runs", headers=headers).json()["eval_runs"]
    assert forged == [] and [r for r in runs if r["eval_run_id"] == "csrf-run"] == []

    # The dashboard's own form, in the same browser, still changes things.
    page.goto(f"{dash_server.url}/alerts")
    page.locator("#rule-form summary").click()
    rule = page.locator("form[aria-label='alert rule']")
    rule.locator("input[name=name]").fill("csrf-own-form")
    rule.locator("input[name=threshold]").fill("0.5")
    rule.locator("button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("csrf-own-form")
    names = [r["name"] for r in httpx.get(f"{dash_server.url}/api/alerts", headers=headers).json()["rules"]]
    assert "csrf-own-form" in names
