"""Scoring the demo's traces with the shipped example suite, so a new user sees eval scores right after
`tracehouse demo` (the suite fails on purpose on the demo's planted faults)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from tracehouse.client import Client
from tracehouse.errors import ClientError
from tracehouse.evals.runner import RunResult, run_suite
from tracehouse.evals.sources import ApiSink, ApiSource
from tracehouse.evals.suite import load_suite
from tracehouse.settings import ClientSettings

DEMO_SUITE = "demo_suite.yaml"


def _wait_until_stored(client: Client, trace_ids: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(trace_ids)
    while pending and time.monotonic() < deadline:
        pending = [t for t in pending if not _stored(client, t)]
        if pending:
            time.sleep(0.25)


def _stored(client: Client, trace_id: str) -> bool:
    try:
        client.trace(trace_id)
    except ClientError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def score_demo(url: str, api_key: str | None, trace_ids: Sequence[str], *, timeout: float = 30.0) -> RunResult:
    """Wait for the demo's traces, run the detectors on them now, then run the example suite through the API."""
    suite_path = Path(str(resources.files("tracehouse.evals.examples").joinpath(DEMO_SUITE)))
    suite = load_suite(suite_path)
    with Client(ClientSettings(url=url, api_key=api_key), timeout=timeout) as client:
        _wait_until_stored(client, trace_ids, timeout)
        now = datetime.now(UTC)
        client.detect(now - timedelta(hours=1), now)  # findings before the behavioural scorers read them
        return run_suite(suite, ApiSource(client), ApiSink(client))
