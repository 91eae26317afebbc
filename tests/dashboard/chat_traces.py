"""Traces with message content for the chat view's tests: real instrumentation's captured exports
(tests/conformance/fixtures) through the real normaliser into the store, and hostile content in every convention."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from tests.conformance.replay import fixtures, retrace
from tests.dashboard.conftest import TraceBuilder
from tracehouse.collector.normalise import attribute_by_trace, normalise_request
from tracehouse.domain.model import Event, Step, StepType
from tracehouse.sdk.pricing import default_prices
from tracehouse.store import Store, insert_steps

# The refund scenario's second Planner call, as each convention recorded it: it read get_order's result and hands
# the refund to billing.
CONVENTIONS = {
    "genai": "openai_raw_otel_genai_latest",
    "openinference": "openai_raw_openinference",
    "openllmetry": "openai_raw_openllmetry_044",
    "genai_events": "strands_native",  # <= 1.36 message events on spans (Bedrock blocks)
}


def load_fixture(store: Store, project_id: str, name: str) -> list[Step]:
    """Every step of a captured fixture, normalised and stored under `project_id` (trace ids salted per call)."""
    (fx,) = [f for f in fixtures() if f.name == name]
    steps: list[Step] = []
    for request in retrace(fx.requests(), uuid.uuid4().hex):
        steps += normalise_request(request, project_id=project_id, prices=default_prices()).steps
    steps = attribute_by_trace(steps)
    insert_steps(store, steps, version=1, dedup_token=uuid.uuid4().hex)
    return steps


def handoff_call(steps: list[Step]) -> Step:
    """The model call that asked for the hand-off to billing (the refund scenario) or to the researcher (Strands)."""
    return next(
        s
        for s in steps
        if s.step_type == StepType.LLM and any(c.name in ("transfer_to_billing", "web_search") for c in s.tool_calls)
    )


# -- hostile content -------------------------------------------------------------------------------------------------

PWN = "document.title='pwned'"
IMG = f'<img src=x onerror="{PWN}">'
SCRIPT = f"<script>{PWN}</script>"
BREAKOUT = f"</script><script>{PWN}</script>"
MD = (
    f'**bold** [click](javascript:{PWN}) ![pic](http://127.0.0.1:1/x.png) <svg onload="{PWN}"></svg> '
    f'<a href="javascript:{PWN}">a</a> <iframe src="javascript:{PWN}"></iframe> <style>body{{display:none}}</style> '
    f"[ok](https://example.com/docs)"
)
EVIL = f"{IMG} {SCRIPT} {BREAKOUT} {MD}"
EVIL_ARGS = json.dumps({"q": IMG, "s": SCRIPT})


@dataclass
class Hostile:
    trace_id: str
    steps: dict[str, Step]  # convention -> the step carrying the hostile messages


def hostile_trace(store: Store, project_id: str) -> Hostile:
    """One trace, one model call per convention, each with hostile text in every message field it has."""
    tb = TraceBuilder(project_id, time.time_ns() - 60_000_000_000)
    root = tb.add(IMG, 0, 1000, agent=SCRIPT, step_type=StepType.AGENT)
    llm = {"step_type": StepType.LLM, "operation": "chat", "request_model": "m", "agent": "a"}
    genai = tb.add(
        "genai",
        10,
        100,
        root,
        **llm,
        attributes={
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": EVIL}]),
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "user", "parts": [{"type": "text", "content": EVIL}]},
                    {"role": IMG, "parts": [{"type": "tool_call", "id": IMG, "name": SCRIPT, "arguments": {"q": IMG}}]},
                    {"role": "tool", "parts": [{"type": "tool_call_response", "id": IMG, "response": EVIL}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": MD}]}]),
        },
    )
    oi = tb.add(
        "openinference",
        110,
        200,
        root,
        **llm,
        attributes={
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": EVIL,
            "llm.input_messages.1.message.role": "assistant",
            "llm.input_messages.1.message.tool_calls.0.tool_call.id": BREAKOUT,
            "llm.input_messages.1.message.tool_calls.0.tool_call.function.name": IMG,
            "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": EVIL_ARGS,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": MD,
            "input.value": EVIL,
        },
    )
    tl = tb.add(
        "openllmetry",
        210,
        300,
        root,
        **llm,
        attributes={
            "gen_ai.prompt.0.role": SCRIPT,
            "gen_ai.prompt.0.content": EVIL,
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": MD,
            "gen_ai.completion.0.tool_calls.0.id": "call_1",
            "gen_ai.completion.0.tool_calls.0.name": IMG,
            "gen_ai.completion.0.tool_calls.0.arguments": EVIL_ARGS,
        },
    )
    events = tb.add("genai_events", 310, 400, root, **llm)
    events.events = [
        Event(events.start_time_ns, "gen_ai.user.message", {"content": EVIL}),
        Event(events.start_time_ns, "gen_ai.choice", {"message": json.dumps({"role": "assistant", "content": MD})}),
    ]
    raw = tb.add("raw", 410, 500, root, **llm, attributes={"gen_ai.input.messages": "[" + json.dumps(EVIL)[:-3]})
    value = tb.add("value", 510, 600, root, step_type=StepType.TOOL, tool_name="t", attributes={"output.value": EVIL})
    tb.save(store)
    named = {"genai": genai, "openinference": oi, "openllmetry": tl, "genai_events": events, "raw": raw, "value": value}
    return Hostile(tb.trace_id, named)
