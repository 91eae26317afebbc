"""An agent script instrumented with tracehouse.sdk (in its own process, as a user runs it) exports to a real
`tracehouse serve`; the stored steps are right, field by field."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import httpx
import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    from tracehouse import sdk

    sdk.init(endpoint=sys.argv[1], api_key=sys.argv[2], service_name="trip-planner")

    @sdk.tool("search_flights")
    def search_flights(city: str) -> list[str]:
        return [f"AF123 to {city}"]

    @sdk.agent("researcher")
    def research(city: str) -> str:
        with sdk.llm_call("gpt-4o-mini", "openai", temperature=0.2) as call:
            call.set_usage(input_tokens=400, output_tokens=100, cache_read_tokens=100)
            call.set_response(model="gpt-4o-mini-2024-07-18", finish_reasons=["stop"])
        return search_flights(city)[0]

    @sdk.agent("planner")
    def plan(city: str) -> str:
        with sdk.llm_call("gpt-4o", "openai", attempt=1) as failed:
            failed.record_error(TimeoutError("provider timed out"))
        with sdk.llm_call("gpt-4o", "openai", attempt=2) as call:
            call.set_usage(input_tokens=1000, output_tokens=50)
        with sdk.handoff("planner", "researcher", reason="needs flights"):
            return research(city)

    with sdk.workflow("book-trip") as wf:
        print(wf.span.get_span_context().trace_id.to_bytes(16, "big").hex())
        plan("Paris")
    sdk.shutdown()
    """
)


def test_sdk_instrumented_script_lands_field_by_field(server: Any, tmp_path: Any) -> None:
    script = tmp_path / "agents.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), server.url, server.api_key],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEHOUSE_"))},
    )
    assert proc.returncode == 0, proc.stderr
    trace_id = proc.stdout.strip().splitlines()[-1]

    deadline = time.monotonic() + 20
    steps: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        r = httpx.get(f"{server.url}/api/traces/{trace_id}", headers=server.headers)
        if r.status_code == 200 and len(steps := r.json()["steps"]) >= 8:
            break
        time.sleep(0.2)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        by_name.setdefault(s["name"], []).append(s)
    ids = {s["span_id"]: s for s in steps}

    (wf,) = by_name["invoke_workflow book-trip"]
    assert (wf["step_type"], wf["workflow"], wf["service"], wf["parent_span_id"]) == (
        "workflow",
        "book-trip",
        "trip-planner",
        "",
    )
    (planner,) = by_name["invoke_agent planner"]
    assert planner["agent"] == "planner" and planner["parent_span_id"] == wf["span_id"]

    failed, retried = sorted(by_name["chat gpt-4o"], key=lambda s: s["retry_attempt"])
    assert (failed["status"], failed["retry_attempt"], failed["agent"]) == ("error", 1, "planner")
    assert failed["error_type"] == "TimeoutError" and failed["input_tokens"] is None
    assert (retried["retry_attempt"], retried["input_tokens"], retried["output_tokens"]) == (2, 1000, 50)
    assert retried["cost_usd"] == pytest.approx((1000 * 2.50 + 50 * 10.0) / 1e6)

    (handoff,) = by_name["execute_tool transfer_to_researcher"]
    assert handoff["step_type"] == "handoff" and handoff["parent_span_id"] == planner["span_id"]
    assert (handoff["handoff_source"], handoff["handoff_target"]) == ("planner", "researcher")
    (researcher,) = by_name["invoke_agent researcher"]
    assert researcher["parent_span_id"] == handoff["span_id"]

    (mini,) = by_name["chat gpt-4o-mini"]
    assert (mini["agent"], mini["provider"], mini["request_model"], mini["response_model"]) == (
        "researcher",
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
    assert (mini["input_tokens"], mini["output_tokens"], mini["cache_read_tokens"]) == (400, 100, 100)
    assert mini["cost_usd"] == pytest.approx((300 * 0.15 + 100 * 0.075 + 100 * 0.60) / 1e6)
    assert mini["finish_reasons"] == ["stop"]

    (tool,) = by_name["execute_tool search_flights"]
    assert (tool["step_type"], tool["tool_name"], tool["agent"]) == ("tool", "search_flights", "researcher")
    assert len(tool["content_hash"]) == 64  # sha256 of the canonical input, sent without the input itself
    assert ids[tool["parent_span_id"]]["name"] == "invoke_agent researcher"
    assert "AF123" not in str(steps)  # content capture is off by default
