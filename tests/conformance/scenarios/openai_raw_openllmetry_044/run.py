"""Raw OpenAI client app under an older (0.4x) OpenLLMetry openai instrumentation; billing uses the Responses API."""

from _shared.raw_openai_app import run, tracer_provider
from opentelemetry.instrumentation.openai import OpenAIInstrumentor

provider = tracer_provider()
OpenAIInstrumentor().instrument(tracer_provider=provider)
run(provider)
