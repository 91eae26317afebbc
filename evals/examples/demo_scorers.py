"""A Python scorer for the demo suites: every agent that acted in the trace reports its version."""

from __future__ import annotations

from tracehouse.domain.model import Step, StepType
from tracehouse.evals import ScoreResult, scorer


@scorer("agents_versioned")
def agents_versioned(steps: list[Step]) -> ScoreResult:
    """Pass when every invoke_agent step carries gen_ai.agent.version (quality per version needs it)."""
    agents = [s for s in steps if s.step_type == StepType.AGENT]
    missing = sorted({s.agent for s in agents if not s.attributes.get("gen_ai.agent.version")})
    if missing:
        return ScoreResult(value=0.0, passed=False, agent=missing[0], comment=f"no version on {', '.join(missing)}")
    return ScoreResult(value=1.0, passed=True, comment=f"{len(agents)} agent steps versioned")
