"""OpenInference (Arize Phoenix) as a table: `openinference.span.kind` decides, spans are INTERNAL with status OK.

`llm.model_name` is the model that answered; the requested one is only inside the `llm.invocation_parameters` JSON.
The OpenAI Agents instrumentation names agent spans after the agent and a hand-off TOOL span `handoff to {agent}`;
a root CHAIN span is the workflow.
"""

from __future__ import annotations

import json

from tracehouse.domain.model import Step, StepType
from tracehouse.sdk import semconv as sc

from ._table import Attrs, Convention, Field, KindRow

_KINDS: dict[str, tuple[StepType, str]] = {
    "llm": (StepType.LLM, sc.OP_CHAT),
    "embedding": (StepType.EMBEDDING, sc.OP_EMBEDDINGS),
    "tool": (StepType.TOOL, sc.OP_EXECUTE_TOOL),
    "agent": (StepType.AGENT, sc.OP_INVOKE_AGENT),
    "retriever": (StepType.RETRIEVAL, sc.OP_RETRIEVAL),
    "chain": (StepType.OTHER, "chain"),
    "reranker": (StepType.OTHER, "rerank"),
    "guardrail": (StepType.OTHER, "guardrail"),
    "evaluator": (StepType.OTHER, "evaluator"),
    "prompt": (StepType.OTHER, "prompt"),
}

FIELDS: dict[Field, tuple[str, ...]] = {
    Field.AGENT: (sc.OI_AGENT_NAME, sc.OI_GRAPH_NODE_ID),
    Field.PROVIDER: (sc.OI_LLM_PROVIDER, sc.OI_LLM_SYSTEM),
    Field.RESPONSE_MODEL: (sc.OI_LLM_MODEL_NAME, sc.OI_EMBEDDING_MODEL_NAME),
    Field.INPUT_TOKENS: (sc.OI_TOKEN_PROMPT,),
    Field.OUTPUT_TOKENS: (sc.OI_TOKEN_COMPLETION,),
    Field.CACHE_READ_TOKENS: (sc.OI_TOKEN_CACHE_READ,),
    Field.CACHE_WRITE_TOKENS: (sc.OI_TOKEN_CACHE_WRITE,),
    Field.REASONING_TOKENS: (sc.OI_TOKEN_REASONING,),
    Field.COST_USD: (sc.OI_COST_TOTAL,),
    Field.TOOL_NAME: (sc.OI_TOOL_NAME, sc.OI_TOOL_CALL_FUNCTION_NAME),
    Field.TOOL_CALL_ID: (sc.OI_TOOL_CALL_ID,),
    Field.CONVERSATION_ID: (sc.OI_SESSION_ID,),
    Field.INPUT: (sc.OI_INPUT_VALUE,),
    Field.OUTPUT: (sc.OI_OUTPUT_VALUE,),
}


def invocation_model(attrs: Attrs) -> str:
    """The requested model inside `llm.invocation_parameters` (a JSON object), or ""."""
    params = attrs.get(sc.OI_LLM_INVOCATION_PARAMETERS)
    if type(params) is str and '"model' in params:
        try:
            params = json.loads(params)
        except ValueError:
            return ""
    if isinstance(params, dict):
        model = params.get("model") or params.get("model_name")
        return model if isinstance(model, str) else ""
    return ""


def refine(attrs: Attrs, step: Step) -> None:
    """Request model from invocation parameters; agent, workflow and hand-off names from span names."""
    if step.step_type is StepType.LLM or step.step_type is StepType.EMBEDDING:
        if not step.request_model:
            step.request_model = invocation_model(attrs)
    elif step.step_type is StepType.AGENT:
        if not step.agent:
            _agent_from_span_name(step)
    elif step.step_type is StepType.TOOL:
        if step.name.startswith(sc.OI_HANDOFF_SPAN_PREFIX) and not step.tool_name:
            step.step_type = StepType.HANDOFF
            step.handoff_target = step.handoff_target or step.name[len(sc.OI_HANDOFF_SPAN_PREFIX) :]
    elif step.operation == "chain" and not step.parent_span_id:
        step.step_type = StepType.WORKFLOW
        step.operation = sc.OP_INVOKE_WORKFLOW
        step.workflow = step.workflow or step.name


def _agent_from_span_name(step: Step) -> None:
    """An AGENT span without `agent.name` or `graph.node.id`: `manager.run` / `Researcher._execute_core` name the
    agent before the dot (smolagents, CrewAI); a root without one is the run itself (OpenAI Agents' `Agent
    workflow`), a workflow and not an agent."""
    head, dot, _ = step.name.partition(".")
    if dot and head:
        step.agent = head
    elif not step.parent_span_id:
        step.step_type, step.operation, step.workflow = StepType.WORKFLOW, sc.OP_INVOKE_WORKFLOW, step.name
    else:
        step.agent = step.name


OPENINFERENCE = Convention(
    name="openinference",
    kinds=(KindRow(sc.OI_SPAN_KIND, _KINDS),),
    fields=FIELDS,
    refine=refine,
)
