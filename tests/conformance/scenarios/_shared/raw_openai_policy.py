"""The fake model's script for the raw OpenAI client app (planner -> billing, see raw_openai_app.py)."""

from __future__ import annotations

from fake_openai import ModelRequest, Reply, ToolCall

ORDER = {"order_id": "A-1"}


# Billing's first request is call 3 (after the planner's two); the provider fails it, the app retries it.
FAILED_CALL = 3


def respond(req: ModelRequest) -> Reply:
    if req.seq == FAILED_CALL:
        if "You are Billing." not in req.system:
            raise ValueError(f"call {FAILED_CALL} was meant to be Billing's first; the app's order changed")
        return Reply("Billing", error_status=500, error_message="The server had an error (planted).")
    if "You are Planner." in req.system:
        if not req.results("get_order"):
            return Reply("Planner", tool_calls=(ToolCall("get_order", ORDER),))
        if not req.results("transfer_to_billing"):
            return Reply("Planner", tool_calls=(ToolCall("transfer_to_billing", {"reason": "refund order A-1"}),))
        return Reply("Planner", text="Billing could not refund order A-1 yet; the payment gateway rejected it.")
    if "You are Billing." in req.system:
        if not req.results("issue_refund"):
            return Reply("Billing", tool_calls=(ToolCall("issue_refund", ORDER),))
        return Reply("Billing", text="The refund for A-1 failed at the payment gateway.")
    raise ValueError(f"no known agent in instructions {req.system[:80]!r}")


FAILED_CALL_NOTE = "Billing's first model call gets HTTP 500 (no usage) and the app retries it; "
STRUCTURE_BASE = {
    "traces": 1,
    "agents": ["Planner", "Billing"],
    "handoffs": [["Planner", "Billing"]],
}
