"""tracehouse.orchestrator: run multi-agent workflows with one state store, global budgets, retries in one layer,
circuit breakers, dedup, loop guards, arbitration, hand-off contracts and checkpoints — every step traced."""

from .arbitration import (
    Arbiter,
    Candidate,
    Decision,
    DeterministicPriority,
    EscalateHuman,
    FirstResponder,
    HighestConfidence,
    MajorityVote,
)
from .breaker import BreakerConfig, BreakerRegistry, CircuitBreaker
from .budget import Ledger, Limits, Role, Usage
from .clock import FakeClock, RealClock
from .contracts import HandoffContract
from .core import Orchestrator
from .errors import (
    BudgetExceeded,
    CircuitOpen,
    ContextOverflow,
    ContractViolation,
    DeadlineExceeded,
    EffectInDoubt,
    GraphConfigError,
    GraphFingerprintMismatch,
    HandoffHopsExceeded,
    HumanInputRequired,
    LimitExceeded,
    LoopDetected,
    OrchestratorError,
    ProviderError,
    RetryBudgetExhausted,
    StateConflict,
    StepCapExceeded,
    UndeclaredWrite,
)
from .loops import LoopPolicy
from .nodes import Agent, Handoff, Node, Result, agent
from .patterns import FanOut, Route, Router, Sequential, StateMachine, Supervisor, Swarm, Task
from .providers import FakeProvider, ModelRequest, ModelResponse, OpenAICompatibleProvider, Provider, Scripted, fail
from .retry import RetryBudgetConfig, RetryPolicy
from .runtime import AgentContext, RunResult
from .state import Key, SQLiteStateStore, StateSchema, StateStore
from .summarise import ContextPolicy

__all__ = [
    "Agent", "AgentContext", "Arbiter", "BreakerConfig", "BreakerRegistry", "BudgetExceeded", "Candidate",
    "CircuitBreaker", "CircuitOpen", "ContextOverflow", "ContextPolicy", "ContractViolation", "DeadlineExceeded",
    "Decision", "DeterministicPriority", "EffectInDoubt", "EscalateHuman", "FakeClock", "FakeProvider", "FanOut",
    "FirstResponder", "GraphConfigError", "GraphFingerprintMismatch", "Handoff", "HandoffContract",
    "HandoffHopsExceeded", "HighestConfidence", "HumanInputRequired", "Key", "Ledger", "LimitExceeded", "Limits",
    "LoopDetected", "LoopPolicy", "MajorityVote", "ModelRequest", "ModelResponse", "Node", "OpenAICompatibleProvider",
    "Orchestrator", "OrchestratorError", "Provider", "ProviderError", "RealClock", "Result", "RetryBudgetConfig",
    "RetryBudgetExhausted", "RetryPolicy", "Role", "Route", "Router", "RunResult", "SQLiteStateStore", "Scripted",
    "Sequential", "StateConflict", "StateMachine", "StateSchema", "StateStore", "StepCapExceeded", "Supervisor",
    "Swarm", "Task", "UndeclaredWrite", "Usage", "agent", "fail",
]
