"""Real OpenTelemetry SDK tracer providers wired to a tracehouse server through the real OTLP exporters."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracehouse.sdk import semconv as sc


def provider_for(
    url: str, key: str, *, protocol: str = "http", grpc_port: int = 0, service: str = "travel-agents"
) -> TracerProvider:
    """A provider that exports each span as it ends (simple processor: deterministic for tests)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    headers = {"authorization": f"Bearer {key}"}
    if protocol == "grpc":
        exporter = GrpcExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, headers=headers)
    else:
        exporter = HttpExporter(endpoint=f"{url}/v1/traces", headers=headers)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def emit_multi_agent_trace(provider: TracerProvider) -> str:
    """workflow -> planner (chat) -> handoff -> researcher (chat + tool, one failing chat). Returns the trace id."""
    tracer = provider.get_tracer("test.multi_agent")
    with (
        tracer.start_as_current_span(
            "invoke_workflow trip",
            attributes={sc.GEN_AI_OPERATION_NAME: "invoke_workflow", sc.GEN_AI_AGENT_NAME: "trip"},
        ) as root,
        tracer.start_as_current_span(
            "invoke_agent planner",
            attributes={sc.GEN_AI_OPERATION_NAME: "invoke_agent", sc.GEN_AI_AGENT_NAME: "planner"},
        ),
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o-mini",
            kind=SpanKind.CLIENT,
            attributes={
                sc.GEN_AI_OPERATION_NAME: "chat",
                sc.GEN_AI_PROVIDER_NAME: "openai",
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
                sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: 200,
            },
        ):
            pass
        with (
            tracer.start_as_current_span(
                "execute_tool transfer_to_researcher",
                attributes={
                    sc.GEN_AI_OPERATION_NAME: "execute_tool",
                    sc.GEN_AI_TOOL_NAME: "transfer_to_researcher",
                    sc.HANDOFF_SOURCE: "planner",
                    sc.HANDOFF_TARGET: "researcher",
                    sc.HANDOFF_REASON: "needs flight data",
                },
            ),
            tracer.start_as_current_span(
                "invoke_agent researcher",
                attributes={sc.GEN_AI_OPERATION_NAME: "invoke_agent", sc.GEN_AI_AGENT_NAME: "researcher"},
            ),
        ):
            with tracer.start_as_current_span(
                "chat gpt-4o",
                kind=SpanKind.CLIENT,
                attributes={
                    sc.GEN_AI_OPERATION_NAME: "chat",
                    sc.GEN_AI_PROVIDER_NAME: "openai",
                    sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
                    sc.ERROR_TYPE: "RateLimitError",
                    sc.RETRY_ATTEMPT: 1,
                },
            ) as failed:
                failed.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
            with tracer.start_as_current_span(
                "chat gpt-4o",
                kind=SpanKind.CLIENT,
                attributes={
                    sc.GEN_AI_OPERATION_NAME: "chat",
                    sc.GEN_AI_PROVIDER_NAME: "openai",
                    sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
                    sc.GEN_AI_USAGE_INPUT_TOKENS: 3000,
                    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1000,
                    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
                    sc.RETRY_ATTEMPT: 2,
                },
            ):
                pass
            with tracer.start_as_current_span(
                "execute_tool search_flights",
                attributes={
                    sc.GEN_AI_OPERATION_NAME: "execute_tool",
                    sc.GEN_AI_TOOL_NAME: "search_flights",
                    sc.GEN_AI_TOOL_CALL_ID: "call_1",
                },
            ):
                pass
    return format(root.get_span_context().trace_id, "032x")
