"""Tools a model can choose: a Python function becomes a JSON-schema'd tool from its signature and docstring.

Pydantic builds the argument model (types, defaults, per-argument descriptions from a Google-style `Args:` section),
so the schema the model sees and the validation of the arguments it sends are the same thing. A tool call the model
makes still runs through the run's choke point (budget, breaker, retries, dedup, effect journal): the `Tool` only
says how. Parameters named `effect_key` (injected for side effects) are not shown to the model.

>>> @tool
... def get_weather(city: str, unit: str = "C") -> str:
...     '''Current weather in a city.
...
...     Args:
...         city: City name, e.g. "Brest".
...         unit: C or F.
...     '''
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .errors import GraphConfigError, OutputInvalid
from .retry import RetryPolicy

HIDDEN_PARAMS = frozenset({"effect_key"})
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


@dataclass(frozen=True, eq=False)
class Tool:
    """A function the model may call. `side_effect`/`idempotent` drive the effect journal and retries;
    `needs_approval` pauses the run for a person before each call; `dedup` reuses identical earlier calls; `polling`
    tells the loop guard that the same answer again is expected."""

    name: str
    description: str
    fn: Callable[..., Any]
    args_model: type[BaseModel]
    side_effect: bool = False
    idempotent: bool = True
    needs_approval: bool = False
    dedup: bool = False
    retry: RetryPolicy | None = None
    polling: bool = False
    schema: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        params = self.args_model.model_json_schema()
        params.pop("title", None)
        object.__setattr__(
            self,
            "schema",
            {
                "type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": params},
            },
        )

    def parse(self, arguments: str | Mapping[str, Any]) -> dict[str, Any]:
        """The model's arguments, validated into keyword arguments (ToolArgumentsInvalid says what was wrong)."""
        try:
            raw = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
            if not isinstance(raw, dict):
                raise ToolArgumentsInvalid(self.name, f"arguments must be a JSON object, got {type(raw).__name__}")
            return self.args_model.model_validate(raw).model_dump()
        except json.JSONDecodeError as exc:
            raise ToolArgumentsInvalid(self.name, f"arguments are not JSON: {exc}") from None
        except ValidationError as exc:
            raise ToolArgumentsInvalid(self.name, _errors(exc)) from None


class ToolArgumentsInvalid(ValueError):
    """The model called a tool with arguments that do not fit its schema (fed back to the model, not raised)."""

    def __init__(self, tool: str, detail: str) -> None:
        self.tool = tool
        self.detail = detail
        super().__init__(f"tool {tool}: invalid arguments: {detail}")


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    side_effect: bool = False,
    idempotent: bool = True,
    needs_approval: bool = False,
    dedup: bool = False,
    retry: RetryPolicy | None = None,
    polling: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    side_effect: bool = False,
    idempotent: bool = True,
    needs_approval: bool = False,
    dedup: bool = False,
    retry: RetryPolicy | None = None,
    polling: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """`@tool` or `@tool(side_effect=True, needs_approval=True)` on a function with typed parameters."""

    def build(f: Callable[..., Any]) -> Tool:
        summary, arg_docs = _parse_doc(inspect.getdoc(f) or "")
        tool_name = name or f.__name__
        return Tool(
            tool_name,
            summary or tool_name,
            f,
            args_model(f, arg_docs),
            side_effect,
            idempotent,
            needs_approval,
            dedup,
            retry,
            polling,
        )

    return build(fn) if fn is not None else build


def args_model(fn: Callable[..., Any], docs: Mapping[str, str] | None = None) -> type[BaseModel]:
    """A Pydantic model of `fn`'s parameters (every one needs a type hint: the model is shown the types)."""
    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name in HIDDEN_PARAMS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in hints:
            raise GraphConfigError(f"tool {fn.__name__}: parameter {p.name!r} needs a type hint")
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints[p.name], Field(default, description=(docs or {}).get(p.name)))
    return create_model(f"{fn.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields)


def _parse_doc(doc: str) -> tuple[str, dict[str, str]]:
    """(summary paragraph, {argument: description}) from a Google-style docstring."""
    summary = doc.split("\n\n", 1)[0].strip().replace("\n", " ")
    args: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            if line.strip() and not line.startswith((" ", "\t")):
                break
            found = _ARG_LINE.match(line)
            if found:
                args[found.group(1)] = found.group(2).strip()
    return summary, args


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors())


def output_format(output_type: type[BaseModel]) -> dict[str, Any]:
    """The `response_format` asking for JSON matching `output_type`."""
    return {
        "type": "json_schema",
        "json_schema": {"name": output_type.__name__, "schema": output_type.model_json_schema()},
    }


def parse_output(output_type: type[BaseModel], text: str) -> BaseModel:
    """`text` validated as `output_type`; OutputInvalid carries the errors to feed back to the model."""
    try:
        return output_type.model_validate_json(_strip_fence(text))
    except ValidationError as exc:
        raise OutputInvalid(output_type.__name__, _errors(exc)) from None


def _strip_fence(text: str) -> str:
    """Models often wrap JSON in a ``` fence even when asked not to."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped
