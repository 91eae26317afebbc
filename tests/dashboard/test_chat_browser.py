"""The step panel's chat view in a real browser (headless Debian Chromium via Playwright, 1440x900): each convention's
messages from real instrumentation, the raw JSON toggle, long messages folded, tool results linked to their calls,
hostile content inert, and the first screen holding the tree and the panel. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, free_port
from tests.dashboard.chat_traces import CONVENTIONS, IMG, handoff_call, hostile_trace, load_fixture
from tests.dashboard.conftest import TraceBuilder, build_app
from tests.dashboard.test_browser import ARGS, CHROMIUM, pytestmark  # noqa: F401  (markers)
from tracehouse.domain.model import StepType
from tracehouse.store import Store

VIEWPORT = {"width": 1440, "height": 900}


@pytest.fixture(scope="module")
def site(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(url, project, key): the dashboard over the session store on a real uvicorn socket, one project per module."""
    import uvicorn

    app = build_app(store, tmp_path_factory.mktemp("chat"))
    project = "chat" + uuid.uuid4().hex[:10]
    key, _ = app.state.keyring.create(project, "browser")
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", project, key
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(site: tuple[str, str, str], chromium: Any) -> Iterator[Any]:
    """A signed-in page at 1440x900 that records script errors and CSP refusals (asserted empty at the end)."""
    url, _, key = site
    ctx = chromium.new_context(viewport=VIEWPORT)
    ctx.add_cookies([{"name": "tracehouse_key", "value": key, "url": url}])
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("dialog", lambda d: (problems.append("dialog: " + d.message), d.dismiss()))
    pg.problems = problems
    yield pg
    ctx.close()
    assert not problems, "\n".join(problems)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"chat-{name}.png"
    page.screenshot(path=str(path))  # the first screen, as a person sees it
    return path


def box(page: Any, selector: str) -> dict[str, float]:
    b = page.locator(selector).first.bounding_box()
    assert b is not None, selector
    return b


@pytest.mark.parametrize("convention", ["genai", "openinference", "openllmetry", "genai_events"])
def test_chat_view_of_each_convention(site: tuple[str, str, str], store: Store, page: Any, convention: str) -> None:
    from playwright.sync_api import expect

    url, project, _ = site
    step = handoff_call(load_fixture(store, project, CONVENTIONS[convention]))
    page.goto(f"{url}/traces/{step.trace_id}?span={step.span_id}")
    detail = page.locator("#step-detail")
    chat = detail.locator("[data-view='chat']")
    expect(chat.locator(".msg.r-system").first).to_be_visible()
    expect(chat.locator(".msg.r-user").first).to_be_visible()
    output = chat.locator("h5.side", has_text="Output")
    expect(output).to_be_visible()
    calls = detail.locator(".call-head strong")
    if convention == "genai_events":  # Strands: the researcher asks for two tools
        expect(calls).to_have_text(["web_search", "flaky_fetch"])
    else:  # the Planner read get_order's result and hands off to billing
        expect(calls).to_have_text(["get_order", "transfer_to_billing"])
        expect(chat.locator(".msg.r-user .md")).to_have_text("Please refund order A-1.")
        result = chat.locator(".msg.r-tool")
        expect(result.locator(".msg-head")).to_contain_text("result of get_order")
        expect(result.locator("pre.json")).to_contain_text('"status": "delivered"')
        # The result links to its call, and the call to its result.
        result.locator("[data-jump]").click()
        expect(chat.locator(".msg.flash .call-head")).to_contain_text("get_order")
        expect(detail.locator(".call", has_text="get_order").locator("a", has_text="result")).to_be_visible()
    # The first screen holds the tree and the whole panel's top.
    panel = box(page, "#step-detail")
    assert panel["y"] < 260 and panel["y"] + panel["height"] <= VIEWPORT["height"], panel
    assert box(page, "#tree th.name-col")["width"] >= 340
    shot(page, convention)


def test_selecting_a_step_loads_its_messages(site: tuple[str, str, str], store: Store, page: Any) -> None:
    """The panel fetched on a click (not rendered with the page) has the same chat view and controls."""
    from playwright.sync_api import expect

    url, project, _ = site
    steps = load_fixture(store, project, CONVENTIONS["openinference"])
    step = handoff_call(steps)
    page.goto(f"{url}/traces/{step.trace_id}")
    page.locator(f"#step-{step.span_id} a.step-link").click()
    detail = page.locator("#step-detail")
    expect(detail.locator(".msg.r-tool")).to_contain_text("delivered")
    detail.locator("[data-raw-toggle]").click()
    expect(detail.locator("[data-view='raw']")).to_contain_text("llm.input_messages.3.message.tool_call_id")


def test_raw_json_toggle_and_long_messages_fold(site: tuple[str, str, str], store: Store, page: Any) -> None:
    from playwright.sync_api import expect

    url, project, _ = site
    long_text = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum dolor " * 12 for i in range(30))
    tb = TraceBuilder(project, time.time_ns() - 60_000_000_000)
    call = tb.add(
        "chat long",
        0,
        100,
        step_type=StepType.LLM,
        request_model="m",
        attributes={
            "gen_ai.input.messages": (
                '[{"role": "user", "parts": [{"type": "text", "content": "short question"},'
                ' {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="}]},'
                f' {{"role": "assistant", "parts": [{{"type": "text", "content": {json.dumps(long_text)}}}]}}]'
            ),
            "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "**done**"}]}]',
        },
    )
    tb.save(store)
    page.goto(f"{url}/traces/{tb.trace_id}?span={call.span_id}")
    detail = page.locator("#step-detail")
    long_msg = detail.locator(".msg.long")
    expect(long_msg).to_have_class(re.compile(r"\bclamp\b"))
    folded = long_msg.locator(".msg-body").bounding_box()
    assert folded is not None and folded["height"] < 260
    expect(detail.locator(".msg.r-user:not(.long)")).to_have_count(1)  # a short message is never folded
    expect(detail.locator(".md strong")).to_have_text("done")  # markdown rendered
    expect(detail.locator(".msg.r-user .media")).to_have_text("image image/png")  # a placeholder, never loaded
    button = long_msg.locator("[data-expand]")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    unfolded = long_msg.locator(".msg-body").bounding_box()
    assert unfolded is not None and unfolded["height"] > 3 * folded["height"]
    expect(long_msg.locator(".md")).to_contain_text("Paragraph 29")
    button.click()
    expect(long_msg).to_have_class(re.compile(r"\bclamp\b"))
    shot(page, "long-folded")

    toggle = detail.locator("[data-raw-toggle]")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(detail.locator("[data-view='chat']")).to_be_hidden()
    raw = detail.locator("[data-view='raw']")
    expect(raw).to_be_visible()
    expect(raw).to_contain_text("gen_ai.input.messages")
    expect(raw).to_contain_text('"role": "assistant"')  # indented JSON as stored
    shot(page, "raw")
    toggle.click()
    expect(raw).to_be_hidden()
    expect(detail.locator("[data-view='chat']")).to_be_visible()


@pytest.mark.parametrize("convention", ["genai", "openinference", "openllmetry", "genai_events", "raw", "value"])
def test_hostile_message_content_renders_as_text(
    site: tuple[str, str, str], store: Store, page: Any, convention: str
) -> None:
    """Selected by a click, so the panel arrives through trace.js (fetched HTML put in the page)."""
    from playwright.sync_api import expect

    url, project, _ = site
    hostile = hostile_trace(store, project)
    step = hostile.steps[convention]
    page.goto(f"{url}/traces/{hostile.trace_id}")
    page.locator(f"#step-{step.span_id} a.step-link").click()
    detail = page.locator("#step-detail")
    expect(detail.locator(f".step-detail[data-span='{step.span_id}']")).to_be_attached()
    expect(detail).to_contain_text(IMG)  # shown, as text
    for tag in ("img", "script", "iframe", "svg", "style", "object", "embed"):
        assert detail.locator(tag).count() == 0, tag
    hrefs = detail.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href') || '')")
    assert not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:", "vbscript:"))], hrefs
    handlers = detail.locator("*").evaluate_all(
        "els => els.flatMap(e => Array.from(e.attributes).map(a => a.name)).filter(n => n.startsWith('on'))"
    )
    assert handlers == []
    for link in detail.locator(".md a").all():  # clicking what markdown made a link goes nowhere harmful
        if (link.get_attribute("href") or "").startswith("https://example.com"):
            continue
        link.click(modifiers=["Alt"])  # Alt: no navigation away, but any script URL would still run
    page.wait_for_timeout(200)
    assert page.title() != "pwned"
    if convention == "genai":
        shot(page, "hostile")


def test_first_screen_of_a_many_agent_trace(site: tuple[str, str, str], store: Store, page: Any) -> None:
    """At 1440x900 the tree starts near the top in a wide column, the panel beside it; the agent graph has room."""
    from playwright.sync_api import expect

    url, project, _ = site
    steps = load_fixture(store, project, "openai_agents_retry_storm_openinference")
    page.goto(f"{url}/traces/{steps[0].trace_id}")
    expect(page.locator("#step-detail .step-detail")).to_be_visible()  # the root is selected at first
    shot(page, "first-screen")
    tree = box(page, "#tree")
    assert tree["y"] < 260, tree
    assert box(page, "#tree th.name-col")["width"] >= 340
    panel = box(page, "#step-detail")
    assert panel["x"] > tree["x"] + 600 and panel["y"] + panel["height"] <= VIEWPORT["height"]
    cut = page.locator("#tree a.step-link").evaluate_all(
        "els => els.filter(e => e.offsetParent"
        " && e.getBoundingClientRect().right > e.closest('td').getBoundingClientRect().right).map(e => e.textContent)"
    )
    assert cut == [], "no step name is cut in the tree"
    page.locator("#graph-h").scroll_into_view_if_needed()
    graph = box(page, "#agent-graph")
    assert graph["width"] >= 700 and graph["height"] >= 380, graph
    expect(page.locator("#agent-graph canvas").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "chat-agent-graph.png"))


def test_a_finding_below_brings_its_step_and_the_panel_into_view(
    site: tuple[str, str, str], store: Store, page: Any
) -> None:
    from playwright.sync_api import expect

    url, project, _ = site
    steps = load_fixture(store, project, "openai_agents_retry_storm_openinference")
    target = max(steps, key=lambda s: s.start_time_ns)  # the last step: at the bottom of the tree
    columns = ["project_id", "id", "kind", "severity", "trace_id", "span_ids", "agents", "wasted_tokens"]
    columns += ["wasted_cost_usd", "explanation", "details", "detected_at"]
    row = [project, uuid.uuid4().hex[:16], "retry_storm", "high", target.trace_id, [target.span_id], ["a"], 0, 0.0]
    row += ["flaky_lookup retried 5 times", "{}", datetime.now(UTC)]
    store.insert("findings", [[v] for v in row], columns)
    page.goto(f"{url}/traces/{target.trace_id}")
    finding = page.locator("li.finding a.finding-step").first
    finding.scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 300
    finding.click()
    expect(page.locator(f"#step-detail .step-detail[data-span='{target.span_id}']")).to_be_visible()
    tr, panel, tree = box(page, f"#step-{target.span_id}"), box(page, "#step-detail"), box(page, ".tree-scroll")
    assert panel["y"] >= 0 and panel["y"] + panel["height"] <= VIEWPORT["height"] + 1, panel
    assert tree["y"] <= tr["y"] and tr["y"] + tr["height"] <= tree["y"] + tree["height"], (tr, tree)
    shot(page, "finding-selected")
    # 24 input messages: the middle of the history folds, the start and the latest turns stay open.
    detail = page.locator("#step-detail")
    history = detail.locator("details.history")
    expect(history.locator("summary")).to_have_text("18 earlier messages")
    expect(history.locator(".msg").first).to_be_hidden()
    expect(detail.locator("[data-view='chat'] > .msg")).to_have_count(6 + 1)  # 2 + 4 open, and the answer
    detail.locator("a", has_text="Output ↓").click()
    out = box(page, f"#out-{target.span_id}")
    assert panel["y"] <= out["y"] <= panel["y"] + panel["height"], "the output heading scrolled into the panel"
