"""The normaliser's inputs and outputs besides the OTLP request: the bounds on one span and the batch result."""

from __future__ import annotations

from dataclasses import dataclass, field

from tracehouse.domain.model import Step


@dataclass(frozen=True)
class Limits:
    """Bounds on what one span may store; whatever they cut is counted in `NormaliseResult`."""

    max_attributes: int = 128  # per span, per resource, per event: keys beyond are dropped (first ones kept)
    max_attribute_chars: int = 4096  # a longer attribute value is cut to this many characters
    max_preview_chars: int = 2048  # input / output previews
    max_events: int = 64  # per span; also bounds the links


DEFAULT_LIMITS = Limits()


@dataclass
class NormaliseResult:
    """Steps made from the valid spans of one request, and what was refused or cut on the way."""

    steps: list[Step] = field(default_factory=list)
    rejected_spans: int = 0
    error_message: str = ""  # the first reason(s) a span was refused, for OTLP partial_success
    dropped_attributes: int = 0  # attributes dropped or shortened by the bounds (span, resource and event ones)
    dropped_events: int = 0  # events and links beyond `max_events`
