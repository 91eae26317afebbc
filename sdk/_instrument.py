"""Turning on the maintained OpenTelemetry GenAI instrumentations that are installed (we never re-implement them).

Each known library maps to the instrumentation package that covers it; `instrument()` enables those whose package is
importable, on tracehouse's tracer provider, configured for the latest GenAI conventions and, when tracehouse content
capture is on, for span content (which `EnrichingExporter` then redacts and truncates before export).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import TracerProvider

from ._config import active_provider
from ._state import HOLDER, runtime

_log = logging.getLogger("tracehouse.sdk")

_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
_LATEST = "gen_ai_latest_experimental"
_CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass(frozen=True, slots=True)
class _Known:
    module: str  # the instrumentation's import name
    classes: tuple[str, ...]  # its instrumentor class (spellings differ between releases)
    package: str  # what to pip install


KNOWN: dict[str, _Known] = {
    "openai": _Known(
        "opentelemetry.instrumentation.openai_v2", ("OpenAIInstrumentor",), "opentelemetry-instrumentation-openai-v2"
    ),
    "anthropic": _Known(
        "opentelemetry.instrumentation.anthropic", ("AnthropicInstrumentor",), "opentelemetry-instrumentation-anthropic"
    ),
    "langchain": _Known(
        "opentelemetry.instrumentation.langchain",
        ("LangChainInstrumentor", "LangchainInstrumentor"),
        "opentelemetry-instrumentation-langchain",
    ),
    "openai_agents": _Known(
        "opentelemetry.instrumentation.openai_agents",
        ("OpenAIAgentsInstrumentor",),
        "opentelemetry-instrumentation-openai-agents-v2",
    ),
    "google_genai": _Known(
        "opentelemetry.instrumentation.google_genai",
        ("GoogleGenAiSdkInstrumentor",),
        "opentelemetry-instrumentation-google-genai",
    ),
    "vertexai": _Known(
        "opentelemetry.instrumentation.vertexai", ("VertexAIInstrumentor",), "opentelemetry-instrumentation-vertexai"
    ),
}
_ALIASES = {"langgraph": "langchain", "openai-agents": "openai_agents", "google-genai": "google_genai"}


def _resolve(libraries: tuple[str, ...]) -> list[str]:
    if not libraries:
        return list(KNOWN)
    names = []
    for lib in libraries:
        if not isinstance(lib, str):
            raise TypeError(f"instrument() takes library names as str, got {type(lib).__name__}")
        name = _ALIASES.get(lib.lower(), lib.lower())
        if name not in KNOWN:
            raise ValueError(f"instrument(): unknown library {lib!r}; known: {', '.join(sorted(KNOWN))}")
        names.append(name)
    return names


def _configure_env(capture_content: bool) -> None:
    # Instrumentations read these when they are enabled; a value the user set is left alone.
    opt_in = [p.strip() for p in os.environ.get(_OPT_IN, "").split(",") if p.strip()]
    if _LATEST not in opt_in:
        os.environ[_OPT_IN] = ",".join([*opt_in, _LATEST])
    if capture_content and not os.environ.get(_CAPTURE):
        os.environ[_CAPTURE] = "span_only"


def _instrumentor(known: _Known) -> Any | None:
    if importlib.util.find_spec(known.module) is None:
        return None
    module = importlib.import_module(known.module)
    for cls_name in known.classes:
        cls = getattr(module, cls_name, None)
        if cls is not None:
            return cls()
    return None


def instrument_libraries(
    libraries: tuple[str, ...], tracer_provider: TracerProvider | None, capture_content: bool
) -> list[str]:
    """Enable the instrumentations for `libraries` (all known when empty); the names that are now on."""
    names = _resolve(libraries)
    _configure_env(capture_content)
    enabled = []
    for name in names:
        known = KNOWN[name]
        try:
            instrumentor = _instrumentor(known)
            if instrumentor is None:
                if libraries:
                    _log.warning("tracehouse: %s is not instrumented: pip install %s", name, known.package)
                continue
            if not instrumentor.is_instrumented_by_opentelemetry:
                kwargs = {"tracer_provider": tracer_provider} if tracer_provider is not None else {}
                instrumentor.instrument(**kwargs)
        except Exception:  # a broken third-party instrumentation must not stop the application
            _log.warning("tracehouse: could not instrument %s", name, exc_info=True)
            continue
        if instrumentor.is_instrumented_by_opentelemetry:
            enabled.append(name)
    return enabled


def uninstrument_libraries(libraries: tuple[str, ...]) -> list[str]:
    """Disable instrumentations `instrument` enabled; the names that were turned off."""
    disabled = []
    for name in _resolve(libraries):
        instrumentor = _instrumentor(KNOWN[name])
        if instrumentor is not None and instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
            disabled.append(name)
    return disabled


def instrument(*libraries: str) -> list[str]:
    """Turn on the installed GenAI instrumentations (all known when no names are given); returns those now on.

    Known: openai, anthropic, langchain (also langgraph), openai_agents, google_genai, vertexai. Call it after
    `init` so the instrumentations use tracehouse's provider and content setting; with tracing disabled it does
    nothing and returns [].
    """
    rt = runtime()
    if rt is None and HOLDER.disabled:
        _resolve(libraries)  # still reject unknown names
        return []
    return instrument_libraries(libraries, active_provider(), capture_content=rt is not None and rt.policy.capture)


def uninstrument(*libraries: str) -> list[str]:
    """Turn off instrumentations that `instrument` turned on (all known when no names are given)."""
    return uninstrument_libraries(libraries)
