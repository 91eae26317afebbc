"""Scoring the demo's traces with the shipped example suite, so a new user sees eval scores right after
`tracehouse demo` (the suite fails on purpose on the demo's planted faults)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import httpx

from tracehouse.evals.runner import RunResult, run_suite
from tracehouse.evals.sources import ApiClient, ApiSink, ApiSource
from tracehouse.evals.suite import load_suite

DEMO_SUITE = "demo_suite.yaml"


def _wait_until_stored(client: httpx.Client, trace_ids: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(trace_ids)
    while pending and time.monotonic() < deadline:
        pending = [t for t in pending if client.get(f"/api/traces/{t}").status_code != 200]
        if pending:
            time.sleep(0.25)


def score_demo(url: str, api_key: str | None, trace_ids: Sequence[str], *, timeout: float = 30.0) -> RunResult:
    """Wait for the demo's traces, run the detectors on them now, then run the example suite through the API."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout) as http:
        _wait_until_stored(http, trace_ids, timeout)
        http.post("/api/detect/run", json={"since": "1h"})  # findings before the behavioural scorers read them
    suite_path = Path(str(resources.files("tracehouse.evals.examples").joinpath(DEMO_SUITE)))
    suite = load_suite(suite_path)
    client = ApiClient(url, api_key)
    try:
        return run_suite(suite, ApiSource(client), ApiSink(client))
    finally:
        client.close()
