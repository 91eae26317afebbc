"""Hierarchical supervisor: decompose into tasks, delegate each to a specialist (a hand-off under the supervisor's
span), validate every result before it may commit, then synthesise. Specialists may be any node (a state machine,
another supervisor...). A rejected result is rolled back from the staged state and the task re-delegated.

With `parallel=True` the tasks are delegated concurrently (at most `max_concurrency` at once), each in its own frame
and staged scope, and their writes merge in task order by the schema's reducers. Every validation is an
`execute_tool validate_result` span with its verdict and reason, and a re-delegation is a hand-off with a retry
attempt > 1: a rejected result and its second try read as what they are, not as an agent repeating itself."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from .._support import Scope
from ..errors import ContractViolation, GraphConfigError
from ..nodes import Agent, Edge, Node, NodeSpec, Result
from ..state import Write, merge_superstep
from ._common import merge_specs, pick_error

if TYPE_CHECKING:
    from ..runtime import AgentContext, Frame


@dataclass(frozen=True)
class Task:
    """One delegated sub-task."""

    specialist: str
    payload: Any = None
    reason: str | None = None


Planner = Callable[["AgentContext"], Sequence[Task]]
Validator = Callable[[Task, Any], "bool | tuple[bool, str]"]  # accepted, or (accepted, why)
Synthesiser = Callable[["AgentContext", list[tuple[Task, Any]]], Any]


class Supervisor(Node):
    """`Supervisor("lead", plan, [researcher, analyst], validate=ok, synthesize=write_report, writes=["report"])`."""

    def __init__(
        self,
        name: str,
        plan: Planner,
        specialists: Sequence[Node],
        *,
        synthesize: Synthesiser | None = None,
        validate: Validator | None = None,
        writes: Sequence[str] = (),
        reads: Sequence[str] | None = None,
        role: str | None = None,
        model: str | None = None,
        max_retries: int = 1,
        description: str | None = None,
        version: str = "1",
        parallel: bool = False,
        max_concurrency: int | None = None,
    ) -> None:
        if not specialists:
            raise GraphConfigError(f"supervisor {name!r} needs at least one specialist")
        if max_retries < 0:
            raise GraphConfigError(f"supervisor {name!r}: max_retries must be >= 0")
        if max_concurrency is not None and max_concurrency < 1:
            raise GraphConfigError(f"supervisor {name!r}: max_concurrency must be >= 1")
        self.parallel = parallel
        self.max_concurrency = max_concurrency
        self.name = name
        self.plan = plan
        self.specialists = {s.name: s for s in specialists}
        self.synthesize = synthesize
        self.validate = validate
        self.max_retries = max_retries
        self.agent = Agent(
            name,
            self._run,
            reads=reads,
            writes=writes,
            role=role,
            model=model,
            version=version,
            description=description or "decomposes, delegates, validates",
            handoffs=tuple(self.specialists),
        )

    def _run(self, ctx: AgentContext) -> Any:
        tasks = list(self.plan(ctx))
        for task in tasks:
            if task.specialist not in self.specialists:
                raise ContractViolation(
                    f"{self.name}->{task.specialist}",
                    "plan",
                    f"unknown specialist (known: {', '.join(sorted(self.specialists))})",
                )
        if self.parallel and len(tasks) > 1:
            outputs = self._delegate_all(ctx, tasks)
        else:
            outputs = [self._delegate(ctx, task) for task in tasks]
        results = list(zip(tasks, outputs, strict=True))
        if self.synthesize is None:
            return Result(output=outputs)
        return self.synthesize(ctx, results)

    def _delegate(self, ctx: AgentContext, task: Task) -> Any:
        staged = ctx.frame.scope
        for attempt in range(1, self.max_retries + 2):
            mark = len(staged.writes)
            out = ctx.delegate_in(ctx.frame, task.specialist, task.payload, task.reason, attempt)
            if self._accepts(task, out, attempt):
                return out
            staged.rollback(mark)
        raise self._rejected(task)

    def _delegate_all(self, ctx: AgentContext, tasks: list[Task]) -> list[Any]:
        """Every task at once, each in its own frame and staged scope; writes merge in task order."""
        inner = ctx.frame
        outputs: list[Any] = [None] * len(tasks)
        writes: list[list[Write]] = [[] for _ in tasks]
        errors: dict[int, BaseException] = {}

        def one(i: int) -> None:
            task = tasks[i]
            try:
                for attempt in range(1, self.max_retries + 2):
                    scope = Scope(inner.scope.schema, None, inner.scope)
                    frame = inner.child(f"{inner.path}/task{i}.{attempt}", scope=scope, occ={})
                    out = ctx.delegate_in(frame, task.specialist, task.payload, task.reason, attempt)
                    if self._accepts(task, out, attempt):
                        outputs[i], writes[i] = out, scope.writes
                        return
                raise self._rejected(task)
            except Exception as exc:
                errors[i] = exc

        with ThreadPoolExecutor(
            max_workers=min(self.max_concurrency or len(tasks), len(tasks)),
            thread_name_prefix=f"supervisor-{self.name}",
        ) as pool:
            for f in [pool.submit(contextvars.copy_context().run, one, i) for i in range(len(tasks))]:
                f.result()
        if errors:
            raise pick_error(errors)
        merged = merge_superstep(
            inner.scope.schema,
            [(f"{t.specialist}[{i}]", w) for i, (t, w) in enumerate(zip(tasks, writes, strict=True))],
        )
        inner.scope.apply(merged)
        return outputs

    def _accepts(self, task: Task, out: Any, attempt: int) -> bool:
        """Run the validator and record its verdict and reason as a span of its own."""
        if self.validate is None:
            return True
        with sdk.tool("validate_result", call_id=f"{task.specialist}#{attempt}", attempt=attempt) as span:
            span.set_input({"specialist": task.specialist, "payload": task.payload, "output": out})
            verdict = self.validate(task, out)
            ok, why = verdict if isinstance(verdict, tuple) else (bool(verdict), "")
            span.set_attributes(
                {
                    sc.VALIDATION_VERDICT: "accepted" if ok else "rejected",
                    sc.VALIDATION_REASON: why or ("accepted" if ok else "the validator returned False"),
                    sc.GEN_AI_AGENT_NAME: task.specialist,
                }
            )
            if not ok and attempt <= self.max_retries:
                span.add_event(
                    sc.EVENT_REDELEGATED, {sc.VALIDATION_REASON: why, "tracehouse.next_attempt": attempt + 1}
                )
        return ok

    def _rejected(self, task: Task) -> ContractViolation:
        return ContractViolation(
            f"{self.name}->{task.specialist}",
            "validation",
            f"supervisor rejected the result {self.max_retries + 1} times",
        )

    def execute(self, frame: Frame) -> Any:
        return self.agent.execute(frame)

    async def aexecute(self, frame: Frame) -> Any:
        return await self.agent.aexecute(frame)

    def spec(self) -> NodeSpec:
        spec = merge_specs(NodeSpec(self.name, "supervisor", self.agent.version), list(self.specialists.values()))
        spec.agents[self.name] = self.agent
        spec.edges.extend(Edge(self.name, n, "delegate") for n in self.specialists)
        spec.entry = spec.exits = [self.name]
        spec.shape.update(
            {
                "specialists": sorted(self.specialists),
                "max_retries": self.max_retries,
                "parallel": self.parallel,
                "writes": sorted(self.agent.writes),
            }
        )
        spec.nodes[self.name] = self
        return spec
