"""Sequential chain: each node runs after the previous one, receiving its output as input."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import GraphConfigError
from ..nodes import Edge, Node, NodeSpec
from ._common import merge_specs

if TYPE_CHECKING:
    from ..runtime import Frame


class Sequential(Node):
    """`Sequential("pipeline", [research, write, review])`."""

    def __init__(self, name: str, steps: Sequence[Node]) -> None:
        if not steps:
            raise GraphConfigError(f"sequential {name!r} needs at least one step")
        self.name = name
        self.steps = list(steps)

    def _frame(self, frame: Frame) -> Frame:
        _, path = frame.next_key(self.name)
        return frame.child(path, occ={})

    def execute(self, frame: Frame) -> Any:
        inner = self._frame(frame)
        out = frame.input
        for node in self.steps:
            inner.input = out
            out = node.execute(inner)
        return out

    async def aexecute(self, frame: Frame) -> Any:
        inner = self._frame(frame)
        out = frame.input
        for node in self.steps:
            inner.input = out
            out = await node.aexecute(inner)
        return out

    def spec(self) -> NodeSpec:
        spec = merge_specs(NodeSpec(self.name, "sequential", "1"), self.steps)
        specs = [s.spec() for s in self.steps]
        for a, b in itertools.pairwise(specs):
            spec.edges.extend(Edge(x, y, "sequence") for x in a.exits for y in b.entry)
        spec.entry, spec.exits = specs[0].entry, specs[-1].exits
        spec.nodes[self.name] = self
        return spec
