"""What a workflow is made of: nodes (agents and patterns) that execute in a frame, and what agents return.

An `Agent` is a function of an `AgentContext` (sync or async) that returns its state writes — a dict — or a
`Result` with writes, an output and optionally a `Handoff`. Patterns are nodes too, so they compose.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import GraphConfigError
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .runtime import AgentContext, Frame


@dataclass(frozen=True)
class Handoff:
    """Transfer control to `target` with a payload (validated by the edge's contract before the target runs)."""

    target: str
    payload: Any = None
    reason: str | None = None


@dataclass(frozen=True)
class Result:
    """An agent's writes (declared keys only), its output for the caller, and an optional hand-off."""

    writes: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    handoff: Handoff | None = None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # sequence, route, fanout, delegate, handoff, transition


@dataclass
class NodeSpec:
    """A node's contribution to the graph: agents it contains, edges between them, cycles and their caps."""

    name: str
    kind: str
    version: str
    agents: dict[str, Agent] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    capped: set[str] = field(default_factory=set)  # node names whose cycles carry their own cap
    entry: list[str] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)
    shape: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)  # every named node inside (hand-off targets)


class Node(ABC):
    """Anything that can run in a frame: an agent or a pattern."""

    name: str

    @abstractmethod
    def execute(self, frame: Frame) -> Any: ...

    @abstractmethod
    async def aexecute(self, frame: Frame) -> Any: ...

    @abstractmethod
    def spec(self) -> NodeSpec: ...


AgentFn = Callable[["AgentContext"], Any]


@dataclass(eq=False)
class Agent(Node):
    """One agent. `reads`/`writes` declare its state access; `role` picks a model ladder; `handoffs` lists the
    agents it may transfer to; `retry` adds agent-level retries (off by default: model and tool calls retry).

    A hand-off target given as a node (`handoffs=[billing]`) is part of the workflow through this agent, so it needs
    no `Swarm` or other container; a target given by name must be placed in the workflow elsewhere.
    """

    name: str
    fn: AgentFn
    reads: Sequence[str] | None = None
    writes: Sequence[str] = ()
    role: str | None = None
    model: str | None = None
    version: str = "1"
    description: str | None = None
    handoffs: Sequence[str | Node] = ()
    retry: RetryPolicy | None = None
    dedup: bool = False
    volatile: Sequence[str] = ()
    finalize: bool = False

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise GraphConfigError("an agent needs a non-empty name")
        if not callable(self.fn):
            raise GraphConfigError(f"agent {self.name!r}: fn must be callable")
        self.is_async = inspect.iscoroutinefunction(self.fn)
        self.targets = [t for t in self.handoffs if isinstance(t, Node)]
        self.handoff_names = [t if isinstance(t, str) else t.name for t in self.handoffs]

    def execute(self, frame: Frame) -> Any:
        return frame.run.run_agent(frame, self, frame.input)

    async def aexecute(self, frame: Frame) -> Any:
        return await frame.run.arun_agent(frame, self, frame.input)

    def own_spec(self) -> NodeSpec:
        """This agent alone (its hand-off edges, not its targets)."""
        edges = [Edge(self.name, t, "handoff") for t in self.handoff_names]
        shape = {
            "version": self.version,
            "reads": sorted(self.reads) if self.reads is not None else None,
            "writes": sorted(self.writes),
            "role": self.role,
            "model": self.model,
            "handoffs": list(self.handoff_names),
            "dedup": self.dedup,
            "finalize": self.finalize,
        }
        return NodeSpec(
            self.name,
            "agent",
            self.version,
            {self.name: self},
            edges,
            set(),
            [self.name],
            [self.name],
            shape,
            {self.name: self},
        )

    def spec(self) -> NodeSpec:
        """This agent plus every node reachable through hand-off targets given as objects (cycles allowed)."""
        spec = self.own_spec()
        for node in _reachable_targets(self):
            part = node.own_spec() if isinstance(node, Agent) else node.spec()
            spec.agents.update(part.agents)
            spec.edges.extend(e for e in part.edges if e not in spec.edges)
            spec.capped |= part.capped
            for name, found in part.nodes.items():
                if spec.nodes.setdefault(name, found) is not found:
                    raise GraphConfigError(f"two different nodes are named {name!r}: node names must be unique")
        return spec


def _reachable_targets(root: Agent) -> list[Node]:
    """Hand-off targets given as nodes, transitively, each once (an A <-> B pair must not recurse forever)."""
    seen = {id(root)}
    out: list[Node] = []
    queue: list[Node] = list(root.targets)
    while queue:
        node = queue.pop(0)
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append(node)
        if isinstance(node, Agent):
            queue.extend(node.targets)
    return out


def agent(name: str | None = None, **options: Any) -> Callable[[AgentFn], Agent]:
    """Decorator form: `@agent("writer", writes=["draft"])` turns a function into an Agent."""

    def wrap(fn: AgentFn) -> Agent:
        return Agent(name or fn.__name__, fn, **options)

    return wrap
