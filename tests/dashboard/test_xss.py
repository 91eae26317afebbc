"""Everything a span carries is untrusted: names, attributes, agents, previews and hand-off reasons show as text."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.dashboard.conftest import TraceBuilder
from tracehouse.domain.model import StepType
from tracehouse.store import Store

SCRIPT = "<script>alert('xss')</script>"
IMG = '"><img src=x onerror=alert(1)>'
BREAKOUT = "</script><script>alert(2)</script>"


def test_hostile_span_content_is_escaped_everywhere(client: TestClient, store: Store, project_id: str) -> None:
    tb = TraceBuilder(project_id, time.time_ns() - 60_000_000_000)
    root = tb.add(
        SCRIPT, 0, 100, agent=IMG, step_type=StepType.AGENT, workflow=IMG, attributes={"note": IMG, SCRIPT: "k"}
    )
    tb.add(
        f"transfer {IMG}",
        10,
        50,
        root,
        step_type=StepType.HANDOFF,
        handoff_source=IMG,
        handoff_target=BREAKOUT,
        attributes={"tracehouse.handoff.reason": BREAKOUT},
        input_preview=SCRIPT,
        output_preview=IMG,
    )
    tb.add("chat", 20, 40, root, agent=BREAKOUT, step_type=StepType.LLM, request_model=IMG, input_tokens=1)
    tb.save(store)
    pages = [
        "/",
        "/?range=all",
        f"/traces/{tb.trace_id}",
        f"/traces/{tb.trace_id}?span={tb.steps[1].span_id}",
        f"/traces/{tb.trace_id}/steps/{tb.steps[0].span_id}",
        "/agents",
        "/models",
        "/agents?agent=" + "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        "/?q=%3Cscript%3Ealert(1)%3C/script%3E",
        "/?agent=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
    ]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        html = r.text
        assert "<script>alert" not in html, path
        assert "<img" not in html, path  # no page has an image of its own
    trace_html = client.get(f"/traces/{tb.trace_id}?span={tb.steps[1].span_id}").text
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in trace_html  # shown, as text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in trace_html
    assert "\\u003c/script\\u003e" in trace_html  # agent graph JSON block cannot be broken out of
    bad = client.get("/traces/" + "%3Cscript%3Ealert(1)%3C")
    assert bad.status_code == 400 and "<script>alert" not in bad.text
