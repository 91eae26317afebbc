"""Answers a person gave in the tracehouse dashboard, pulled into a run's own state before it resumes.

The dashboard sees a run's pending interrupts through its trace (the paused span's `tracehouse.interrupt.*`
attributes) and keeps the answers on the server; the run's state is the user's SQLite file. `pull_answers` asks the
server (`GET /api/interrupts?trace_id=...`, with the project's key) and records each answer to an interrupt that is
still pending here, exactly as `Orchestrator.answer` would. urllib, not httpx: the light install has no httpx.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .errors import OrchestratorError
from .state import StateStore

API_KEY_ENV = "TRACEHOUSE_API_KEY"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


def fetch_answers(server: str, trace_id: str, api_key: str | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
    """Interrupt id -> the answer given on the server, for the run `trace_id` (answered interrupts only)."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    base = server.rstrip("/")
    url = f"{base}/api/interrupts?" + urllib.parse.urlencode({"trace_id": trace_id})
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            body = resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        hint = f": give the project's key (api_key= or ${API_KEY_ENV})" if exc.code in (401, 403) else ""
        raise OrchestratorError(
            f"the server at {base} refused the interrupts of run {trace_id} ({exc.code}){hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise OrchestratorError(f"no tracehouse server answers at {base} ({exc})") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise OrchestratorError(f"the server at {base} sent more than {MAX_RESPONSE_BYTES} bytes of interrupts")
    try:
        items = json.loads(body)["interrupts"]
        return {str(i["interrupt_id"]): i.get("answer") for i in items if i.get("status") == "answered"}
    except (ValueError, KeyError, TypeError) as exc:
        raise OrchestratorError(f"the server at {base} did not answer with a list of interrupts ({exc})") from None


def pull_answers(store: StateStore, trace_id: str, server: str, api_key: str | None = None) -> list[str]:
    """Record the server's answers to this run's pending interrupts in its state; the ids answered."""
    pending = {i.interrupt_id for i in store.pending_interrupts(trace_id)}
    if not pending:
        return []
    taken = []
    for interrupt_id, answer in fetch_answers(server, trace_id, api_key).items():
        if interrupt_id in pending:
            store.answer_interrupt(trace_id, interrupt_id, answer)
            taken.append(interrupt_id)
    return taken
