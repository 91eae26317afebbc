"""OTLP receivers: decode a protocol, authenticate, apply limits, spool — nothing else."""
