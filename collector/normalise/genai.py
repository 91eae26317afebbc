"""OpenTelemetry GenAI conventions as a table: the latest names first, older (<= 1.36, pre-1.27) spellings after.

`gen_ai.operation.name` decides the step kind. On an `invoke_workflow` span `gen_ai.agent.name` names the workflow
(semantic-conventions-genai v0.1.0); earlier releases used `gen_ai.workflow.name`. Both are accepted.
"""

from __future__ import annotations

from tracehouse.domain.model import Step, StepType
from tracehouse.sdk import semconv as sc

from ._table import Attrs, Convention, Field, KindRow

_OPERATIONS: dict[str, tuple[StepType, str]] = {
    op: (step_type, op)
    for op, step_type in (
        (sc.OP_CHAT, StepType.LLM),
        (sc.OP_TEXT_COMPLETION, StepType.LLM),
        (sc.OP_GENERATE_CONTENT, StepType.LLM),
        ("completion", StepType.LLM),  # pre-1.27 spelling (verify)
        (sc.OP_EMBEDDINGS, StepType.EMBEDDING),
        (sc.OP_EXECUTE_TOOL, StepType.TOOL),
        (sc.OP_INVOKE_AGENT, StepType.AGENT),
        (sc.OP_CREATE_AGENT, StepType.OTHER),  # declares an agent; it is not an agent's run
        (sc.OP_INVOKE_WORKFLOW, StepType.WORKFLOW),
        (sc.OP_RETRIEVAL, StepType.RETRIEVAL),
        ("plan", StepType.OTHER),  # newer GenAI addition; kept distinct by its operation
        ("agent_handoff", StepType.HANDOFF),  # OpenAI Agents' OTel contrib instrumentation
    )
}

FIELDS: dict[Field, tuple[str, ...]] = {
    Field.AGENT: (sc.GEN_AI_AGENT_NAME,),
    Field.AGENT_ID: (sc.GEN_AI_AGENT_ID,),
    Field.WORKFLOW: (sc.GEN_AI_WORKFLOW_NAME,),
    Field.PROVIDER: (sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM),
    Field.REQUEST_MODEL: (sc.GEN_AI_REQUEST_MODEL,),
    Field.RESPONSE_MODEL: (sc.GEN_AI_RESPONSE_MODEL,),
    Field.INPUT_TOKENS: (sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_PROMPT_TOKENS),
    Field.OUTPUT_TOKENS: (sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.GEN_AI_USAGE_COMPLETION_TOKENS),
    Field.CACHE_READ_TOKENS: (
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_OLD,
        sc.GEN_AI_USAGE_INPUT_TOKENS_CACHED,
    ),
    Field.CACHE_WRITE_TOKENS: (
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_OLD,
        sc.GEN_AI_USAGE_INPUT_TOKENS_CACHE_WRITE,
    ),
    Field.REASONING_TOKENS: sc.USAGE_REASONING_TOKENS_ALIASES,
    Field.FINISH_REASONS: (sc.GEN_AI_RESPONSE_FINISH_REASONS,),
    Field.TOOL_NAME: (sc.GEN_AI_TOOL_NAME,),
    Field.TOOL_CALL_ID: (sc.GEN_AI_TOOL_CALL_ID,),
    Field.CONVERSATION_ID: (sc.GEN_AI_CONVERSATION_ID,),
    Field.INPUT: (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_TOOL_CALL_ARGUMENTS, sc.GEN_AI_PROMPT),
    Field.OUTPUT: (sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_TOOL_CALL_RESULT, sc.GEN_AI_COMPLETION),
    Field.ERROR_TYPE: (sc.ERROR_TYPE,),
}

_NAME_PREFIXES: dict[StepType, str] = {
    StepType.AGENT: sc.OP_INVOKE_AGENT + " ",
    StepType.TOOL: sc.OP_EXECUTE_TOOL + " ",
}


def refine(attrs: Attrs, step: Step) -> None:
    """Workflow naming, and names the span name carries when the attribute is missing."""
    if step.step_type is StepType.WORKFLOW:
        step.workflow = step.agent or step.workflow or step.name.removeprefix(sc.OP_INVOKE_WORKFLOW + " ")
        step.agent = ""
        step.agent_id = ""
        return
    prefix = _NAME_PREFIXES.get(step.step_type)
    if prefix is None or not step.name.startswith(prefix):
        return
    if step.step_type is StepType.AGENT and not step.agent:
        step.agent = step.name[len(prefix) :]
    elif step.step_type is StepType.TOOL and not step.tool_name:
        step.tool_name = step.name[len(prefix) :]


GENAI = Convention(
    name="genai",
    kinds=(KindRow(sc.GEN_AI_OPERATION_NAME, _OPERATIONS),),
    fields=FIELDS,
    refine=refine,
)
