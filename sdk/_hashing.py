"""Content hashes of step inputs: normalise to JSON values, serialise canonically (RFC 8785), then SHA-256.

Two steps with the same operation, name and input get the same `tracehouse.content.hash`, whatever process, argument
order or dict ordering produced them; that is what lets the evals find duplicate work.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import rfc8785

# Integers beyond ±2**53 are not exactly representable in JSON numbers; RFC 8785 refuses them, we spell them out.
_MAX_SAFE_INT = 2**53 - 1
_MAX_DEPTH = 32

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def normalise(obj: Any) -> JSONValue:
    """A deterministic JSON value for `obj` (no memory addresses, sets sorted, objects as their fields)."""
    return _norm(obj, 0, set())


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 canonical JSON of `normalise(obj)`."""
    return _jcs(normalise(obj))


def content_hash(obj: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of `obj`."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def step_hash(operation: str, name: str, normalised_input: JSONValue) -> str:
    """The `tracehouse.content.hash` of a step: `content_hash([operation, name, input])`."""
    return hashlib.sha256(_jcs([operation, name, normalised_input])).hexdigest()


# Without floats (RFC 8785 writes them as ECMAScript does, Python does not) and with ASCII keys (RFC 8785 orders keys
# by UTF-16 units, Python by code points), compact sorted-key JSON from the C encoder is byte-identical to RFC 8785:
# both escape exactly `"`, `\\` and U+0000-U+001F, with the same short forms and lower-case `\u00xx`. It is many
# times faster than the pure-Python `rfc8785`, and every span's input is hashed.
_FAST = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")).encode


def _jcs(value: JSONValue) -> bytes:
    """RFC 8785 bytes of a normalised value: the C encoder when that is exact (see `_FAST`), else `rfc8785`."""
    if _plain(value):
        try:
            return _FAST(value).encode()
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 raises its own error for it
            pass
    return rfc8785.dumps(value)


def _plain(value: JSONValue) -> bool:
    """No float anywhere, every key ASCII, only exact built-in types (subclasses take the exact path)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is dict:
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in value.items())  # type: ignore[union-attr]
    if kind is list:
        return all(_plain(v) for v in value)  # type: ignore[union-attr]
    return False


def _norm(obj: Any, depth: int, seen: set[int]) -> JSONValue:
    kind = type(obj)
    if kind is str or kind is bool or obj is None:
        return obj
    if (kind is dict or kind is list) and depth < _MAX_DEPTH:  # the common case, without the ABC checks below
        if id(obj) in seen:
            return "<cycle>"
        seen = seen | {id(obj)}
        if kind is dict:
            return {str(k): _norm(v, depth + 1, seen) for k, v in obj.items()}
        return [_norm(v, depth + 1, seen) for v in obj]
    if isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return obj if -_MAX_SAFE_INT <= obj <= _MAX_SAFE_INT else str(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if depth >= _MAX_DEPTH:
        return "<max depth>"
    if isinstance(obj, Mapping | list | tuple | set | frozenset) or hasattr(obj, "__dict__"):
        if id(obj) in seen:
            return "<cycle>"
        seen = seen | {id(obj)}
    return _norm_container(obj, depth + 1, seen)


def _norm_container(obj: Any, depth: int, seen: set[int]) -> JSONValue:
    if isinstance(obj, Mapping):
        return {str(k): _norm(v, depth, seen) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_norm(v, depth, seen) for v in obj]
    if isinstance(obj, set | frozenset):
        items = [_norm(v, depth, seen) for v in obj]
        return sorted(items, key=rfc8785.dumps)
    if isinstance(obj, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(obj)).hexdigest()
    if isinstance(obj, enum.Enum):
        return _norm(obj.value, depth, seen)
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID | Decimal | PurePath | complex):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _norm(getattr(obj, f.name), depth, seen) for f in dataclasses.fields(obj)}
    dump = getattr(obj, "model_dump", None)  # pydantic v2 models, and the OpenAI SDK's response types
    if callable(dump) and not isinstance(obj, type):
        return _norm(dump(), depth, seen)
    fields = getattr(obj, "__dict__", None)
    if isinstance(fields, dict) and not isinstance(obj, type):
        return {"$type": type(obj).__qualname__, **{k: _norm(v, depth, seen) for k, v in fields.items()}}
    # Functions, classes and opaque objects: their qualified name, never repr() with its memory address.
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"<{name}>"
