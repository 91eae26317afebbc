"""The model-chooses-tools loop: ask the model, run the tools it picked (in parallel), feed the results back, until it
answers; with an output type, validate the answer and feed the errors back within the run's retry budget.

Every model call goes through `Run.llm` and every tool call through `Run.tool`, so budget, breaker, retries, dedup,
the effect journal and the loop guard apply to what the model chooses exactly as to what code calls; and because
both are journalled by their position, a resumed run rebuilds the same conversation without calling anything again.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as otel_trace
from pydantic import BaseModel

from tracehouse.sdk import semconv as sc

from .errors import LimitExceeded, OrchestratorError, OutputInvalid, ToolDenied
from .providers.base import ToolCall
from .tools import Tool, ToolArgumentsInvalid, parse_output

if TYPE_CHECKING:
    from .journal import Frame
    from .units.tools import ToolUnit

Message = dict[str, Any]


def call_tools(run: ToolUnit, frame: Frame, tools: Sequence[Tool], calls: Sequence[ToolCall]) -> list[Message]:
    """Run the model's tool calls (concurrently when there are several) and return one `tool` message per call, in
    the model's order. A call the model got wrong (unknown tool, bad arguments, a tool that raised) becomes an error
    message the model can react to; the orchestrator's own stops (budget, loop, breaker...) end the step."""
    _, path = frame.next_key("tools")
    table = {t.name: t for t in tools}
    frames = [frame.child(f"{path}/{i}", occ={}) for i in range(len(calls))]

    def one(i: int) -> Message:
        return _tool_message(calls[i], _run_one(run, frames[i], table, calls[i]))

    if len(calls) <= 1:
        return [one(i) for i in range(len(calls))]
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="tool-calls") as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, i) for i in range(len(calls))]
        return [f.result() for f in futures]


def _run_one(run: ToolUnit, frame: Frame, table: Mapping[str, Tool], call: ToolCall) -> Any:
    found = table.get(call.name)
    if found is None:
        return {"error": f"there is no tool {call.name!r}; the tools are: {', '.join(sorted(table))}"}
    try:
        args = found.parse(call.arguments)
    except ToolArgumentsInvalid as exc:
        return {"error": f"invalid arguments: {exc.detail}"}
    try:
        return run.tool(
            frame,
            found.name,
            found.fn,
            args,
            side_effect=found.side_effect,
            idempotent=found.idempotent,
            retry=found.retry,
            dedup=found.dedup,
            needs_approval=found.needs_approval,
            polling=found.polling,
        )
    except ToolDenied as exc:
        return {"error": str(exc)}
    except OrchestratorError:
        raise
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _tool_message(call: ToolCall, result: Any) -> Message:
    content = result if isinstance(result, str) else json.dumps(result, default=str)
    return {"role": "tool", "tool_call_id": call.id, "content": content}


@dataclass(frozen=True)
class AskModel:
    """A step of the chat plan: call the model on this conversation."""

    conversation: list[Message]


@dataclass(frozen=True)
class RunTools:
    """A step of the chat plan: run these tool calls; the tool messages come back."""

    calls: tuple[ToolCall, ...]


ChatPlan = Generator["AskModel | RunTools", Any, Any]


def chat_plan(
    ctx: Any,
    prompt: str | Sequence[Message],
    output_type: type[BaseModel] | None,
    max_turns: int,
    output_retries: int,
) -> ChatPlan:
    """The loop as a plan: it yields what to do (ask the model, run tools) and gets the result back; `chat` and
    `achat` carry it out, so sync and async agents share one loop. Returns the text or an `output_type` instance."""
    conversation: list[Message] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    reasks = 0
    for _ in range(max_turns):
        response = yield AskModel(list(conversation))
        conversation.append(response.as_message())
        if response.tool_calls:
            conversation.extend((yield RunTools(tuple(response.tool_calls))))
            continue
        if output_type is None:
            return response.text
        try:
            return parse_output(output_type, response.text)
        except OutputInvalid as exc:
            if reasks >= output_retries or not ctx.try_retry():
                raise
            reasks += 1
            otel_trace.get_current_span().add_event(
                sc.EVENT_OUTPUT_INVALID,
                {"tracehouse.output.type": exc.type_name, "tracehouse.output.errors": exc.detail[:500]},
            )
            conversation.append(
                {
                    "role": "user",
                    "content": (
                        f"Your answer is not a valid {exc.type_name}: {exc.detail}. "
                        "Answer again with only the JSON object matching the schema."
                    ),
                }
            )
    raise LimitExceeded(
        "model_turns",
        max_turns,
        max_turns + 1,
        f"the model was still calling tools after {max_turns} turns (raise max_turns= if that is expected)",
    )


def chat(
    ctx: Any,
    prompt: str | Sequence[Message],
    *,
    tools: Sequence[Tool],
    output_type: type[BaseModel] | None,
    max_turns: int,
    output_retries: int,
    **llm_options: Any,
) -> Any:
    """The final answer: text, or an `output_type` instance. `ctx` is the agent's `AgentContext`."""
    plan = chat_plan(ctx, prompt, output_type, max_turns, output_retries)
    try:
        step = next(plan)
        while True:
            if isinstance(step, AskModel):
                step = plan.send(ctx.llm(step.conversation, tools=tools, output_type=output_type, **llm_options))
            else:
                step = plan.send(ctx.call_tools(step.calls, tools))
    except StopIteration as done:
        return done.value


async def achat(
    ctx: Any,
    prompt: str | Sequence[Message],
    *,
    tools: Sequence[Tool],
    output_type: type[BaseModel] | None,
    max_turns: int,
    output_retries: int,
    **llm_options: Any,
) -> Any:
    """`chat` for async agents: model calls on the provider's async client, tool calls on the run's workers (a sync
    tool must not block the event loop; an async tool is run back on the loop)."""
    plan = chat_plan(ctx, prompt, output_type, max_turns, output_retries)
    try:
        step = next(plan)
        while True:
            if isinstance(step, AskModel):
                response = await ctx.allm(step.conversation, tools=tools, output_type=output_type, **llm_options)
                step = plan.send(response)
            else:
                step = plan.send(await ctx.offload(partial(ctx.call_tools, step.calls, tools)))
    except StopIteration as done:
        return done.value
