"""Strands Agents, native telemetry with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental (see script.py)."""

from _shared.strands_app import run

run()
