"""Value plumbing for the normaliser: OTLP AnyValue to Python and to bounded strings, numbers, finish reasons."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# One vocabulary for finish reasons across providers and libraries; the raw values stay in the attributes.
FINISH_REASONS: dict[str, str] = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "end": "stop",
    "eos": "stop",
    "complete": "stop",
    "completed": "stop",
    "finish_reason_stop": "stop",
    "length": "length",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "model_length": "length",
    "token_limit": "length",
    "tool_calls": "tool_calls",
    "tool_call": "tool_calls",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "tool-calls": "tool_calls",
    "content_filter": "content_filter",
    "content-filter": "content_filter",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "refusal": "content_filter",
    "guardrail_intervened": "content_filter",
    "error": "error",
    "malformed_function_call": "error",
}


def to_python(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value (bytes become base64 text)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [to_python(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: to_python(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def render(value: Any) -> str:
    """A Python attribute value as the string stored in a `dict[str, str]` map (non-strings as JSON)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    return _RENDER(value)


_RENDER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # json.dumps builds one per call


def convert_attributes(
    kvs: Sequence[KeyValue], max_attributes: int, max_chars: int
) -> tuple[dict[str, Any], dict[str, str], int]:
    """(every attribute as Python, the bounded string map to store, how many attributes the bounds cut).

    The Python dict is complete (the normaliser reads every field from it); the string map keeps the first
    `max_attributes` keys as sent, each cut to `max_chars`. A dropped key and a shortened value each count one.
    """
    raw: dict[str, Any] = {}
    out: dict[str, str] = {}
    cut = 0
    bounded = len(kvs) > max_attributes
    for kv in kvs:
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            py: Any = value.string_value
            text = py
        elif which == "int_value":
            py = value.int_value
            text = str(py)
        else:
            py = to_python(value)
            text = render(py)
        key = kv.key
        raw[key] = py
        if bounded and key not in out and len(out) >= max_attributes:
            cut += 1
            continue
        if len(text) > max_chars:
            text = text[:max_chars]
            cut += 1
        out[key] = text
    return raw, out, cut


def as_int(value: Any, maximum: int = 2**32 - 1) -> int | None:
    """A token count or attempt number: non-negative int from int, float or digit string, at most `maximum`; else
    None. `_validate.span_problem` refuses spans whose values exceed their column first; the bound here is the
    last guard, so one value can never make a batch unencodable."""
    kind = type(value)
    if kind is int:
        number = value
    elif kind is float:
        number = int(value) if math.isfinite(value) else -1
    elif kind is str and value.isdigit():
        number = int(value)
    else:
        return None
    return number if 0 <= number <= maximum else None


def as_float(value: Any) -> float | None:
    """A cost in USD from a finite number or numeric string; else None."""
    kind = type(value)
    if kind is float or kind is int:
        number = float(value) if kind is float or abs(value) < 2**1000 else math.inf
    elif kind is str:
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_str(value: Any) -> str:
    """A name-like attribute as a string ("" for absent)."""
    if value is None:
        return ""
    return value if type(value) is str else render(value)


def finish_reasons(value: Any) -> list[str]:
    """Raw finish reason(s) (list, JSON list text or one string) in the one vocabulary; unknown ones skipped."""
    if type(value) is str:
        if value.startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                value = [value]
        else:
            value = [value]
    if not isinstance(value, list):
        return []
    out: list[str] = []
    for item in value:
        mapped = FINISH_REASONS.get(str(item).lower())
        if mapped is not None and mapped not in out:
            out.append(mapped)
    return out


def maybe_json(text: str) -> Any:
    """Parsed JSON when `text` is a JSON object or array, else `text` itself."""
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text
