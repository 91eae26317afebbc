"""Helpers the patterns share: combining child specs and choosing which branch error ends a parallel step."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import GraphConfigError, TerminalError
from ..nodes import Node, NodeSpec


def merge_specs(spec: NodeSpec, children: Sequence[Node]) -> NodeSpec:
    for child in children:
        c = child.spec()
        spec.agents.update(c.agents)
        spec.edges.extend(c.edges)
        spec.capped |= c.capped
        for name, node in c.nodes.items():
            if spec.nodes.setdefault(name, node) is not node:
                raise GraphConfigError(f"two different nodes are named {name!r}: node names must be unique")
        spec.shape.setdefault("children", []).append({"name": c.name, "kind": c.kind, **c.shape})
    return spec


def pick_error(errors: dict[int, BaseException]) -> BaseException:
    """A run-ending error (limit, retry budget, loop) wins over a branch's own failure; else the first branch's."""
    ordered = [errors[i] for i in sorted(errors)]
    for exc in ordered:
        if isinstance(exc, TerminalError):
            return exc
    return ordered[0]
