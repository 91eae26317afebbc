"""Build-time validation of a workflow graph, and its fingerprint.

Fails before anything runs, with a message naming the problem: an edge or contract naming an unknown agent, two
different agents with one name, a cycle no cap can stop. The fingerprint hashes topology, step names and versions,
contracts, the state schema and model roles, so resuming a run with a changed graph is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tracehouse.sdk import content_hash

from .budget import Limits, Role
from .contracts import HandoffContract
from .errors import GraphConfigError
from .nodes import Agent, Edge, Node, NodeSpec
from .state import StateSchema


@dataclass(frozen=True)
class Graph:
    """The validated graph of a workflow."""

    spec: NodeSpec
    agents: Mapping[str, Agent]
    nodes: Mapping[str, Node]
    edges: tuple[Edge, ...]
    fingerprint: str


def build_graph(
    flow: Node,
    *,
    limits: Limits,
    contracts: Sequence[HandoffContract] = (),
    schema: StateSchema | None = None,
    roles: Mapping[str, Role] | None = None,
) -> Graph:
    spec = flow.spec()
    known = set(spec.nodes)
    for e in spec.edges:
        if e.target not in known:
            raise GraphConfigError(
                f"edge {e.source} -> {e.target} ({e.kind}): unknown agent {e.target!r} "
                f"(known: {', '.join(sorted(known))})"
            )
    for c in contracts:
        for end, name in (("source", c.source), ("target", c.target)):
            if name != "*" and name not in known:
                raise GraphConfigError(
                    f"contract {c.edge}: unknown {end} agent {name!r} (known: {', '.join(sorted(known))})"
                )
    for a in spec.agents.values():
        if a.role is not None and a.role not in (roles or {}):
            raise GraphConfigError(f"agent {a.name}: unknown role {a.role!r} (roles: {', '.join(sorted(roles or {}))})")
    _check_cycles(spec, limits, contracts)
    fingerprint = content_hash(
        {
            "v": 1,
            "root": spec.name,
            "kind": spec.kind,
            "shape": spec.shape,
            "agents": {n: {"version": a.version, **a.spec().shape} for n, a in sorted(spec.agents.items())},
            "edges": sorted([e.source, e.target, e.kind] for e in spec.edges),
            "contracts": sorted((c.describe() for c in contracts), key=lambda d: d["edge"]),
            "schema": (schema or StateSchema()).describe(),
            "roles": {
                n: {"ladder": list(r.ladder), "downgradable": r.downgradable} for n, r in sorted((roles or {}).items())
            },
        }
    )
    return Graph(spec, dict(spec.agents), dict(spec.nodes), tuple(spec.edges), fingerprint)


def _check_cycles(spec: NodeSpec, limits: Limits, contracts: Sequence[HandoffContract]) -> None:
    graph: dict[str, list[Edge]] = {}
    for e in spec.edges:
        graph.setdefault(e.source, []).append(e)
    for cycle in _cycles(graph):
        kinds = {e.kind for e in cycle}
        names = [e.source for e in cycle] + [cycle[0].source]
        if "handoff" in kinds or "route" in kinds or "delegate" in kinds:
            capped = limits.max_handoff_hops is not None or any(
                c.max_hops is not None and any(e.source == c.source and e.target == c.target for e in cycle)
                for c in contracts
            )
            fix = "set Limits(max_handoff_hops=...) or max_hops on a hand-off contract of the cycle"
        else:
            capped = limits.max_steps is not None or all(e.source in spec.capped for e in cycle)
            fix = "set max_steps on the state machine or Limits(max_steps=...)"
        if not capped:
            raise GraphConfigError(f"cycle {' -> '.join(names)} has no cap: {fix}")


def _cycles(graph: dict[str, list[Edge]]) -> list[list[Edge]]:
    """One representative cycle per back edge found by depth-first search (enough to name an uncapped loop)."""
    found: list[list[Edge]] = []
    color: dict[str, int] = {}
    stack: list[Edge] = []

    def dfs(node: str) -> None:
        color[node] = 1
        for e in graph.get(node, []):
            if color.get(e.target) == 1:
                start = (
                    next(i for i, x in enumerate(stack) if x.source == e.target)
                    if any(x.source == e.target for x in stack)
                    else len(stack)
                )
                found.append([*stack[start:], e])
            elif color.get(e.target) is None:
                stack.append(e)
                dfs(e.target)
                stack.pop()
        color[node] = 2

    for n in list(graph):
        if color.get(n) is None:
            dfs(n)
    return found
