"""Bytes per stored span on the embedded engine: demo-like multi-agent traces, no content capture, after OPTIMIZE FINAL.

Run:  .venv/bin/python tests/bench/bench_storage.py [--traces 20000] [--json]

Each trace is a workflow run: a workflow root, a router agent and two worker agents (three `invoke_agent` steps),
each agent making two to four `chat` calls and one to three tool calls (`execute_tool`), about 15 attributes per
span as the SDK and the OpenAI instrumentation send them (operation, provider, models, response id, usage, cost,
finish reasons, agent name and id, conversation id, content hash, retry attempt, server address, ...), plus a
resource of seven attributes. No prompt or completion content (capture off), so previews are empty.

The figure is `system.parts.bytes_on_disk` of the active parts of `steps` (data, marks, primary key, skip indexes,
checksums) divided by the rows, after `OPTIMIZE TABLE ... FINAL` merged everything into one part per partition;
`system.columns` gives the per-column compressed size that explains it. The trace-summary table is reported too.
The store is opened in a fresh temporary directory, so this runs as its own process (chDB: one path per process).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tracehouse.domain.model import Status, Step, StepType
from tracehouse.store import Store, insert_steps

GOAL_BYTES_PER_SPAN = 150
SERVICES = ("support-bot", "research-crew", "billing-agents")
MODELS = (
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 0.15e-6, 0.6e-6),
    ("openai", "gpt-4o", "gpt-4o-2024-08-06", 2.5e-6, 10e-6),
    ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku-20241022", 0.8e-6, 4e-6),
)
TOOLS = ("search_kb", "lookup_order", "refund", "web_search", "calculator", "send_email")
AGENTS = ("router", "researcher", "writer", "reviewer", "billing", "triage")
WORKFLOWS = ("support_ticket", "research_report", "refund_flow")


@dataclass
class Generator:
    """Deterministic demo-like traces (seeded), one project, spread over `hours` hours."""

    seed: int = 7
    project_id: str = "bench"
    hours: int = 24

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        day = 86_400 * 10**9
        self.t0 = (time.time_ns() // day - 2) * day  # within retention, so OPTIMIZE's TTL pass keeps every row

    def _hex(self, nbytes: int) -> str:
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def trace(self) -> list[Step]:
        rng = self.rng
        service = rng.choice(SERVICES)
        workflow = rng.choice(WORKFLOWS)
        trace_id = self._hex(16)
        conversation = str(uuid.UUID(int=rng.getrandbits(128)))
        resource = {
            "service.name": service,
            "service.version": "1.4.2",
            "deployment.environment": "production",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.version": "1.27.0",
            "host.name": f"worker-{rng.randrange(8)}",
        }
        start = self.t0 + rng.randrange(self.hours * 3600 * 10**9)
        root = self._step(trace_id, "", start, service, resource, workflow=workflow)
        root.name, root.step_type, root.operation = f"invoke_workflow {workflow}", StepType.WORKFLOW, "invoke_workflow"
        root.attributes = {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": workflow}
        steps = [root]
        clock = start + rng.randrange(50_000, 500_000)
        for agent in rng.sample(AGENTS, 3):
            clock = self._agent(steps, root, agent, clock, conversation, workflow)
        root.end_time_ns = clock + rng.randrange(50_000, 900_000)
        return steps

    def _step(
        self, trace_id: str, parent: str, start: int, service: str, resource: dict[str, str], workflow: str
    ) -> Step:
        return Step(
            project_id=self.project_id,
            trace_id=trace_id,
            span_id=self._hex(8),
            parent_span_id=parent,
            start_time_ns=start,
            end_time_ns=start,
            name="",
            status=Status.OK,
            service=service,
            scope="tracehouse.sdk",
            workflow=workflow,
            resource_attributes=resource,
        )

    def _agent(self, steps: list[Step], root: Step, agent: str, clock: int, conv: str, workflow: str) -> int:
        rng = self.rng
        agent_id = f"{agent}-{self._hex(4)}"
        node = self._step(root.trace_id, root.span_id, clock, root.service, root.resource_attributes, workflow)
        node.name, node.step_type, node.operation = f"invoke_agent {agent}", StepType.AGENT, "invoke_agent"
        node.agent, node.agent_id, node.conversation_id = agent, agent_id, conv
        node.attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "gen_ai.agent.id": agent_id,
            "gen_ai.conversation.id": conv,
            "gen_ai.provider.name": "openai",
        }
        steps.append(node)
        clock += rng.randrange(10_000, 200_000)
        calls = ["chat"] * rng.randint(2, 4) + ["tool"] * rng.randint(1, 3)
        rng.shuffle(calls)
        for kind in calls:
            child = self._step(root.trace_id, node.span_id, clock, root.service, root.resource_attributes, workflow)
            child.agent, child.agent_id, child.conversation_id = agent, agent_id, conv
            self._chat(child) if kind == "chat" else self._tool(child)
            steps.append(child)
            clock = child.end_time_ns + rng.randrange(5_000, 300_000)
        node.end_time_ns = clock
        return clock + rng.randrange(10_000, 100_000)

    def _chat(self, s: Step) -> None:
        rng = self.rng
        provider, model, response_model, price_in, price_out = rng.choice(MODELS)
        tin, tout = rng.randint(200, 6000), rng.randint(20, 900)
        attempt = 1 if rng.random() > 0.05 else 2
        s.name, s.step_type, s.operation, s.span_kind = f"chat {model}", StepType.LLM, "chat", "CLIENT"
        s.scope = "opentelemetry.instrumentation.openai_v2" if provider == "openai" else "tracehouse.sdk"
        s.provider, s.request_model, s.response_model = provider, model, response_model
        s.input_tokens, s.output_tokens = tin, tout
        s.cache_read_tokens = rng.choice((0, 0, 1024, 2048)) if provider == "openai" else None
        s.cost_usd = round(tin * price_in + tout * price_out, 8)
        s.finish_reasons = ["tool_calls"] if rng.random() < 0.4 else ["stop"]
        s.retry_attempt = attempt
        s.content_hash = self._hex(32)
        s.end_time_ns = s.start_time_ns + rng.randrange(300_000_000, 9_000_000_000)
        if rng.random() < 0.02:
            s.status, s.status_message, s.error_type = Status.ERROR, "Rate limit reached for requests", "RateLimitError"
        s.attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.request.temperature": "0.2",
            "gen_ai.request.max_tokens": "1024",
            "gen_ai.response.model": response_model,
            "gen_ai.response.id": "chatcmpl-" + self._hex(15),
            "gen_ai.response.finish_reasons": json.dumps(s.finish_reasons),
            "gen_ai.usage.input_tokens": str(tin),
            "gen_ai.usage.output_tokens": str(tout),
            "gen_ai.agent.name": s.agent,
            "gen_ai.conversation.id": s.conversation_id,
            "server.address": "api.openai.com" if provider == "openai" else "api.anthropic.com",
            "tracehouse.cost.usd": repr(s.cost_usd),
            "tracehouse.retry.attempt": str(attempt),
            "tracehouse.content.hash": s.content_hash,
        }

    def _tool(self, s: Step) -> None:
        rng = self.rng
        tool = rng.choice(TOOLS)
        s.name, s.step_type, s.operation = f"execute_tool {tool}", StepType.TOOL, "execute_tool"
        s.tool_name, s.tool_call_id = tool, "call_" + self._hex(12)
        s.content_hash = self._hex(32)
        s.retry_attempt = 1
        s.end_time_ns = s.start_time_ns + rng.randrange(2_000_000, 800_000_000)
        s.attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": s.tool_call_id,
            "gen_ai.tool.type": "function",
            "gen_ai.agent.name": s.agent,
            "gen_ai.agent.id": s.agent_id,
            "gen_ai.conversation.id": s.conversation_id,
            "tracehouse.content.hash": s.content_hash,
            "tracehouse.retry.attempt": "1",
            "code.function": tool,
            "code.namespace": "app.tools",
        }


def _table_figures(store: Store, table: str) -> dict[str, Any]:
    part = store.rows(
        "SELECT sum(rows) AS rows, sum(bytes_on_disk) AS disk, sum(data_uncompressed_bytes) AS raw, count() AS parts"
        " FROM system.parts WHERE active AND database = {d:String} AND table = {t:String}",
        {"d": store.database, "t": table},
    )[0]
    columns = store.rows(
        "SELECT name, data_compressed_bytes AS compressed, data_uncompressed_bytes AS raw FROM system.columns"
        " WHERE database = {d:String} AND table = {t:String} ORDER BY compressed DESC",
        {"d": store.database, "t": table},
    )
    return {
        "rows": int(part["rows"]),
        "bytes_on_disk": int(part["disk"]),
        "uncompressed_bytes": int(part["raw"]),
        "parts": int(part["parts"]),
        "columns": [(c["name"], int(c["compressed"]), int(c["raw"])) for c in columns],
    }


def measure(dsn: str, traces: int, seed: int = 7, batch_spans: int = 50_000) -> dict[str, Any]:
    """Generate and insert `traces` traces into a fresh store at `dsn`, merge, and return the figures."""
    store = Store(dsn)
    store.migrate()
    gen = Generator(seed=seed)
    batch: list[Step] = []
    version = 0
    started = time.perf_counter()
    for _ in range(traces):
        batch.extend(gen.trace())
        if len(batch) >= batch_spans:
            version += 1
            insert_steps(store, batch, version=version, dedup_token=f"bench-{version}")
            batch = []
    if batch:
        version += 1
        insert_steps(store, batch, version=version, dedup_token=f"bench-{version}")
    inserted = time.perf_counter() - started
    for table in ("steps", "traces"):
        store.command(f"OPTIMIZE TABLE {{db}}.{table} FINAL")
    steps, summary = _table_figures(store, "steps"), _table_figures(store, "traces")
    store.close()
    spans = steps["rows"]
    return {
        "traces": traces,
        "spans": spans,
        "spans_per_trace": round(spans / traces, 2),
        "steps_bytes_per_span": round(steps["bytes_on_disk"] / spans, 1),
        "steps_uncompressed_bytes_per_span": round(steps["uncompressed_bytes"] / spans, 1),
        "traces_bytes_per_span": round(summary["bytes_on_disk"] / spans, 1),
        "total_bytes_per_span": round((steps["bytes_on_disk"] + summary["bytes_on_disk"]) / spans, 1),
        "goal_bytes_per_span": GOAL_BYTES_PER_SPAN,
        "generate_and_insert_seconds": round(inserted, 1),
        "steps_columns_bytes_per_span": {n: round(c / spans, 2) for n, c, _ in steps["columns"] if c},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--traces", type=int, default=20_000, help="traces to generate (about 17 spans each)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracehouse-bench-") as tmp:
        result = measure(f"chdb://{tmp}/store", args.traces, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['spans']} spans in {result['traces']} traces ({result['spans_per_trace']} spans/trace)")
        print(
            f"steps:  {result['steps_bytes_per_span']} bytes/span on disk (goal <= {GOAL_BYTES_PER_SPAN}),"
            f" {result['steps_uncompressed_bytes_per_span']} uncompressed"
        )
        print(f"traces: {result['traces_bytes_per_span']} bytes/span; total {result['total_bytes_per_span']}")
        print("largest steps columns (compressed bytes/span):")
        for name, per_span in list(result["steps_columns_bytes_per_span"].items())[:15]:
            print(f"  {name:22s} {per_span:8.2f}")
    return 0 if result["steps_bytes_per_span"] <= GOAL_BYTES_PER_SPAN else 1


if __name__ == "__main__":
    sys.exit(main())
