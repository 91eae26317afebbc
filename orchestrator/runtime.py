"""The run: one choke point (`Run`) through which every agent step, model call, tool call and hand-off passes.

Each unit gets a deterministic step key from its position in the execution tree. Before running, the journal is
consulted: a unit that already succeeded returns its recorded output and re-applies its recorded writes and usage
(that is resume). Otherwise limits are checked, the breaker asked, cost reserved, the unit executed with retries
under the run's retry budget, and its journal row, writes and checkpoint committed in one transaction. Every unit
emits exactly one span per attempt through `tracehouse.sdk`.

The units live in their own modules, each a layer over the shared journal (`journal.RunCore`):
`units/interrupts.py` → `units/tools.py` → `units/models.py` → `units/arbitration.py` → `units/handoffs.py` →
`units/agents.py`; `Run` is the stack. This module is also where the rest of the package finds the run's types.
"""

from __future__ import annotations

from .context import AgentContext
from .journal import Frame, RunConfig, RunCore, RunResult
from .tracing import flush_spans, origin_parent, resume_links, run_id, terminal_attrs
from .units.agents import AgentUnit

__all__ = [
    "AgentContext",
    "Frame",
    "Run",
    "RunConfig",
    "RunCore",
    "RunResult",
    "flush_spans",
    "origin_parent",
    "resume_links",
    "run_id",
    "terminal_attrs",
]


class Run(AgentUnit):
    """One execution of a workflow (a fresh run, a resume or a fork): the choke point for everything it does."""
