"""Composable orchestration patterns: sequential, router, fan-out, supervisor, state machine, swarm."""

from .fanout import FanOut
from .router import Route, Router
from .sequential import Sequential
from .state_machine import InvalidTransition, StateMachine
from .supervisor import Supervisor, Task
from .swarm import Swarm

__all__ = [
    "FanOut",
    "InvalidTransition",
    "Route",
    "Router",
    "Sequential",
    "StateMachine",
    "Supervisor",
    "Swarm",
    "Task",
]
