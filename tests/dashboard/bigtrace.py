"""A big, realistically nested trace for the big-trace tests and `tests/bench/bench_big_trace.py`: a workflow runs
agents, each agent takes turns, each turn is a model call and tool calls, and a tool call has sub-steps (retrieval).
Deterministic, so a test can compare the API's pages with the tree it wrote."""

from __future__ import annotations

from collections.abc import Sequence

from tracehouse.domain.model import Status, Step, StepType, ToolCall

AGENTS = ("planner", "researcher", "writer", "critic", "coder", "reviewer", "router")
# Children per step, by depth: workflow -> agent runs -> turns -> llm/tool calls -> sub-steps.
FANOUT_100K = (40, 25, 10, 10)


def big_trace_steps(
    project_id: str, trace_id: str, t0_ns: int, n: int, fanout: Sequence[int] = FANOUT_100K, *, seed: int = 1
) -> list[Step]:
    """`n` steps of one trace (breadth-first until `n` is reached), over 10 minutes; span ids are unique per
    (trace, seed). Each step carries a few attributes and ~200 bytes of content, as a real GenAI span does."""
    parents: list[int] = [-1]
    depth: list[int] = [0]
    nth: list[int] = [0]  # index among its siblings
    siblings: list[int] = [1]  # how many siblings it has (itself included)
    i = 0
    while len(parents) < n and i < len(parents):
        d = depth[i]
        k = min(fanout[d] if d < len(fanout) else 0, n - len(parents))
        for j in range(k):
            parents.append(i)
            depth.append(d + 1)
            nth.append(j)
            siblings.append(k)
        i += 1
    start = [0] * len(parents)
    end = [0] * len(parents)
    start[0], end[0] = t0_ns, t0_ns + 600 * 10**9
    for x in range(1, len(parents)):  # breadth-first: a parent's times are set before its children's
        p = parents[x]
        width = (end[p] - start[p]) // siblings[x]
        start[x] = start[p] + width * nth[x] + width // 20
        end[x] = start[x] + width * 9 // 10
    return [_step(project_id, trace_id, seed, x, parents[x], depth[x], start[x], end[x]) for x in range(len(parents))]


def _sid(seed: int, x: int) -> str:
    return f"{seed:04x}{x:012x}"


def _step(project_id: str, trace_id: str, seed: int, x: int, parent: int, depth: int, start: int, end: int) -> Step:
    agent = AGENTS[x % len(AGENTS)] if depth >= 1 else ""
    kind = {0: StepType.WORKFLOW, 1: StepType.AGENT, 2: StepType.AGENT}.get(depth)
    if kind is None:
        kind = (StepType.LLM if x % 3 == 0 else StepType.TOOL) if depth == 3 else StepType.RETRIEVAL
    llm = kind is StepType.LLM
    return Step(
        project_id=project_id,
        trace_id=trace_id,
        span_id=_sid(seed, x),
        parent_span_id=_sid(seed, parent) if parent >= 0 else "",
        start_time_ns=start,
        end_time_ns=end,
        name=f"{kind} <step {x}>" if kind is not StepType.TOOL else f"execute_tool search_{x % 13}",
        status=Status.ERROR if x % 997 == 0 else Status.OK,
        error_type="Timeout" if x % 997 == 0 else "",
        service="bench",
        agent=agent,
        workflow="research" if depth == 0 else "",
        operation="chat" if llm else ("execute_tool" if kind is StepType.TOOL else "invoke_agent"),
        step_type=kind,
        provider="openai" if llm else "",
        request_model="gpt-4o-mini" if llm else "",
        input_tokens=900 if llm else None,
        output_tokens=150 if llm else None,
        cost_usd=0.0002 if llm else None,
        tool_name=f"search_{x % 13}" if kind is StepType.TOOL else "",
        tool_calls=[ToolCall(id=f"call_{x}", name=f"search_{x % 13}")] if llm else [],
        input_preview=f"question {x}: " + "what does the literature say about it? " * 4,
        output_preview=f"answer {x}: " + "the sources agree on the main point. " * 4,
        attributes={"gen_ai.system": "openai", "app.turn": str(x % 50), "app.note": "x" * 40},
        resource_attributes={"service.name": "bench", "host.name": "bench-1"},
    )
