"""Attribute names tracehouse emits and reads, in one place: the SDK writes them and the collector imports them.

GenAI names follow the latest OpenTelemetry GenAI semantic conventions (pinned against
opentelemetry-semantic-conventions 0.66b2); `tracehouse.*` names exist only where GenAI has none.
"""

from typing import Final

# --- OpenTelemetry GenAI (latest) -------------------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # <= 1.36 spelling of the provider
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"  # before 1.27
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"  # before 1.27
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_AGENT_VERSION: Final = "gen_ai.agent.version"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"  # before semantic-conventions-genai v0.1.0
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
ERROR_TYPE: Final = "error.type"
SERVICE_NAME: Final = "service.name"  # resource attribute
EXCEPTION_EVENT: Final = "exception"  # span event recording an exception
GEN_AI_CHOICE_EVENT: Final = "gen_ai.choice"  # <= 1.36: the model's answer, as a log record or a span event
GEN_AI_OPERATION_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"  # latest: messages as an event
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
# older spellings of usage seen in the wild (cache tokens are included in the input tokens)
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_OLD: Final = "gen_ai.usage.cache_read_input_tokens"
GEN_AI_USAGE_INPUT_TOKENS_CACHED: Final = "gen_ai.usage.input_tokens.cached"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_OLD: Final = "gen_ai.usage.cache_creation_input_tokens"
GEN_AI_USAGE_INPUT_TOKENS_CACHE_WRITE: Final = "gen_ai.usage.input_tokens.cache_write"
GEN_AI_USAGE_TOTAL_TOKENS: Final = "gen_ai.usage.total_tokens"
# <= 1.27 content events on spans: event `gen_ai.content.prompt` carries attribute `gen_ai.prompt`
GEN_AI_CONTENT_PROMPT_EVENT: Final = "gen_ai.content.prompt"
GEN_AI_CONTENT_COMPLETION_EVENT: Final = "gen_ai.content.completion"
GEN_AI_PROMPT: Final = "gen_ai.prompt"
GEN_AI_COMPLETION: Final = "gen_ai.completion"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"

# gen_ai.operation.name values
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_EMBEDDINGS: Final = "embeddings"
OP_RETRIEVAL: Final = "retrieval"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_CREATE_AGENT: Final = "create_agent"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"

# --- tracehouse's own (only where GenAI has no name) ------------------------------------------------------------
COST_USD: Final = "tracehouse.cost.usd"
COST_UNPRICED: Final = "tracehouse.cost.unpriced"  # true on a call whose model has no price (no cost.usd)
RETRY_ATTEMPT: Final = "tracehouse.retry.attempt"  # 1 for the first attempt, 2 for the first retry, ...
CONTENT_HASH: Final = "tracehouse.content.hash"  # sha256 hex of canonical JSON of the step's normalised input
STEP_KEY: Final = "tracehouse.step.key"
CHECKPOINT_ID: Final = "tracehouse.checkpoint.id"
BUDGET_PREFIX: Final = "tracehouse.budget."
BUDGET_SPENT_USD: Final = "tracehouse.budget.spent_usd"
BUDGET_FRACTION: Final = "tracehouse.budget.fraction"
BUDGET_PROMPT_ESTIMATE: Final = "tracehouse.budget.prompt_estimate"  # tokens reserved for the prompt
USAGE_ESTIMATED: Final = "tracehouse.usage.estimated"  # true when the provider reported no usage
MODEL_TIER_SWITCH: Final = "tracehouse.model.tier_switch"
BREAKER_STATE: Final = "tracehouse.breaker.state"
DEDUP_HIT: Final = "tracehouse.dedup.hit"  # true on a step that reused a concurrent/earlier identical execution
ARBITER_PREFIX: Final = "tracehouse.arbiter."
ARBITER_STRATEGY: Final = "tracehouse.arbiter.strategy"
ARBITER_OUTCOME: Final = "tracehouse.arbiter.outcome"
ROUTER_DECISION: Final = "tracehouse.router.decision"
ROUTER_REASON: Final = "tracehouse.router.reason"
LOOP_DETECTED: Final = "tracehouse.loop.detected"
CONTRACT_PREFIX: Final = "tracehouse.contract."
HANDOFF_SOURCE: Final = "tracehouse.handoff.source"
HANDOFF_TARGET: Final = "tracehouse.handoff.target"
HANDOFF_REASON: Final = "tracehouse.handoff.reason"
HANDOFF_PAYLOAD: Final = "tracehouse.handoff.payload"  # only with content capture on
HANDOFF_TOOL_PREFIX: Final = "transfer_to_"
INPUT_PREVIEW: Final = "tracehouse.input.preview"  # only with content capture on
OUTPUT_PREVIEW: Final = "tracehouse.output.preview"  # only with content capture on
USAGE_REASONING_TOKENS_ALIASES: Final = (
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "llm.token_count.completion_details.reasoning",
)

# --- OpenInference (Arize Phoenix) ------------------------------------------------------------------------------
OI_SPAN_KIND: Final = "openinference.span.kind"
OI_LLM_PROVIDER: Final = "llm.provider"
OI_LLM_SYSTEM: Final = "llm.system"
OI_LLM_MODEL_NAME: Final = "llm.model_name"
OI_LLM_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
OI_EMBEDDING_MODEL_NAME: Final = "embedding.model_name"
OI_TOKEN_PROMPT: Final = "llm.token_count.prompt"
OI_TOKEN_COMPLETION: Final = "llm.token_count.completion"
OI_TOKEN_TOTAL: Final = "llm.token_count.total"
OI_TOKEN_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
OI_TOKEN_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
OI_TOKEN_REASONING: Final = "llm.token_count.completion_details.reasoning"
OI_COST_TOTAL: Final = "llm.cost.total"
OI_AGENT_NAME: Final = "agent.name"
OI_GRAPH_NODE_ID: Final = "graph.node.id"
OI_GRAPH_NODE_NAME: Final = "graph.node.name"
OI_GRAPH_NODE_PARENT_ID: Final = "graph.node.parent_id"
OI_METADATA: Final = "metadata"  # JSON object; LangChain / LangGraph put `langgraph_node` in it
LANGGRAPH_NODE: Final = "langgraph_node"
TL_LANGGRAPH_NODE: Final = "traceloop.association.properties.langgraph_node"
GEN_AI_TASK_NAME: Final = "gen_ai.task.name"
GEN_AI_WORKFLOW_NODES: Final = "gen_ai.workflow.nodes"  # OpenLLMetry on a LangGraph graph's invoke_agent span
# AutoGen's runtime: one span per message processed, naming who sent it and who handles it
AUTOGEN_SENDER_TYPE: Final = "sender_agent_type"
AUTOGEN_SENDER_CLASS: Final = "sender_agent_class"
AUTOGEN_RECIPIENT_TYPE: Final = "recipient_agent_type"
AUTOGEN_RECIPIENT_CLASS: Final = "recipient_agent_class"
MESSAGING_OPERATION: Final = "messaging.operation"
OI_TOOL_NAME: Final = "tool.name"
OI_TOOL_CALL_FUNCTION_NAME: Final = "tool_call.function.name"
OI_TOOL_CALL_ID: Final = "tool_call.id"
OI_INPUT_VALUE: Final = "input.value"
OI_OUTPUT_VALUE: Final = "output.value"
OI_SESSION_ID: Final = "session.id"
OI_USER_ID: Final = "user.id"
OI_INPUT_MIME_TYPE: Final = "input.mime_type"
OI_OUTPUT_MIME_TYPE: Final = "output.mime_type"
OI_COST_PROMPT: Final = "llm.cost.prompt"
OI_COST_COMPLETION: Final = "llm.cost.completion"
# openinference-instrumentation-openai-agents names a hand-off TOOL span "handoff to {agent}"
OI_HANDOFF_SPAN_PREFIX: Final = "handoff to "

# --- OpenLLMetry (Traceloop) legacy -----------------------------------------------------------------------------
TL_REQUEST_TYPE: Final = "llm.request.type"
TL_SPAN_KIND: Final = "traceloop.span.kind"
TL_ENTITY_NAME: Final = "traceloop.entity.name"
TL_WORKFLOW_NAME: Final = "traceloop.workflow.name"
TL_TOTAL_TOKENS: Final = "llm.usage.total_tokens"
TL_ASSOCIATION_PREFIX: Final = "traceloop.association.properties."
TL_ENTITY_INPUT: Final = "traceloop.entity.input"
TL_ENTITY_OUTPUT: Final = "traceloop.entity.output"
TL_SESSION_ID: Final = "traceloop.association.properties.session_id"
TL_THREAD_ID: Final = "traceloop.association.properties.thread_id"
TL_CONVERSATION_ID: Final = "traceloop.association.properties.conversation_id"
TL_RESPONSE_FINISH_REASON: Final = "gen_ai.response.finish_reason"  # singular, OpenLLMetry
TL_CACHE_READ_INPUT_TOKENS: Final = "llm.usage.cache_read_input_tokens"
TL_INPUT_TOKENS_DETAILS_CACHED: Final = "gen_ai.usage.input_tokens_details.cached"
TL_PROMPT_PREFIX: Final = "gen_ai.prompt."  # gen_ai.prompt.{i}.role / .content
TL_COMPLETION_PREFIX: Final = "gen_ai.completion."  # gen_ai.completion.{i}.role / .content / .finish_reason
TL_HANDOFF_FROM_AGENT: Final = "gen_ai.handoff.from_agent"  # traceloop.span.kind=handoff (openai-agents)
TL_HANDOFF_TO_AGENT: Final = "gen_ai.handoff.to_agent"

# --- orchestrator facts (tracehouse.orchestrator) ---------------------------------------------------------------
MODEL_REQUESTED: Final = "tracehouse.model.requested"  # the role's model before a budget tier switch
RETRY_BUDGET_REMAINING: Final = "tracehouse.retry.budget.remaining"
BUDGET_LIMIT_KIND: Final = "tracehouse.budget.limit_kind"  # cost_usd, tokens, model_calls, steps, handoff_hops, ...
BUDGET_LIMIT: Final = "tracehouse.budget.limit"
BUDGET_OBSERVED: Final = "tracehouse.budget.observed"
BREAKER_NAME: Final = "tracehouse.breaker.name"
BREAKER_FROM_STATE: Final = "tracehouse.breaker.from_state"
LOOP_PATTERN: Final = "tracehouse.loop.pattern"  # action_observation, action_error, ping_pong, handoff_cycle, ...
CONTRACT_EDGE: Final = "tracehouse.contract.edge"
CONTRACT_VERSION: Final = "tracehouse.contract.version"
CONTRACT_VIOLATION: Final = "tracehouse.contract.violation"  # payload, obligations, success
ARBITER_WINNER: Final = "tracehouse.arbiter.winner"
RUN_STATUS: Final = "tracehouse.run.status"  # succeeded, failed, interrupted, budget_exceeded
RESUMED_FROM: Final = "tracehouse.run.resumed_from"  # last checkpoint id of the run being resumed
EFFECT_KEY: Final = "tracehouse.effect.key"
INTERRUPT_ID: Final = "tracehouse.interrupt.id"
# A step paused for a person: what it asks (`question` is content: recorded only when capture is on), the JSON schema
# an answer must fit, and whether it is still `pending` or was `answered` (the resumed step that consumed the answer).
# The run id is the span's trace id.
INTERRUPT_KIND: Final = "tracehouse.interrupt.kind"  # question, approval, effect_in_doubt, escalation
INTERRUPT_STATUS: Final = "tracehouse.interrupt.status"  # pending, answered
INTERRUPT_QUESTION: Final = "tracehouse.interrupt.question"
INTERRUPT_SCHEMA: Final = "tracehouse.interrupt.schema"
VALIDATION_VERDICT: Final = "tracehouse.validation.verdict"  # accepted, rejected (a supervisor's check)
VALIDATION_REASON: Final = "tracehouse.validation.reason"
STATE_MACHINE_STATE: Final = "tracehouse.state_machine.state"
COMPACTION_BEFORE_TOKENS: Final = "tracehouse.compaction.before_tokens"
COMPACTION_AFTER_TOKENS: Final = "tracehouse.compaction.after_tokens"
# span event names
EVENT_BREAKER_TRANSITION: Final = "tracehouse.breaker.transition"
EVENT_RUN_TERMINATED: Final = "tracehouse.run.terminated"
EVENT_COMPACTION: Final = "tracehouse.compaction"
EVENT_LOOP_DETECTED: Final = "tracehouse.loop.detected"
EVENT_CONTRACT_VIOLATION: Final = "tracehouse.contract.violation"
EVENT_ARBITER_BALLOT: Final = "tracehouse.arbiter.ballot"
EVENT_ESCALATION: Final = "tracehouse.escalation"
EVENT_TRANSITION: Final = "tracehouse.state_machine.transition"
EVENT_DEDUP_HIT: Final = "tracehouse.dedup.hit"
EVENT_OUTPUT_INVALID: Final = "tracehouse.output.invalid"  # a structured answer failed validation, fed back
EVENT_INTERRUPTED: Final = "tracehouse.interrupted"  # the step paused for a person (not an error)
EVENT_REDELEGATED: Final = "tracehouse.redelegated"  # a supervisor rejected a result and delegates again
