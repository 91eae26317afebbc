"""Hand-offs: hop caps and the loop guard, the edge's contract (payload in, obligations and success out), the target
run in a staged scope under an `execute_tool transfer_to_<target>` span, and its journal row.
"""

from __future__ import annotations

from typing import Any

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from .._support import Scope, last_values, roundtrip
from ..budget import Usage
from ..contracts import HandoffContract, find_contract
from ..errors import ContractViolation, HandoffHopsExceeded, LoopDetected
from ..events import HandedOff
from ..journal import Frame
from ..nodes import Node
from ..tracing import mark_loop, mark_violation, pausable
from .arbitration import ArbitrationUnit


class HandoffUnit(ArbitrationUnit):
    """Transfers of control between agents."""

    def _handoff_prelude(
        self, frame: Frame, source: str, target: str, payload: Any, span: sdk.StepSpan | Any, key: str
    ) -> tuple[Node, HandoffContract | None, Any]:
        node = self.cfg.nodes.get(target)
        if node is None:
            raise ContractViolation(f"{source}->{target}", "target", f"unknown agent {target!r}")
        contract = find_contract(self.cfg.contracts, source, target)
        span.set_attribute(sc.STEP_KEY, key)
        try:
            self.ledger.count_hop()
            self._account(frame, Usage(hops=1))
            edge = (source, target)
            self._edge_hops[edge] = self._edge_hops.get(edge, 0) + 1
            if contract is not None and contract.max_hops is not None and self._edge_hops[edge] > contract.max_hops:
                raise HandoffHopsExceeded(
                    "handoff_hops",
                    contract.max_hops,
                    self._edge_hops[edge],
                    f"hand-off {source}->{target} taken {self._edge_hops[edge]} times "
                    f"(contract max_hops {contract.max_hops})",
                )
            self.loops.handoff(source, target)
        except HandoffHopsExceeded as exc:
            span.set_attributes(
                {sc.BUDGET_LIMIT_KIND: exc.kind, sc.BUDGET_LIMIT: exc.limit, sc.BUDGET_OBSERVED: exc.observed}
            )
            if self.loops.has_cycle():
                mark_loop(span, "handoff_cycle", f"hop cap {exc.limit:g} stopped a hand-off cycle")
            raise
        except LoopDetected as exc:
            mark_loop(span, exc.pattern, exc.detail)
            raise
        if contract is not None:
            span.set_attributes({sc.CONTRACT_EDGE: contract.edge, sc.CONTRACT_VERSION: contract.version})
            try:
                payload = contract.validate_payload(payload)
            except ContractViolation as exc:
                mark_violation(span, exc)
                raise
        return node, contract, payload

    def _handoff_check(
        self,
        frame: Frame,
        source: str,
        target: str,
        contract: HandoffContract | None,
        child: Scope,
        out: Any,
        attempt: int,
        key: str,
        span: sdk.StepSpan | Any,
    ) -> tuple[bool, Any]:
        """(done, output): done=False means retry the target per the contract."""
        if contract is None:
            return True, out
        problem = contract.check_result(last_values(child.writes))
        if problem is None:
            return True, out
        what = "obligations" if problem.startswith("obligations") else "success"
        exc = ContractViolation(contract.edge, what, problem)
        mark_violation(span, exc)
        if contract.on_failure == "retry" and attempt <= contract.max_retries and self.retry_budget.try_acquire():
            self._account(frame, Usage(retries=1))
            return False, None
        if contract.on_failure == "return_to_source":
            child.writes.clear()
            return True, {"contract_violation": what, "edge": contract.edge, "detail": problem, "output": out}
        if contract.on_failure == "escalate_human":
            answer = self._interrupt(key, "contract", {"edge": contract.edge, "problem": problem, "output": out}, span)
            if answer == "accept":
                return True, out
        raise exc

    def handoff(
        self, frame: Frame, source: str, target: str, payload: Any, reason: str | None, attempt: int | None = None
    ) -> Any:
        key, path = frame.next_key(f"handoff:{target}")
        rec = self.records.get(key)
        if rec is not None:
            self.ledger.count_hop()
            self._account(frame, Usage(hops=1))
            self.loops.handoff(source, target)
            self._edge_hops[(source, target)] = self._edge_hops.get((source, target), 0) + 1
            return self._replay(frame, rec)
        usage = Usage()
        with pausable(sdk.handoff(source, target, reason=reason, payload=payload, attempt=attempt)) as span:
            node, contract, payload = self._handoff_prelude(frame, source, target, payload, span, key)
            self.emit(HandedOff(source, target, reason))
            attempt = 0
            while True:
                attempt += 1
                child = frame.scope.child()
                tframe = frame.child(
                    f"{path}/t{attempt}",
                    scope=child,
                    input=payload,
                    agent=target,
                    usage=(*frame.usage, usage),
                    occ={},
                    projection=contract.state_projection if contract else None,
                )
                out = node.execute(tframe)
                done, out = self._handoff_check(frame, source, target, contract, child, out, attempt, key, span)
                if done:
                    break
            self.commit(
                frame,
                key=key,
                name=f"{sc.HANDOFF_TOOL_PREFIX}{target}",
                kind="handoff",
                writes=child.writes,
                output=roundtrip(out),
                usage=usage,
                checkpoint=frame.scope.top,
            )
            return roundtrip(out)

    async def ahandoff(
        self, frame: Frame, source: str, target: str, payload: Any, reason: str | None, attempt: int | None = None
    ) -> Any:
        key, path = frame.next_key(f"handoff:{target}")
        rec = self.records.get(key)
        if rec is not None:
            frame.occ[f"handoff:{target}"] -= 1
            return self.handoff(frame, source, target, payload, reason, attempt)
        usage = Usage()
        with pausable(sdk.handoff(source, target, reason=reason, payload=payload, attempt=attempt)) as span:
            node, contract, payload = self._handoff_prelude(frame, source, target, payload, span, key)
            self.emit(HandedOff(source, target, reason))
            attempt = 0
            while True:
                attempt += 1
                child = frame.scope.child()
                tframe = frame.child(
                    f"{path}/t{attempt}",
                    scope=child,
                    input=payload,
                    agent=target,
                    usage=(*frame.usage, usage),
                    occ={},
                    projection=contract.state_projection if contract else None,
                )
                out = await node.aexecute(tframe)
                done, out = self._handoff_check(frame, source, target, contract, child, out, attempt, key, span)
                if done:
                    break
            self.commit(
                frame,
                key=key,
                name=f"{sc.HANDOFF_TOOL_PREFIX}{target}",
                kind="handoff",
                writes=child.writes,
                output=roundtrip(out),
                usage=usage,
                checkpoint=frame.scope.top,
            )
            return roundtrip(out)
