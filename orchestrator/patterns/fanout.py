"""Parallel fan-out with an aggregation step (superstep semantics).

Branches run concurrently (threads for `run`, tasks for `arun`) on staged copies of the state; their writes merge
by the schema's reducers at the end (a shared reducer-less key is a `StateConflict`). A branch that finished keeps
its journal row even if a sibling fails, so a resume re-runs only the failed branch.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .._support import Scope, roundtrip
from ..budget import Usage
from ..errors import GraphConfigError
from ..nodes import Edge, Node, NodeSpec
from ..state import StepStatus, merge_superstep
from ._common import merge_specs, pick_error

if TYPE_CHECKING:
    from ..runtime import Frame

Items = Callable[[Mapping[str, Any], Any], Sequence[Any]]


class FanOut(Node):
    """`FanOut("search", [web, papers, news], aggregate=merge)` runs fixed branches on the same input;
    `FanOut("per_doc", each=summarise, over=lambda state, inp: state["docs"], aggregate=combine)` maps items."""

    def __init__(
        self,
        name: str,
        branches: Sequence[Node] = (),
        *,
        each: Node | None = None,
        over: Items | None = None,
        aggregate: Node | None = None,
        max_concurrency: int | None = None,
        keep_partial: bool = True,
    ) -> None:
        if bool(branches) == (each is not None):
            raise GraphConfigError(f"fan-out {name!r}: give either branches or each= with over=")
        if each is not None and over is None:
            raise GraphConfigError(f"fan-out {name!r}: each= needs over= to list the items")
        if max_concurrency is not None and max_concurrency < 1:
            raise GraphConfigError(f"fan-out {name!r}: max_concurrency must be >= 1")
        self.name = name
        self.branches = list(branches)
        self.each = each
        self.over = over
        self.aggregate = aggregate
        self.max_concurrency = max_concurrency
        # keep_partial (default): on failure, what the finished (paid-for) branches wrote is merged into the run's
        # state before raising, so the result carries it; that merge is journalled as `partial`, never replayed,
        # so a resume still re-runs only the failed branches. Off: nothing merges until every branch succeeds.
        self.keep_partial = keep_partial

    def _plan(self, frame: Frame) -> list[tuple[Node, Any]]:
        if self.each is not None and self.over is not None:
            return [(self.each, item) for item in self.over(frame.scope.state, frame.input)]
        return [(node, frame.input) for node in self.branches]

    def _branch_frame(self, frame: Frame, path: str, i: int, item: Any, usage: Usage) -> Frame:
        return frame.child(
            f"{path}/b{i}",
            scope=Scope(frame.scope.schema, None, frame.scope),
            input=item,
            usage=(*frame.usage, usage),
            occ={},
        )

    def _merge(
        self,
        frame: Frame,
        key: str,
        plan: list[tuple[Node, Any]],
        frames: list[Frame],
        outputs: list[Any],
        usage: Usage,
        status: StepStatus = "succeeded",
    ) -> list[Any]:
        writes = merge_superstep(
            frame.scope.schema,
            [(f"{node.name}[{i}]", f.scope.writes) for i, ((node, _), f) in enumerate(zip(plan, frames, strict=True))],
        )
        outputs = roundtrip(outputs)
        frame.run.commit(
            frame,
            key=key,
            name=self.name,
            kind="merge",
            writes=writes,
            output=outputs,
            usage=usage if status == "succeeded" else Usage(),  # the branches' own rows carry their usage on resume
            checkpoint=True,
            status=status,
        )
        return outputs

    def _fail(
        self,
        frame: Frame,
        key: str,
        plan: list[tuple[Node, Any]],
        frames: list[Frame],
        outputs: list[Any],
        usage: Usage,
        errors: dict[int, BaseException],
    ) -> None:
        if self.keep_partial:
            for i in errors:
                frames[i].scope.writes.clear()
            self._merge(frame, key, plan, frames, outputs, usage, status="partial")
        raise pick_error(errors)

    def execute(self, frame: Frame) -> Any:
        key, path = frame.next_key(self.name)
        rec = frame.run.records.get(key)
        if rec is not None:
            outputs = frame.run._replay(frame, rec)
        else:
            plan = self._plan(frame)
            usage = Usage()
            frames = [self._branch_frame(frame, path, i, item, usage) for i, (_, item) in enumerate(plan)]
            outputs = [None] * len(plan)
            errors: dict[int, BaseException] = {}

            def branch(i: int) -> None:
                try:
                    outputs[i] = plan[i][0].execute(frames[i])
                except Exception as exc:
                    errors[i] = exc

            workers = min(self.max_concurrency or len(plan), len(plan)) or 1
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"fanout-{self.name}") as pool:
                futures = [pool.submit(contextvars.copy_context().run, branch, i) for i in range(len(plan))]
                for f in futures:
                    f.result()
            if errors:
                self._fail(frame, key, plan, frames, outputs, usage, errors)
            outputs = self._merge(frame, key, plan, frames, outputs, usage)
        return self._aggregate(frame, outputs)

    async def aexecute(self, frame: Frame) -> Any:
        key, path = frame.next_key(self.name)
        rec = frame.run.records.get(key)
        if rec is not None:
            outputs = frame.run._replay(frame, rec)
        else:
            plan = self._plan(frame)
            usage = Usage()
            frames = [self._branch_frame(frame, path, i, item, usage) for i, (_, item) in enumerate(plan)]
            gate = asyncio.Semaphore(self.max_concurrency or max(len(plan), 1))

            async def branch(i: int) -> Any:
                async with gate:
                    return await plan[i][0].aexecute(frames[i])

            results = await asyncio.gather(*(branch(i) for i in range(len(plan))), return_exceptions=True)
            errors = {i: r for i, r in enumerate(results) if isinstance(r, BaseException)}
            if errors:
                self._fail(
                    frame, key, plan, frames, [None if i in errors else r for i, r in enumerate(results)], usage, errors
                )
            outputs = self._merge(frame, key, plan, frames, list(results), usage)
        if self.aggregate is None:
            return outputs
        agg = frame.child(f"{frame.path}", input=outputs)
        agg.occ = frame.occ
        return await self.aggregate.aexecute(agg)

    def _aggregate(self, frame: Frame, outputs: list[Any]) -> Any:
        if self.aggregate is None:
            return outputs
        agg = frame.child(f"{frame.path}", input=outputs)
        agg.occ = frame.occ
        return self.aggregate.execute(agg)

    def spec(self) -> NodeSpec:
        children = [*self.branches, *([self.each] if self.each else []), *([self.aggregate] if self.aggregate else [])]
        spec = merge_specs(NodeSpec(self.name, "fanout", "1"), children)
        heads = self.branches or ([self.each] if self.each else [])
        spec.entry = [e for n in heads for e in n.spec().entry]
        if self.aggregate is not None:
            agg = self.aggregate.spec()
            spec.edges.extend(Edge(x, y, "fanout") for n in heads for x in n.spec().exits for y in agg.entry)
            spec.exits = agg.exits
        else:
            spec.exits = [x for n in heads for x in n.spec().exits]
        spec.shape.update({"mapped": self.each is not None, "max_concurrency": self.max_concurrency})
        spec.nodes[self.name] = self
        return spec
