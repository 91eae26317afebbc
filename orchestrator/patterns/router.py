"""Router: classify (by rule or by a model), record the decision and its reason, hand off to the chosen route."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tracehouse.sdk import semconv as sc

from ..errors import ContractViolation, GraphConfigError
from ..nodes import Agent, Edge, Handoff, Node, NodeSpec, Result
from ._common import merge_specs

if TYPE_CHECKING:
    from ..runtime import AgentContext, Frame


@dataclass(frozen=True)
class Route:
    """A routing decision: the route's key and why."""

    target: str
    reason: str = ""


Classifier = Callable[["AgentContext"], "Route | str"]


class Router(Node):
    """`Router("triage", classify, {"billing": billing, "tech": tech}, by="model", default="tech")`; the chosen
    route's node runs under an `execute_tool transfer_to_<node>` span nested in the router's span."""

    def __init__(
        self,
        name: str,
        classify: Classifier,
        routes: Mapping[str, Node],
        *,
        by: Literal["rule", "model"] = "rule",
        default: str | None = None,
        reads: Sequence[str] | None = None,
        role: str | None = None,
        model: str | None = None,
        description: str | None = None,
        version: str = "1",
    ) -> None:
        if not routes:
            raise GraphConfigError(f"router {name!r} needs at least one route")
        if default is not None and default not in routes:
            raise GraphConfigError(f"router {name!r}: default route {default!r} is not one of {sorted(routes)}")
        self.name = name
        self.routes = dict(routes)
        self.by = by
        self.default = default
        self.classify = classify
        self.agent = Agent(
            name,
            self._decide,
            reads=reads,
            role=role,
            model=model,
            version=version,
            description=description or f"routes by {by}",
            handoffs=tuple(n.name for n in self.routes.values()),
        )

    def _decide(self, ctx: AgentContext) -> Result:
        raw = self.classify(ctx)
        route = raw if isinstance(raw, Route) else Route(str(raw))
        if route.target not in self.routes:
            if self.default is None:
                raise ContractViolation(
                    f"{self.name}->?",
                    "route",
                    f"unknown route {route.target!r} (routes: {', '.join(sorted(self.routes))})",
                )
            route = Route(self.default, f"{route.reason} (unknown route {route.target!r}, used default)".strip())
        ctx.span.set_attributes(
            {sc.ROUTER_DECISION: route.target, sc.ROUTER_REASON: route.reason, "tracehouse.router.by": self.by}
        )
        target = self.routes[route.target]
        return Result(
            output={"route": route.target, "reason": route.reason},
            handoff=Handoff(target.name, ctx.input, route.reason or f"routed to {route.target}"),
        )

    def execute(self, frame: Frame) -> Any:
        return self.agent.execute(frame)

    async def aexecute(self, frame: Frame) -> Any:
        return await self.agent.aexecute(frame)

    def spec(self) -> NodeSpec:
        spec = merge_specs(NodeSpec(self.name, "router", self.agent.version), list(self.routes.values()))
        spec.agents[self.name] = self.agent
        spec.edges.extend(Edge(self.name, n.name, "route") for n in self.routes.values())
        spec.entry = [self.name]
        spec.exits = [x for n in self.routes.values() for x in n.spec().exits]
        spec.shape.update({"routes": sorted(self.routes), "by": self.by, "default": self.default})
        spec.nodes[self.name] = self
        return spec
