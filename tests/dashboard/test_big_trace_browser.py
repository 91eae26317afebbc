"""A big trace in a real browser (headless Debian Chromium via Playwright): a collapsed row's subtree is fetched when
it is opened, a step with more children than one fetch brings has a "load more" row, and a step's name from the
trace is shown as text, never run as HTML."""

from __future__ import annotations

import time

from tests.dashboard.conftest import TraceBuilder
from tests.dashboard.test_browser import browser, live_app, pytestmark  # noqa: F401  (fixtures and markers)
from tracehouse.domain.model import StepType
from tracehouse.store import Store

EVIL = "<img src=x onerror=\"document.title='pwned'\">"


def test_opening_a_collapsed_row_of_a_big_trace_loads_its_children(
    live_app: tuple[str, object],  # noqa: F811
    store: Store,
    project_id: str,
    browser: object,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    url, app = live_app
    key, _ = app.state.keyring.create(project_id, "browser")  # type: ignore[attr-defined]
    tb = TraceBuilder(project_id, time.time_ns() - 60_000_000_000)
    root = tb.add("big run", 0, 10_000, agent="boss", step_type=StepType.AGENT)
    tb.add("plan", 0, 100, root, step_type=StepType.LLM, request_model="m")
    crowd = tb.add("fan out", 100, 9_000, root, step_type=StepType.AGENT, agent="worker")
    kids = [
        tb.add(EVIL if i == 7 else f"search {i}", 100 + i * 10, 105 + i * 10, crowd, step_type=StepType.TOOL)
        for i in range(620)
    ]
    tb.add("deep", 171, 172, kids[7], step_type=StepType.LLM)
    tb.save(store)

    ctx = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    ctx.add_cookies([{"name": "tracehouse_key", "value": key, "url": url}])
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/traces/{tb.trace_id}")
    expect(page.locator("#tree tbody tr")).to_have_count(3)  # root, plan, fan out: the 620 children are not sent
    row = page.locator(f"#step-{crowd.span_id}")
    expect(row).to_have_attribute("data-lazy", "true")
    row.locator("button.tog").click()
    expect(row.locator("button.tog")).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f"#step-{kids[0].span_id}")).to_be_visible()
    expect(page.locator(f"#step-{kids[499].span_id}")).to_be_attached()
    expect(page.locator(f"#step-{kids[500].span_id}")).to_have_count(0)
    more = page.locator("button.load-more")
    expect(more).to_have_text("load 120 more")
    more.click()
    expect(page.locator(f"#step-{kids[619].span_id}")).to_be_attached()
    expect(page.locator("button.load-more")).to_have_count(0)
    expect(page.locator("#tree tbody tr")).to_have_count(3 + 620)
    # A step named like HTML is text; its own child loads one level further down.
    evil = page.locator(f"#step-{kids[7].span_id}")
    expect(evil.locator("a.step-link")).to_have_text(EVIL)
    assert page.locator("#tree img").count() == 0
    evil.locator("button.tog").click()
    expect(page.locator(f"#step-{tb.steps[-1].span_id}")).to_be_visible()
    # Closing the crowd hides the loaded subtree without fetching it again.
    row.locator("button.tog").click()
    expect(page.locator(f"#step-{kids[0].span_id}")).to_be_hidden()
    assert page.title() != "pwned"
    assert not errors, "\n".join(errors)
