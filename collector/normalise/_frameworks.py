"""What agent frameworks say about agents and delegation outside any convention's names, one rule per framework.

Each rule reads one span's own attributes (`semconv.md` §5 and the conformance corpus, `tests/conformance/`, show
where): the normaliser applies them after the convention tables. Rules that need the rest of the trace live in
`tracehouse.domain.attribution`.

- LangGraph: a node's own span is the agent people mean. OpenInference names the node only inside its `metadata`
  JSON (`langgraph_node`), on a CHAIN span named after the node; OpenLLMetry on an `execute_task` span whose entity
  is the node. The prebuilt `tools` node and the `__start__`-style internals are not agents. OpenLLMetry's
  `invoke_agent` spans of the graph itself (listing its nodes, or of Traceloop kind `workflow`) are a workflow.
- AutoGen's runtime: each message processed is a span naming the sender and recipient agent types; one agent
  sending work to another is a delegation (AgentChat's group-chat managers and agent containers are plumbing: a
  team's messages are broadcasts, its hand-offs are tools).
- Google ADK: `transfer_to_agent` names its target in the `agent_name` argument; `execute_tool (merged)` sums up
  parallel tool calls that have spans of their own. Through LiteLLM, models are spelled `openai/gpt-4o-mini`.
- OpenLLMetry before 0.50: the Responses API span (`openai.response`) has no operation name.
- CrewAI: delegation is a tool (`Delegate work to coworker`, `Ask question to coworker`) whose input names the
  coworker; the coworker's work runs under it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tracehouse.domain.attribution import GENERIC_HANDOFF_TOOL, GRAPH_NODE_OPERATION
from tracehouse.domain.model import Step, StepType
from tracehouse.sdk import semconv as sc

from ._table import Attrs

_NOT_AGENT_NODES = ("tools",)
_AGENT_TYPE_SUFFIX = re.compile(r"_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# AgentChat teams route every message through these: their hand-offs are tools, their messages are broadcasts.
_AGENTCHAT_PLUMBING = ("GroupChatManager", "ChatAgentContainer")
_ADK_MERGED = "(merged tools)"
_OPENLLMETRY_RESPONSE = "openai.response"
# Provider prefixes LiteLLM (and frameworks built on it, Google ADK's LiteLlm) put before a model name.
_ROUTED_PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "azure",
        "bedrock",
        "vertex_ai",
        "gemini",
        "groq",
        "mistral",
        "cohere",
        "deepseek",
        "ollama",
        "together_ai",
        "fireworks_ai",
        "xai",
        "perplexity",
        "openrouter",
    }
)
_COWORKER_TOOLS = ("delegate work to coworker", "ask question to coworker")


def refine(attrs: Attrs, step: Step) -> None:
    _langgraph(attrs, step)
    _autogen_message(attrs, step)
    _crewai_delegation(attrs, step)
    _adk(attrs, step)
    _openllmetry_response(step)
    _routed_model(step)


def _openllmetry_response(step: Step) -> None:
    """OpenLLMetry (before 0.50) names no operation on its Responses API span; the span's name says what it is."""
    if step.step_type is StepType.OTHER and not step.operation and step.name == _OPENLLMETRY_RESPONSE:
        step.step_type, step.operation = StepType.LLM, sc.OP_CHAT


def _adk(attrs: Attrs, step: Step) -> None:
    if step.step_type not in (StepType.TOOL, StepType.HANDOFF):
        return
    if step.tool_name == _ADK_MERGED:  # a summary of parallel tool calls, each of which has its own span
        step.step_type = StepType.OTHER
    elif step.tool_name == GENERIC_HANDOFF_TOOL:
        raw = attrs.get(sc.GEN_AI_TOOL_CALL_ARGUMENTS)
        target = _json_field(raw, "agent_name") if type(raw) is str else None
        if type(target) is str and target:
            step.step_type, step.handoff_target = StepType.HANDOFF, target


def _routed_model(step: Step) -> None:
    """LiteLLM's `openai/gpt-4o-mini`: the provider before the slash, the model after it."""
    provider, slash, model = step.request_model.partition("/")
    if slash and model and provider.lower() in _ROUTED_PROVIDERS:
        step.request_model = model
        step.provider = step.provider or provider.lower()


def _is_node(name: str) -> bool:
    return bool(name) and name not in _NOT_AGENT_NODES and not name.startswith("__")


def _langgraph(attrs: Attrs, step: Step) -> None:
    graph = sc.GEN_AI_WORKFLOW_NODES in attrs or attrs.get(sc.TL_SPAN_KIND) == "workflow"
    if step.step_type is StepType.AGENT and graph:
        step.step_type, step.workflow, step.agent = StepType.WORKFLOW, step.agent, ""
        return
    node = attrs.get(sc.TL_LANGGRAPH_NODE)
    if node is None:
        metadata = attrs.get(sc.OI_METADATA)
        if type(metadata) is str and sc.LANGGRAPH_NODE in metadata:
            node = _json_field(metadata, sc.LANGGRAPH_NODE)
    if type(node) is not str or not _is_node(node) or step.step_type not in (StepType.OTHER, StepType.AGENT):
        return
    entity = attrs.get(sc.TL_ENTITY_NAME) or attrs.get(sc.GEN_AI_TASK_NAME) or step.name
    if entity == node:
        step.step_type, step.agent, step.operation = StepType.AGENT, node, GRAPH_NODE_OPERATION


def _agent_type(value: Any) -> str:
    return _AGENT_TYPE_SUFFIX.sub("", value) if type(value) is str else ""


def _autogen_message(attrs: Attrs, step: Step) -> None:
    if attrs.get(sc.MESSAGING_OPERATION) != "process":
        return
    source, target = _agent_type(attrs.get(sc.AUTOGEN_SENDER_TYPE)), _agent_type(attrs.get(sc.AUTOGEN_RECIPIENT_TYPE))
    classes = (str(attrs.get(sc.AUTOGEN_SENDER_CLASS, "")), str(attrs.get(sc.AUTOGEN_RECIPIENT_CLASS, "")))
    if source and target and source != target and not any(c.endswith(_AGENTCHAT_PLUMBING) for c in classes):
        step.step_type, step.handoff_source, step.handoff_target = StepType.HANDOFF, source, target


def _crewai_delegation(attrs: Attrs, step: Step) -> None:
    if step.step_type is not StepType.TOOL or not step.name.lower().startswith(_COWORKER_TOOLS):
        return
    raw = attrs.get(sc.OI_INPUT_VALUE)
    coworker = _json_field(raw, "coworker") if type(raw) is str else None
    if type(coworker) is str and coworker:
        step.step_type, step.handoff_target = StepType.HANDOFF, coworker.strip()


def _json_field(text: str, key: str) -> Any:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed.get(key) if isinstance(parsed, dict) else None
