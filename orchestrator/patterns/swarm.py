"""Peer hand-offs (swarm): agents pass control to each other by returning `Handoff(target, payload)`; each hand-off
is an `execute_tool transfer_to_<target>` span with the target's `invoke_agent` nested under it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import GraphConfigError
from ..nodes import Agent, Node, NodeSpec
from ._common import merge_specs

if TYPE_CHECKING:
    from ..runtime import Frame


class Swarm(Node):
    """`Swarm("support", [triage, billing, tech], start="triage")`; allowed hand-offs are each agent's `handoffs`."""

    def __init__(self, name: str, agents: Sequence[Agent], start: str) -> None:
        self.name = name
        self.agents = {a.name: a for a in agents}
        if start not in self.agents:
            raise GraphConfigError(f"swarm {name!r}: start agent {start!r} is not one of {sorted(self.agents)}")
        self.start = start

    def execute(self, frame: Frame) -> Any:
        return self.agents[self.start].execute(frame)

    async def aexecute(self, frame: Frame) -> Any:
        return await self.agents[self.start].aexecute(frame)

    def spec(self) -> NodeSpec:
        spec = merge_specs(NodeSpec(self.name, "swarm", "1"), list(self.agents.values()))
        spec.entry = [self.start]
        spec.exits = list(self.agents)
        spec.shape.update({"start": self.start})
        spec.nodes[self.name] = self
        return spec
