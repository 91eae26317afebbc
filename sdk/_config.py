"""`init`, `shutdown` and `force_flush`: where spans go (OTLP over HTTP or gRPC), settings from arguments and env.

Precedence for every setting: the argument, then the `TRACEHOUSE_*` variable, then the standard `OTEL_*` one, then
the default. If the application already installed an OpenTelemetry SDK tracer provider, `init` adds its processors to
that provider instead of replacing it; otherwise it creates one and makes it the global provider.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.util.re import parse_env_headers

from tracehouse._version import __version__

from ._content import DEFAULT_MAX_CHARS, ContentPolicy, make_policy
from ._processor import EnrichingExporter, TracehousePipeline
from ._state import HOLDER, TRACER_NAME, Runtime, env_flag, legacy_names_requested

_log = logging.getLogger("tracehouse.sdk")

DEFAULT_HTTP_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_GRPC_ENDPOINT = "http://127.0.0.1:4317"
SHUTDOWN_TIMEOUT_S = 3.0
_PROTOCOLS = {"http/protobuf": "http", "http": "http", "grpc": "grpc"}


_installed: TracehousePipeline | None = None
_provider_in_use: TracerProvider | None = None
_initialised = False
_atexit_registered = False


def init(
    endpoint: str | None = None,
    api_key: str | None = None,
    service_name: str | None = None,
    protocol: str | None = None,
    sample_ratio: float | None = None,
    capture_content: bool | None = None,
    content_max_chars: int | None = None,
    redactors: Sequence[Callable[[str], str]] = (),
    headers: Mapping[str, str] | None = None,
    tracer_provider: TracerProvider | None = None,
    *,
    exporter: SpanExporter | None = None,
    builtin_redaction: bool = True,
    disabled: bool | None = None,
) -> None:
    """Start sending spans to tracehouse (or any OTLP backend). Calling it again while initialised does nothing.

    `exporter` replaces the OTLP exporter (e.g. OpenTelemetry's InMemorySpanExporter in tests); `disabled=True` (or
    TRACEHOUSE_DISABLED=1) makes every step a no-op.
    """
    global _installed, _atexit_registered, _initialised, _provider_in_use
    with HOLDER.lock:
        if _initialised:
            _log.debug("tracehouse: init() called again; keeping the first configuration")
            return
        off = disabled if disabled is not None else bool(env_flag("TRACEHOUSE_DISABLED"))
        policy = _policy(capture_content, content_max_chars, redactors, builtin_redaction)
        if sample_ratio is not None and (
            isinstance(sample_ratio, bool) or not isinstance(sample_ratio, int | float) or not 0 <= sample_ratio <= 1
        ):
            raise ValueError(f"sample_ratio must be a number between 0 and 1, got {sample_ratio!r}")
        if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
            raise TypeError("tracer_provider must be an opentelemetry.sdk.trace.TracerProvider")
        if off:
            HOLDER.disabled = True
            HOLDER.runtime = None
            _initialised = True
            return
        span_exporter = exporter if exporter is not None else _otlp_exporter(endpoint, api_key, protocol, headers)
        provider = tracer_provider or _provider(service_name, sample_ratio)
        enriching = EnrichingExporter(span_exporter, policy)
        _installed = TracehousePipeline(enriching, BatchSpanProcessor(enriching))
        provider.add_span_processor(_installed)
        _provider_in_use = provider
        HOLDER.disabled = False
        _initialised = True
        HOLDER.runtime = Runtime(provider.get_tracer(TRACER_NAME, __version__), policy, legacy_names_requested())
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True


def _policy(
    capture: bool | None, max_chars: int | None, redactors: Sequence[Callable[[str], str]], builtin: bool
) -> ContentPolicy:
    if capture is None:
        capture = env_flag("TRACEHOUSE_CAPTURE_CONTENT")
    if capture is None:  # the instrumentations' own switch (true / span_only / span_and_event / event_only)
        raw = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().lower()
        capture = raw not in ("", "false", "0", "no_content", "no")
    if max_chars is None:
        raw_max = os.environ.get("TRACEHOUSE_CONTENT_MAX_CHARS", "").strip()
        try:
            max_chars = int(raw_max) if raw_max else DEFAULT_MAX_CHARS
        except ValueError:
            raise ValueError(f"TRACEHOUSE_CONTENT_MAX_CHARS must be an int, got {raw_max!r}") from None
    return make_policy(bool(capture), max_chars, redactors, builtin)


def _provider(service_name: str | None, sample_ratio: float | None) -> TracerProvider:
    """The global SDK provider if the application has one, else a new one made global."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if sample_ratio is not None:
            _log.warning("tracehouse: sample_ratio ignored: the existing tracer provider keeps its own sampler")
        return current
    name = service_name or os.environ.get("TRACEHOUSE_SERVICE_NAME")
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; an explicit name wins over both.
    resource = Resource.create({SERVICE_NAME: name} if name else {})
    sampler = ParentBased(TraceIdRatioBased(sample_ratio)) if sample_ratio is not None else None
    provider = TracerProvider(resource=resource, sampler=sampler)
    trace.set_tracer_provider(provider)
    return provider


def _otlp_exporter(
    endpoint: str | None, api_key: str | None, protocol: str | None, headers: Mapping[str, str] | None
) -> SpanExporter:
    raw_protocol = (
        protocol
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    kind = _PROTOCOLS.get(raw_protocol.strip().lower())
    if kind is None:
        raise ValueError(f"protocol must be 'http/protobuf' or 'grpc', got {raw_protocol!r}")
    if endpoint is not None and not isinstance(endpoint, str):
        raise TypeError(f"endpoint must be a URL string, got {type(endpoint).__name__}")
    all_headers = _headers(api_key, headers, grpc=kind == "grpc")
    if kind == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=_grpc_endpoint(endpoint), headers=all_headers)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=_http_endpoint(endpoint), headers=all_headers)


def _http_endpoint(endpoint: str | None) -> str:
    explicit = endpoint or os.environ.get("TRACEHOUSE_ENDPOINT")
    if not explicit:
        full = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if full:
            return full
        explicit = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_HTTP_ENDPOINT
    base = explicit.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def _grpc_endpoint(endpoint: str | None) -> str:
    return (
        endpoint
        or os.environ.get("TRACEHOUSE_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or DEFAULT_GRPC_ENDPOINT
    )


def _headers(api_key: str | None, headers: Mapping[str, str] | None, grpc: bool) -> dict[str, str]:
    env = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS") or ""
    merged = dict(parse_env_headers(env, liberal=True))
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise TypeError("headers must be a mapping of header name to value")
        merged.update({str(k): str(v) for k, v in headers.items()})
    key = api_key if api_key is not None else os.environ.get("TRACEHOUSE_API_KEY")
    if key:
        merged["authorization"] = f"Bearer {key}"
    # gRPC metadata keys must be lower-case; HTTP header names are case-insensitive anyway.
    return {k.lower(): v for k, v in merged.items()} if grpc else merged


def _in_thread(fn: Callable[[], object], timeout_s: float) -> bool:
    """Run `fn` on a daemon thread; False if it did not finish in time (the caller is never held longer)."""
    done = threading.Event()

    def run() -> None:
        try:
            fn()
        finally:
            done.set()

    threading.Thread(target=run, name="tracehouse-flush", daemon=True).start()
    return done.wait(timeout_s)


def active_provider() -> TracerProvider | None:
    """The provider `init` configured (None before `init`, after `shutdown`, or when disabled)."""
    return _provider_in_use if _installed is not None else None


def force_flush(timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
    """Export what is queued; True if that finished within `timeout_s`."""
    pipeline = _installed
    if pipeline is None:
        return True
    return _in_thread(pipeline.force_flush, timeout_s)


def shutdown(timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
    """Flush and stop what `init` added (the provider itself is left to its owner); `init` may be called again.

    Returns within about `timeout_s` even when the endpoint is unreachable.
    """
    global _installed, _initialised
    with HOLDER.lock:
        pipeline, _installed, _initialised = _installed, None, False
        HOLDER.runtime = None
        HOLDER.disabled = bool(env_flag("TRACEHOUSE_DISABLED"))
    if pipeline is None or not pipeline.retire():
        return
    if not _in_thread(pipeline.shutdown, timeout_s):
        # Still retrying an unreachable endpoint: stopping the exporter interrupts its back-off.
        pipeline.exporter.shutdown()
