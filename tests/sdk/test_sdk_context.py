"""Context across thread pools, asyncio tasks and processes (W3C traceparent inject/extract)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import context as otel_context

from tests.sdk.sdk_testing import Recorder
from tracehouse import sdk
from tracehouse.sdk import semconv as sc


def test_thread_pool_with_wrap_keeps_parent_and_agent(traced: Recorder) -> None:
    def search(q: str) -> str:
        with sdk.tool("search") as step:
            step.set_input(q)
            return sdk.current_agent() or ""

    with sdk.agent("researcher") as parent, ThreadPoolExecutor(max_workers=4) as pool:
        seen = list(pool.map(sdk.wrap(search), ["a", "b", "c", "d"]))
    assert seen == ["researcher"] * 4
    searches = [s for s in traced.spans() if s.name == "execute_tool search"]
    root = parent.span.get_span_context().span_id
    assert len(searches) == 4 and all(s.parent and s.parent.span_id == root for s in searches)
    assert all((s.attributes or {})[sc.GEN_AI_AGENT_NAME] == "researcher" for s in searches)


def test_thread_pool_without_wrap_loses_the_parent(traced: Recorder) -> None:
    # The documented reason for wrap(): a bare pool thread starts a new trace.
    def search() -> None:
        with sdk.tool("orphan"):
            pass

    with sdk.agent("researcher"), ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(search).result()
    assert traced.one("execute_tool orphan").parent is None


async def test_asyncio_tasks_inherit_context(traced: Recorder) -> None:
    async def child(i: int) -> str | None:
        await asyncio.sleep(0)
        with sdk.tool(f"t{i}"):
            return sdk.current_agent()

    with sdk.agent("boss") as boss:
        tasks = [asyncio.create_task(child(i)) for i in range(3)]
        names = await asyncio.gather(*tasks)
    assert names == ["boss"] * 3
    root = boss.span.get_span_context().span_id
    assert all(traced.one(f"execute_tool t{i}").parent.span_id == root for i in range(3))  # type: ignore[union-attr]


def test_inject_extract_round_trip_in_process(traced: Recorder) -> None:
    with sdk.agent("caller") as caller:
        headers = sdk.inject({})
    assert headers["traceparent"].startswith("00-")
    token = otel_context.attach(otel_context.Context())  # as if in another service: nothing current
    try:
        with sdk.agent("callee", parent=sdk.extract({"Traceparent": headers["traceparent"]})):
            pass
    finally:
        otel_context.detach(token)
    callee = traced.one("invoke_agent callee")
    ctx = caller.span.get_span_context()
    assert callee.parent is not None and callee.parent.span_id == ctx.span_id
    assert callee.context is not None and callee.context.trace_id == ctx.trace_id


_CHILD = """
import json, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tracehouse import sdk
mem = InMemorySpanExporter()
sdk.init(tracer_provider=TracerProvider(), exporter=mem)
with sdk.agent("remote", parent=sdk.extract(json.loads(sys.argv[1]))):
    pass
sdk.force_flush()
span = mem.get_finished_spans()[0]
print(json.dumps([format(span.context.trace_id, "032x"), format(span.parent.span_id, "016x")]))
"""


def test_trace_continues_in_another_process(traced: Recorder) -> None:
    with sdk.agent("parent") as parent:
        headers = sdk.inject()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEHOUSE_"))}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(headers)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    trace_id, parent_id = json.loads(out.stdout)
    ctx = parent.span.get_span_context()
    assert (trace_id, parent_id) == (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
