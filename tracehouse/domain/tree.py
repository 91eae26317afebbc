"""One trace's parent/child structure, built once and walked without recursion.

Input comes from the network, so nothing here trusts it: a span id seen twice keeps its last step, a parent that is
not in the trace makes a root, and a parent cycle (a -> b -> c -> a) is broken at its earliest-starting member, which
becomes a root. Every walk is therefore bounded by the number of steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from tracehouse.domain.model import Step


def _start_key(step: Step) -> tuple[int, str]:
    return (step.start_time_ns, step.span_id)


class TraceTree:
    """Steps arranged by parent. `order` is depth-first (children by start time), with each step's depth."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.by_id: dict[str, Step] = {}
        for step in steps:
            self.by_id[step.span_id] = step
        self.parent: dict[str, str] = {
            sid: s.parent_span_id
            for sid, s in self.by_id.items()
            if s.parent_span_id and s.parent_span_id != sid and s.parent_span_id in self.by_id
        }
        self._break_cycles()
        self.children: dict[str, list[str]] = {}
        for sid in sorted(self.parent, key=lambda k: _start_key(self.by_id[k])):
            self.children.setdefault(self.parent[sid], []).append(sid)
        self.roots: list[str] = sorted(
            (sid for sid in self.by_id if sid not in self.parent), key=lambda k: _start_key(self.by_id[k])
        )
        self.order: list[tuple[str, int]] = []
        for root in self.roots:
            stack = [(root, 0)]
            while stack:
                sid, depth = stack.pop()
                self.order.append((sid, depth))
                stack.extend((c, depth + 1) for c in reversed(self.children.get(sid, ())))

    def _break_cycles(self) -> None:
        done: set[str] = set()
        for start in self.by_id:
            path: list[str] = []
            on_path: set[str] = set()
            sid: str | None = start
            while sid is not None and sid not in done:
                if sid in on_path:  # a cycle: from sid's first place on the path to the end
                    cycle = path[path.index(sid) :]
                    first = min(cycle, key=lambda k: _start_key(self.by_id[k]))
                    del self.parent[first]
                    break
                path.append(sid)
                on_path.add(sid)
                sid = self.parent.get(sid)
            done.update(path)

    def __len__(self) -> int:
        return len(self.by_id)

    @property
    def steps(self) -> list[Step]:
        """Every step, depth-first."""
        return [self.by_id[sid] for sid, _ in self.order]

    def parent_of(self, step: Step) -> Step | None:
        pid = self.parent.get(step.span_id)
        return self.by_id[pid] if pid is not None else None

    def child_steps(self, step: Step) -> list[Step]:
        return [self.by_id[c] for c in self.children.get(step.span_id, ())]

    def ancestors(self, step: Step) -> Iterator[Step]:
        """Nearest first (finite: cycles were broken)."""
        pid = self.parent.get(step.span_id)
        while pid is not None:
            yield self.by_id[pid]
            pid = self.parent.get(pid)

    def descendants(self, step: Step) -> Iterator[Step]:
        stack = list(reversed(self.children.get(step.span_id, ())))
        while stack:
            sid = stack.pop()
            yield self.by_id[sid]
            stack.extend(reversed(self.children.get(sid, ())))

    def subtree(self, step: Step) -> list[Step]:
        return [step, *self.descendants(step)]

    def in_start_order(self) -> Sequence[Step]:
        return sorted(self.by_id.values(), key=_start_key)
