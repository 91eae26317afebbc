"""The tools a model asked for in its answer, from every convention's output, whether or not a span ran them.

GenAI puts them in `gen_ai.output.messages` as `tool_call` parts; OpenInference flattens them as
`llm.output_messages.{i}.message.tool_calls.{j}.tool_call.function.name|id` (and keeps the raw response in
`output.value`); OpenLLMetry flattens them as `gen_ai.completion.{i}.tool_calls.{j}.name|id`. A raw provider response
(chat completions `tool_calls`, Responses API `function_call` items, Bedrock Converse `toolUse` blocks in a
`gen_ai.choice` event) is read the same way.
"""

from __future__ import annotations

import re
from typing import Any

from tracehouse.domain.model import ToolCall

from ._table import Attrs
from ._values import maybe_json

_MAX_CALLS = 64
_MAX_DEPTH = 12
_FLATTENED = (
    ("llm.output_messages.{i}.message.tool_calls.{j}.", "tool_call.function.name", "tool_call.id"),
    ("gen_ai.completion.{i}.tool_calls.{j}.", "name", "id"),
)
_MARKERS = ('"tool_call"', '"function_call"', '"tool_calls"', '"toolUse"')
# OpenAI Agents' OTel contrib instrumentation writes the SDK's objects' Python repr into a text part.
_REPR = re.compile(r"FunctionToolCall\([^()]*?call_id='([^']*)'[^()]*?name='([^']*)'")


def requested_tool_calls(attrs: Attrs, raw_output: Any) -> list[ToolCall]:
    """The tool calls in one model call's output, in order (at most 64)."""
    for template, name_key, id_key in _FLATTENED:
        calls = _flattened(attrs, template, name_key, id_key)
        if calls:
            return calls
    if type(raw_output) is str:
        if "FunctionToolCall(" in raw_output:
            return [ToolCall(id=i, name=n) for i, n in _REPR.findall(raw_output)[:_MAX_CALLS]]
        if not any(marker in raw_output for marker in _MARKERS):
            return []
        raw_output = maybe_json(raw_output)
    out: list[ToolCall] = []
    _walk(raw_output, out, 0)
    return out


_FIRST_KEYS = {template: template.format(i=0, j=0) + name_key for template, name_key, _ in _FLATTENED}


def _flattened(attrs: Attrs, template: str, name_key: str, id_key: str) -> list[ToolCall]:
    if _FIRST_KEYS[template] not in attrs:
        return []
    calls: list[ToolCall] = []
    for i in range(_MAX_CALLS):
        base_i = template.format(i=i, j=0)
        if base_i + name_key not in attrs and i > 0:
            break
        for j in range(_MAX_CALLS - len(calls)):
            base = template.format(i=i, j=j)
            name = attrs.get(base + name_key)
            if name is None:
                break
            calls.append(ToolCall(id=str(attrs.get(base + id_key) or ""), name=str(name)))
    return calls


def _walk(obj: Any, out: list[ToolCall], depth: int) -> None:
    if depth > _MAX_DEPTH or len(out) >= _MAX_CALLS:
        return
    if isinstance(obj, dict):
        kind, name = obj.get("type"), obj.get("name")
        if kind in ("tool_call", "function_call") and isinstance(name, str):
            out.append(ToolCall(id=str(obj.get("id") or obj.get("call_id") or ""), name=name))
            return
        use = obj.get("toolUse")  # Bedrock Converse shape (Strands)
        if isinstance(use, dict) and isinstance(use.get("name"), str):
            out.append(ToolCall(id=str(use.get("toolUseId") or ""), name=use["name"]))
            return
        function = obj.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str) and "id" in obj:
            out.append(ToolCall(id=str(obj.get("id") or ""), name=function["name"]))
            return
        for value in obj.values():
            _walk(value, out, depth + 1)
    elif isinstance(obj, list):
        for value in obj:
            _walk(value, out, depth + 1)
