"""Hierarchical supervisor: decompose into tasks, delegate each to a specialist (a hand-off under the supervisor's
span), validate every result before it may commit, then synthesise. Specialists may be any node (a state machine,
another supervisor...). A rejected result is rolled back from the staged state and the task re-delegated."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ContractViolation, GraphConfigError
from ..nodes import Agent, Edge, Node, NodeSpec, Result
from ._common import merge_specs

if TYPE_CHECKING:
    from ..runtime import AgentContext, Frame


@dataclass(frozen=True)
class Task:
    """One delegated sub-task."""

    specialist: str
    payload: Any = None
    reason: str | None = None


Planner = Callable[["AgentContext"], Sequence[Task]]
Validator = Callable[[Task, Any], bool]
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
    ) -> None:
        if not specialists:
            raise GraphConfigError(f"supervisor {name!r} needs at least one specialist")
        if max_retries < 0:
            raise GraphConfigError(f"supervisor {name!r}: max_retries must be >= 0")
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
        results: list[tuple[Task, Any]] = []
        for task in self.plan(ctx):
            if task.specialist not in self.specialists:
                raise ContractViolation(
                    f"{self.name}->{task.specialist}",
                    "plan",
                    f"unknown specialist (known: {', '.join(sorted(self.specialists))})",
                )
            results.append((task, self._delegate(ctx, task)))
        if self.synthesize is None:
            return Result(output=[out for _, out in results])
        return self.synthesize(ctx, results)

    def _delegate(self, ctx: AgentContext, task: Task) -> Any:
        staged = ctx._frame.scope
        for attempt in range(self.max_retries + 1):
            mark = len(staged.writes)
            out = ctx.delegate(task.specialist, task.payload, reason=task.reason)
            if self.validate is None or self.validate(task, out):
                return out
            staged.rollback(mark)
            if attempt == self.max_retries:
                raise ContractViolation(
                    f"{self.name}->{task.specialist}",
                    "validation",
                    f"supervisor rejected the result {self.max_retries + 1} times",
                )
        return None

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
                "writes": sorted(self.agent.writes),
            }
        )
        spec.nodes[self.name] = self
        return spec
