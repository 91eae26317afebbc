"""The shape of a convention table: which attribute says what kind of step a span is, and where each field lives.

A convention module (`genai`, `openinference`, `openllmetry`, `tracehouse`) is data: kind rows and field rows, plus an
optional `refine` hook for the few rules that are not a name lookup. A new spelling of an attribute is one more name
in a row. `field_names(decider)` merges every table into one lookup order per field, the deciding convention first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tracehouse.domain.model import Step, StepType

Attrs = dict[str, Any]  # attribute name -> Python value (str, int, float, bool, list, dict)


class Field(Enum):
    """A Step field that is filled from the first present attribute of its row."""

    AGENT = "agent"
    AGENT_ID = "agent_id"
    WORKFLOW = "workflow"
    PROVIDER = "provider"
    REQUEST_MODEL = "request_model"
    RESPONSE_MODEL = "response_model"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    CACHE_READ_TOKENS = "cache_read_tokens"
    CACHE_WRITE_TOKENS = "cache_write_tokens"
    REASONING_TOKENS = "reasoning_tokens"
    COST_USD = "cost_usd"
    FINISH_REASONS = "finish_reasons"
    TOOL_NAME = "tool_name"
    TOOL_CALL_ID = "tool_call_id"
    HANDOFF_SOURCE = "handoff_source"
    HANDOFF_TARGET = "handoff_target"
    CONVERSATION_ID = "conversation_id"
    RETRY_ATTEMPT = "retry_attempt"
    CONTENT_HASH = "content_hash"
    INPUT = "input"  # input content: preview and content hash
    OUTPUT = "output"  # output content: preview
    ERROR_TYPE = "error_type"


@dataclass(frozen=True, slots=True)
class KindRow:
    """One attribute that names a span's kind; `values` maps its lower-cased value to (step type, operation)."""

    attribute: str
    values: Mapping[str, tuple[StepType, str]]


Refine = Callable[[Attrs, Step], None]


@dataclass(frozen=True)
class Convention:
    """One instrumentation convention as data."""

    name: str
    kinds: tuple[KindRow, ...]
    fields: Mapping[Field, tuple[str, ...]]
    refine: Refine | None = None  # applied when this convention decided the step type
    speaks_kind: bool = True  # False for tables that only contribute fields (tracehouse.*)


def kind_of(conventions: tuple[Convention, ...], attrs: Attrs) -> tuple[Convention | None, StepType, str]:
    """The first convention whose kind attribute has a known value decides (semconv §3 rule 1)."""
    for conv in conventions:
        for row in conv.kinds:
            value = attrs.get(row.attribute)
            if value is None:
                continue
            hit = row.values.get(str(value).lower())
            if hit is not None:
                return conv, hit[0], hit[1]
    return None, StepType.OTHER, ""


def merge_fields(order: tuple[Convention, ...]) -> dict[Field, tuple[str, ...]]:
    """Per field, every table's names in `order`, duplicates removed (first occurrence wins)."""
    merged: dict[Field, tuple[str, ...]] = {}
    for fld in Field:
        names: list[str] = []
        for conv in order:
            for name in conv.fields.get(fld, ()):
                if name not in names:
                    names.append(name)
        if names:
            merged[fld] = tuple(names)
    return merged


FIELDS: tuple[Field, ...] = tuple(Field)


def field_index(merged: dict[Field, tuple[str, ...]]) -> dict[str, tuple[int, int]]:
    """Attribute name -> (position of its field in `FIELDS`, rank among that field's names; lower wins).

    Lets the normaliser walk a span's attributes once instead of probing every name of every row.
    """
    index: dict[str, tuple[int, int]] = {}
    for position, fld in enumerate(FIELDS):
        for rank, name in enumerate(merged.get(fld, ())):
            index.setdefault(name, (position, rank))
    return index


def pick_fields(attrs: Attrs, index: dict[str, tuple[int, int]]) -> list[Any]:
    """Per field (in `FIELDS` order) the value of its best-ranked present, non-empty attribute, else None."""
    values: list[Any] = [None] * len(FIELDS)
    ranks = [1 << 30] * len(FIELDS)
    get = index.get
    for name, value in attrs.items():
        hit = get(name)
        if hit is None or value is None or value == "":
            continue
        position, rank = hit
        if rank < ranks[position]:
            ranks[position] = rank
            values[position] = value
    return values
