"""OpenLLMetry (Traceloop) legacy layout as a table: `llm.request.type` and `traceloop.span.kind` decide.

Agent, tool and workflow names sit in `traceloop.entity.name`, whose meaning depends on the span kind; prompts and
completions are flattened as `gen_ai.prompt.{i}.role|content` and `gen_ai.completion.{i}.role|content|finish_reason`.
Newer OpenLLMetry releases emit the GenAI layout, which the `genai` table reads.
"""

from __future__ import annotations

from tracehouse.domain.model import Step, StepType
from tracehouse.sdk import semconv as sc

from ._table import Attrs, Convention, Field, KindRow

_REQUEST_TYPES: dict[str, tuple[StepType, str]] = {
    "chat": (StepType.LLM, sc.OP_CHAT),
    "completion": (StepType.LLM, sc.OP_TEXT_COMPLETION),
    "embedding": (StepType.EMBEDDING, sc.OP_EMBEDDINGS),
    "rerank": (StepType.OTHER, "rerank"),
}
_SPAN_KINDS: dict[str, tuple[StepType, str]] = {
    "workflow": (StepType.WORKFLOW, sc.OP_INVOKE_WORKFLOW),
    "agent": (StepType.AGENT, sc.OP_INVOKE_AGENT),
    "tool": (StepType.TOOL, sc.OP_EXECUTE_TOOL),
    "handoff": (StepType.HANDOFF, "handoff"),
    "task": (StepType.OTHER, "task"),
}

FIELDS: dict[Field, tuple[str, ...]] = {
    Field.WORKFLOW: (sc.TL_WORKFLOW_NAME,),
    Field.PROVIDER: (sc.GEN_AI_SYSTEM,),
    Field.INPUT_TOKENS: (sc.GEN_AI_USAGE_PROMPT_TOKENS,),
    Field.OUTPUT_TOKENS: (sc.GEN_AI_USAGE_COMPLETION_TOKENS,),
    Field.CACHE_READ_TOKENS: (
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_OLD,
        sc.TL_INPUT_TOKENS_DETAILS_CACHED,
        sc.TL_CACHE_READ_INPUT_TOKENS,
    ),
    Field.CACHE_WRITE_TOKENS: (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_OLD,),
    Field.FINISH_REASONS: (sc.TL_RESPONSE_FINISH_REASON, sc.TL_COMPLETION_PREFIX + "0.finish_reason"),
    Field.HANDOFF_SOURCE: (sc.TL_HANDOFF_FROM_AGENT,),
    Field.HANDOFF_TARGET: (sc.TL_HANDOFF_TO_AGENT,),
    Field.CONVERSATION_ID: (sc.TL_SESSION_ID, sc.TL_THREAD_ID, sc.TL_CONVERSATION_ID),
    Field.INPUT: (sc.TL_ENTITY_INPUT,),
    Field.OUTPUT: (sc.TL_ENTITY_OUTPUT,),
}

_MAX_MESSAGES = 256


def flattened_messages(attrs: Attrs, prefix: str) -> list[dict[str, str]]:
    """`{prefix}{i}.role|content` for i = 0, 1, ... as a list of {"role", "content"}; stops at the first gap."""
    messages: list[dict[str, str]] = []
    for i in range(_MAX_MESSAGES):
        base = f"{prefix}{i}."
        role = attrs.get(base + "role")
        content = attrs.get(base + "content")
        if role is None and content is None:
            break
        messages.append({"role": str(role or ""), "content": content if type(content) is str else str(content or "")})
    return messages


def refine(attrs: Attrs, step: Step) -> None:
    """`traceloop.entity.name` by span kind."""
    entity = attrs.get(sc.TL_ENTITY_NAME)
    if type(entity) is not str or not entity:
        return
    if step.step_type is StepType.AGENT and not step.agent:
        step.agent = entity
    elif step.step_type is StepType.TOOL and not step.tool_name:
        step.tool_name = entity
    elif step.step_type is StepType.WORKFLOW and not step.workflow:
        step.workflow = entity


OPENLLMETRY = Convention(
    name="openllmetry",
    kinds=(KindRow(sc.TL_REQUEST_TYPE, _REQUEST_TYPES), KindRow(sc.TL_SPAN_KIND, _SPAN_KINDS)),
    fields=FIELDS,
    refine=refine,
)
