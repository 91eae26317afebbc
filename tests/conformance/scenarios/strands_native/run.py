"""Strands Agents, native telemetry in its default semantic-convention mode."""

from _shared.strands_app import run

run()
