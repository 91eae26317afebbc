"""One transcript from every convention's message content: what a step's model (or tool) was given and answered.

Conventions spell a conversation in many ways; this module reads them all into one shape, `Message`
(role, content parts, tool calls, the call a tool result answers), so the dashboard and the API show every step alike:

- OpenTelemetry GenAI, latest: `gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages`
  (JSON, on the span or in a `gen_ai.client.inference.operation.details` event), `gen_ai.tool.call.arguments|result`.
- GenAI <= 1.36: one event per message (`gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.assistant.message`,
  `gen_ai.tool.message`, `gen_ai.choice`), as span events or as log records (`messages_from_events`); <= 1.27:
  `gen_ai.content.prompt|completion` events, or `gen_ai.prompt|completion` JSON attributes.
- OpenInference: `llm.input_messages.{i}.message.*` / `llm.output_messages.{i}.message.*` (contents, tool calls),
  else `input.value` / `output.value`.
- OpenLLMetry: `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` (tool calls), else `traceloop.entity.input|output`.

Message content inside those comes in provider shapes too (GenAI parts, OpenAI chat, Anthropic and Bedrock
blocks, LangChain messages); tool results become their own `tool` message with the id of the call they answer.
Pure and bounded: at most `MAX_MESSAGES` per side and `MAX_PART_CHARS` per part; content that is not messages, or
not JSON, is kept as one raw part, never an error. Example::

    t = transcript(step)
    for m in t.input:
        print(m.role, m.content, [c.name for c in m.tool_calls], m.tool_call_id)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tracehouse.sdk import semconv as sc

from .model import Step

MAX_MESSAGES = 200  # per side; more are counted in `Transcript.omitted`
MAX_PART_CHARS = 20_000  # one part's text; longer is cut and the message marked `truncated`
MAX_TOOL_CALLS = 64  # per message
MAX_SOURCE_CHARS = 1_000_000  # a stored value longer than this is not parsed (shown raw, cut)
_MAX_DEPTH = 8  # nesting followed inside one message (blocks in blocks)
_MAX_INDEX = 10_000  # highest flattened message index read

# <= 1.36 message events: event name -> the role of its message
EVENT_ROLES: dict[str, str] = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = sc.GEN_AI_CHOICE_EVENT
_DETAILS_EVENT = sc.GEN_AI_OPERATION_DETAILS_EVENT
_OI_IN, _OI_OUT = "llm.input_messages.", "llm.output_messages."
_TL_IN, _TL_OUT = sc.TL_PROMPT_PREFIX, sc.TL_COMPLETION_PREFIX
_VALUE_KEYS_IN = (sc.OI_INPUT_VALUE, sc.TL_ENTITY_INPUT, sc.INPUT_PREVIEW)
_VALUE_KEYS_OUT = (sc.OI_OUTPUT_VALUE, sc.TL_ENTITY_OUTPUT, sc.OUTPUT_PREVIEW)
# Whole attributes that hold content (the attribute list leaves them to the transcript).
CONTENT_KEYS: frozenset[str] = frozenset(
    {
        sc.GEN_AI_SYSTEM_INSTRUCTIONS,
        sc.GEN_AI_INPUT_MESSAGES,
        sc.GEN_AI_OUTPUT_MESSAGES,
        sc.GEN_AI_PROMPT,
        sc.GEN_AI_COMPLETION,
        sc.GEN_AI_TOOL_CALL_ARGUMENTS,
        sc.GEN_AI_TOOL_CALL_RESULT,
        *_VALUE_KEYS_IN,
        *_VALUE_KEYS_OUT,
    }
)
CONTENT_PREFIXES: tuple[str, ...] = (_OI_IN, _OI_OUT, _TL_IN, _TL_OUT)
CONTENT_EVENTS: frozenset[str] = frozenset(
    {*EVENT_ROLES, CHOICE_EVENT, _DETAILS_EVENT, sc.GEN_AI_CONTENT_PROMPT_EVENT, sc.GEN_AI_CONTENT_COMPLETION_EVENT}
)
_ROLE_NAMES = {"human": "user", "ai": "assistant", "model": "assistant", "function": "tool"}
_LC_ROLES = {"SystemMessage": "system", "HumanMessage": "user", "AIMessage": "assistant", "ToolMessage": "tool"}
_MEDIA_TYPES = frozenset(
    {"blob", "uri", "file", "image", "image_url", "input_image", "audio", "input_audio", "video", "document"}
)


class PartKind(StrEnum):
    TEXT = "text"  # words: rendered as markdown, or as JSON when they are JSON
    REASONING = "reasoning"  # the model's own reasoning, shown folded
    MEDIA = "media"  # an image, audio, file...: a placeholder naming it, never loaded
    DATA = "data"  # a structured value (JSON text)
    RAW = "raw"  # content that could not be read as messages, as stored


@dataclass(slots=True, frozen=True)
class Part:
    kind: PartKind
    text: str


@dataclass(slots=True, frozen=True)
class MessageToolCall:
    """A tool call as the model wrote it; `arguments` is the JSON text it sent (objects are serialised)."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Message:
    role: str  # system / user / assistant / tool, or "" when the source names none
    parts: list[Part] = field(default_factory=list)
    tool_calls: list[MessageToolCall] = field(default_factory=list)
    tool_call_id: str = ""  # on a tool result: the call it answers
    finish_reason: str = ""
    truncated: bool = False  # a part was cut (here or by the collector's bounds)

    @property
    def content(self) -> str:
        """The text of every part, media as a `[placeholder]`."""
        return "\n\n".join(f"[{p.text}]" if p.kind is PartKind.MEDIA else p.text for p in self.parts)


@dataclass(slots=True)
class Transcript:
    """A step's conversation: `input` (what it was given) and `output` (what it answered)."""

    input: list[Message] = field(default_factory=list)
    output: list[Message] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)  # (where, raw value) of every content value seen
    omitted: int = 0  # messages beyond MAX_MESSAGES
    cut: bool = False  # some stored JSON ended early (the collector's size bound): its complete messages are shown

    @property
    def empty(self) -> bool:
        return not self.input and not self.output


def is_content_attribute(key: str) -> bool:
    """Whether an attribute holds message content (shown in the transcript, not in the attribute list)."""
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)


def transcript(step: Step) -> Transcript:
    """Every message the step carries, from whichever convention spoke (see the module docstring)."""
    out = Transcript()
    reader = _Reader(out)
    attrs = step.attributes
    events = [(e.name, e.attributes) for e in step.events if e.name in CONTENT_EVENTS]
    out.sources = [(k, v) for k, v in sorted(attrs.items()) if is_content_attribute(k)]
    out.sources += [(f"event {n}", _render({k: reader.load_maybe(v) for k, v in b.items()})) for n, b in events]
    out.input = _bounded(out, _first(reader.inputs(attrs, events, step)))
    out.output = _bounded(out, _first(reader.outputs(attrs, events, step)))
    if out.empty:  # no content attribute survived the collector's bounds: the stored previews are all there is
        out.input = [_raw_message("", step.input_preview)] if step.input_preview else []
        out.output = [_raw_message("", step.output_preview)] if step.output_preview else []
    return out


def messages_from_events(events: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[list[Message], list[Message]]:
    """(input, output) from <= 1.36 message events: span events' attributes (JSON text) or log records' bodies."""
    inp, outp = _Reader(Transcript()).events(list(events))
    return inp[:MAX_MESSAGES], outp[:MAX_MESSAGES]


def _first(candidates: Iterator[list[Message]]) -> list[Message]:
    """The first non-empty candidate (the ones after it are never computed)."""
    for messages in candidates:
        if messages:
            return messages
    return []


def _bounded(t: Transcript, messages: list[Message]) -> list[Message]:
    if len(messages) > MAX_MESSAGES:
        t.omitted += len(messages) - MAX_MESSAGES
        return messages[:MAX_MESSAGES]
    return messages


Events = Sequence[tuple[str, Mapping[str, Any]]]


class _Reader:
    """Reads one step's sources, best first; notes on the transcript when stored JSON was cut short."""

    def __init__(self, t: Transcript) -> None:
        self.t = t

    def inputs(self, attrs: Mapping[str, str], events: Events, step: Step) -> Iterator[list[Message]]:
        yield self.genai([attrs.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS)], [attrs.get(sc.GEN_AI_INPUT_MESSAGES)], "user")
        details = [b for n, b in events if n == _DETAILS_EVENT]
        system = _values(details, sc.GEN_AI_SYSTEM_INSTRUCTIONS)
        yield self.genai(system, _values(details, sc.GEN_AI_INPUT_MESSAGES), "user")
        yield self.flattened(attrs, _OI_IN, "message")
        yield self.flattened(attrs, _TL_IN, "")
        yield self.events(events)[0]
        for text in _values([b for n, b in events if n == sc.GEN_AI_CONTENT_PROMPT_EVENT], sc.GEN_AI_PROMPT):
            yield self.loose(text, "user")
        yield self.loose(attrs.get(sc.GEN_AI_PROMPT), "user")
        arguments = attrs.get(sc.GEN_AI_TOOL_CALL_ARGUMENTS)
        if arguments is not None:
            yield [Message("tool", tool_calls=[MessageToolCall(step.tool_call_id, step.tool_name, _cut(arguments)[0])])]
        for key in _VALUE_KEYS_IN:
            yield self.loose(attrs.get(key), "", requests=True)

    def outputs(self, attrs: Mapping[str, str], events: Events, step: Step) -> Iterator[list[Message]]:
        yield self.genai([], [attrs.get(sc.GEN_AI_OUTPUT_MESSAGES)], "assistant")
        details = [b for n, b in events if n == _DETAILS_EVENT]
        yield self.genai([], _values(details, sc.GEN_AI_OUTPUT_MESSAGES), "assistant")
        yield self.flattened(attrs, _OI_OUT, "message")
        yield self.flattened(attrs, _TL_OUT, "")
        yield self.events(events)[1]
        for text in _values([b for n, b in events if n == sc.GEN_AI_CONTENT_COMPLETION_EVENT], sc.GEN_AI_COMPLETION):
            yield self.loose(text, "assistant")
        yield self.loose(attrs.get(sc.GEN_AI_COMPLETION), "assistant")
        result = attrs.get(sc.GEN_AI_TOOL_CALL_RESULT)
        if result is not None:
            yield [_with_content(Message("tool", tool_call_id=step.tool_call_id), result)]
        for key in _VALUE_KEYS_OUT:
            yield self.loose(attrs.get(key), "", responses=True)

    def genai(self, system: Sequence[str | None], messages: Sequence[str | None], role: str) -> list[Message]:
        """GenAI: system instructions (a list of parts) first, then each JSON list of messages in turn; `role` for
        a message that names none."""
        out: list[Message] = []
        for text in system:
            if text:
                value = self.load(text)
                out.append(_with_content(Message("system"), text if value is None else value))
        for text in messages:
            if text:
                out += self.message_list(text, role)
        return out

    def message_list(self, source: str | list[Any], role: str) -> list[Message]:
        """A list of messages (JSON text or parsed), or one message; plain text is one message of `role`; anything
        else (JSON that is not messages, or broken) is one raw message."""
        value = self.load(source) if isinstance(source, str) else source
        if isinstance(source, str) and (isinstance(value, str) or (value is None and source.lstrip()[:1] not in "[{")):
            return [_with_content(Message(role), value if isinstance(value, str) else source)]
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
            return [_raw_message(role, source if isinstance(source, str) else _render(source))]
        out: list[Message] = []
        for m in self.first(value):
            out += _expand(m, role)
        return out

    def flattened(self, attrs: Mapping[str, str], prefix: str, inner: str) -> list[Message]:
        """`{prefix}{i}.{inner}.role|content|...` (OpenInference) or `{prefix}{i}.role|...` (OpenLLMetry)."""
        out: list[Message] = []
        for node in self.first(_seq(_unflatten(attrs, prefix))):
            m = node.get(inner) if inner and isinstance(node, dict) else node
            if isinstance(m, dict):
                out += _expand(_flat_message(m), "")
        return out

    def events(self, events: Events) -> tuple[list[Message], list[Message]]:
        """<= 1.36: one event per input message, one `gen_ai.choice` per answer."""
        inp: list[Message] = []
        outp: list[Message] = []
        for name, body in events[: 4 * MAX_MESSAGES]:
            if name in EVENT_ROLES:
                inp += self.event_message(EVENT_ROLES[name], body)
            elif name == CHOICE_EVENT:
                outp += self.choice(body)
        return inp, outp

    def event_message(self, role: str, body: Mapping[str, Any]) -> list[Message]:
        m = {k: self.load_maybe(v) for k, v in body.items()}
        if role == "tool" and "tool_call_id" not in m:
            m["tool_call_id"] = m.get("id")
        return _expand(m, role)

    def choice(self, body: Mapping[str, Any]) -> list[Message]:
        message = self.load_maybe(body.get("message"))
        m = dict(message) if isinstance(message, dict) else {"content": message}
        finish = body.get("finish_reason")
        if "id" in body and not finish and "role" not in m:  # Strands' tool span answers with its result
            m.update(role="tool", tool_call_id=body["id"])
        if isinstance(finish, str) and finish:
            m.setdefault("finish_reason", finish)
        return _expand(m, "assistant")

    def loose(self, text: str | None, role: str, *, requests: bool = False, responses: bool = False) -> list[Message]:
        """A value that may be messages, a request with messages, a response with choices, one message, or text."""
        if not text:
            return []
        value = self.load(text)
        if isinstance(value, list) and value and all(isinstance(m, dict) and _is_message(m) for m in value):
            return self.message_list(value, role)
        if isinstance(value, dict):
            inner = value.get("messages")
            if requests and isinstance(inner, list) and inner and (set(value) == {"messages"} or "model" in value):
                if isinstance(inner[0], list):  # LangChain: one list of messages per prompt
                    inner = inner[0]
                if all(isinstance(m, dict) for m in inner):
                    return self.message_list(inner, role)
            choices = value.get("choices")
            if responses and isinstance(choices, list) and all(isinstance(c, dict) for c in choices):
                return [m for c in self.first(choices) for m in self.choice(c)]
            if _is_message(value):
                return _expand(value, role)
        return [_with_content(Message(role), text if value is None or isinstance(value, str) else value)]

    def first(self, items: list[Any]) -> list[Any]:
        """The first MAX_MESSAGES source messages; the rest are counted as omitted."""
        if len(items) > MAX_MESSAGES:
            self.t.omitted += len(items) - MAX_MESSAGES
        return items[:MAX_MESSAGES]

    def load(self, text: str) -> Any:
        """Parsed JSON, or None when `text` is not JSON. A JSON list cut short keeps its complete elements."""
        if len(text) > MAX_SOURCE_CHARS or text.lstrip()[:1] not in ("[", "{", '"'):
            return None
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
        head = _complete_elements(text.lstrip())
        if head:
            self.t.cut = True
            return head
        return None

    def load_maybe(self, value: Any) -> Any:
        """A span event's string that holds a JSON object or list, parsed; any other value as it is."""
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            parsed = self.load(value)
            return value if parsed is None else parsed
        return value


# -- one message, whatever its shape --------------------------------------------------------------------------------


def _expand(m: Mapping[str, Any], default_role: str) -> list[Message]:
    """One source message as `Message`s: itself, then one `tool` message per tool result found in its content."""
    m = _canonical(m)
    msg = Message(_role(m.get("role")) or default_role)
    results: list[Message] = []
    _content_into(m["parts"] if "parts" in m else m.get("content"), msg, results, 0)
    for c in _as_list(m.get("tool_calls")):
        _add_call(msg, c)
    fc = m.get("function_call")
    if isinstance(fc, dict):
        _add_call(msg, fc)
    call_id = m.get("tool_call_id")
    if call_id not in (None, ""):
        msg.tool_call_id = _short(call_id)
    finish = m.get("finish_reason")
    if isinstance(finish, str):
        msg.finish_reason = finish[:64]
    if msg.parts or msg.tool_calls or msg.tool_call_id or not results:
        return [msg, *results]
    return results


def _canonical(m: Mapping[str, Any]) -> Mapping[str, Any]:
    """LangChain's serialised messages (`lc` constructors, `{type, data}` dicts) as plain role/content dicts."""
    kwargs = m.get("kwargs")
    if "lc" in m and isinstance(kwargs, dict):
        ids = m.get("id")
        role = _LC_ROLES.get(ids[-1], "") if isinstance(ids, list) and ids and isinstance(ids[-1], str) else ""
        return {**kwargs, "role": role or kwargs.get("type")}
    data = m.get("data")
    if isinstance(data, dict) and "role" not in m and m.get("type") in _TYPE_ROLES:
        return {**data, "role": m["type"]}
    if "role" not in m and m.get("type") in _TYPE_ROLES and "content" in m:
        return {**m, "role": m["type"]}
    return m


def _is_message(m: Mapping[str, Any]) -> bool:
    return "role" in m or "parts" in m or ("lc" in m and "kwargs" in m) or m.get("type") in _TYPE_ROLES


def _content_into(value: Any, msg: Message, results: list[Message], depth: int) -> None:
    """Content (text, a list of parts or blocks, one block) into `msg`'s parts and tool calls; tool results found in
    it become messages of their own in `results`."""
    if value is None or value == "":
        return
    if isinstance(value, str):
        blocks = _blocks(value)
        if blocks is None:
            _add_part(msg, PartKind.TEXT, value)
            return
        value = blocks
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        _add_part(msg, PartKind.TEXT, _render(value))
        return
    for item in value[:MAX_MESSAGES]:
        if isinstance(item, dict):
            _block(item, msg, results, depth)
        elif item is not None:
            _add_part(msg, PartKind.TEXT, item if isinstance(item, str) else _render(item))


def _block(b: Mapping[str, Any], msg: Message, results: list[Message], depth: int) -> None:
    """One part or block: GenAI parts, OpenAI / Anthropic / Bedrock blocks, OpenInference message contents."""
    kind = b.get("type")
    if kind in ("tool_call", "function_call", "tool_use") or isinstance(b.get("toolUse"), dict):
        _add_call(msg, b.get("toolUse") if isinstance(b.get("toolUse"), dict) else b)
    elif kind in ("tool_call_response", "tool_result", "function_call_output") or isinstance(b.get("toolResult"), dict):
        r = b["toolResult"] if isinstance(b.get("toolResult"), dict) else b
        call_id = r.get("id") or r.get("tool_use_id") or r.get("toolUseId") or r.get("call_id") or ""
        result = Message("tool", tool_call_id=_short(call_id))
        body = next((r[k] for k in ("response", "result", "content", "output") if k in r), None)
        if depth < _MAX_DEPTH:
            _content_into(
                body if isinstance(body, (str, list)) or body is None else _render(body), result, [], depth + 1
            )
        results.append(result)
    elif kind in ("reasoning", "thinking") or isinstance(b.get("reasoningContent"), dict):
        rc = b.get("reasoningContent")
        text = _first_str(b, "content", "thinking", "text") or (
            _first_str(rc.get("reasoningText") or {}, "text") if isinstance(rc, dict) else ""
        )
        _add_part(msg, PartKind.REASONING, text)
    elif isinstance(b.get("text"), str) and kind in (None, "text", "input_text", "output_text"):
        _add_part(msg, PartKind.TEXT, b["text"])
    elif kind == "text" and isinstance(b.get("content"), str):
        _add_part(msg, PartKind.TEXT, b["content"])
    elif kind in _MEDIA_TYPES or any(k in b for k in _MEDIA_KEYS):
        _add_part(msg, PartKind.MEDIA, _media_label(b))
    elif "json" in b and len(b) == 1:  # Bedrock tool result content
        _add_part(msg, PartKind.DATA, _render(b["json"]))
    else:
        _add_part(msg, PartKind.DATA, _render(b))


def _blocks(text: str) -> list[Any] | None:
    """Text that is a JSON list of content blocks (Bedrock, Anthropic, GenAI parts), parsed; else None."""
    if not text.startswith("[") or len(text) > MAX_SOURCE_CHARS:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if _is_blocks(value) else None


def _is_blocks(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(b, dict) and _BLOCK_KEYS & b.keys() for b in value)
    )


def _add_call(msg: Message, c: Any) -> None:
    """A tool call in any spelling: OpenAI `{id, function: {name, arguments}}`, GenAI / OpenLLMetry
    `{id, name, arguments}`, LangChain `{id, name, args}`, Anthropic / Bedrock `{id|toolUseId, name, input}`."""
    if not isinstance(c, dict) or len(msg.tool_calls) >= MAX_TOOL_CALLS:
        return
    fn: dict[str, Any] = c["function"] if isinstance(c.get("function"), dict) else c
    arguments = next((fn[k] for k in ("arguments", "args", "input") if k in fn), "")
    text = arguments if isinstance(arguments, str) else _render(arguments)
    call_id = c.get("id") or c.get("call_id") or c.get("toolUseId") or ""
    msg.tool_calls.append(MessageToolCall(_short(call_id), _short(fn.get("name") or ""), _cut(text)[0]))
    msg.truncated |= len(text) > MAX_PART_CHARS


def _add_part(msg: Message, kind: PartKind, text: str) -> None:
    if len(msg.parts) >= MAX_MESSAGES:
        msg.truncated = True
        return
    cut, was_cut = _cut(text)
    msg.parts.append(Part(kind, cut))
    msg.truncated |= was_cut


def _with_content(msg: Message, value: Any) -> Message:
    """`msg` holding `value`: text or content blocks as parts, any other structure as one data part."""
    if isinstance(value, dict) or (isinstance(value, list) and not _is_blocks(value)):
        _add_part(msg, PartKind.DATA, _render(value))
    else:
        _content_into(value, msg, [], 0)
    return msg


def _raw_message(role: str, text: str) -> Message:
    msg = Message(role)
    _add_part(msg, PartKind.RAW, text)
    return msg


def _media_label(b: Mapping[str, Any]) -> str:
    """What a media part is, never its data or URL: "image image/png", "audio", "file application/pdf"."""
    kind = str(b.get("modality") or b.get("type") or next((k for k in _MEDIA_KEYS if k in b), "media"))
    kind = _MEDIA_NAMES.get(kind, kind)[:40]
    source = b.get("source")
    inner = b.get(kind)
    detail = b.get("mime_type") or b.get("media_type") or b.get("format")
    if not detail and isinstance(source, dict):
        detail = source.get("media_type")
    if not detail and isinstance(inner, dict):
        detail = inner.get("format") or inner.get("mime_type")
    return f"{kind} {detail[:80]}" if isinstance(detail, str) and detail else kind


# -- flattened attributes -------------------------------------------------------------------------------------------


def _unflatten(attrs: Mapping[str, str], prefix: str) -> dict[Any, Any]:
    """`prefix` + dotted paths as nested dicts, numeric segments as int keys: {0: {"message": {"role": ...}}}."""
    tree: dict[Any, Any] = {}
    n = len(prefix)
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        path = [int(p) if p.isascii() and p.isdigit() and len(p) < 6 else p for p in key[n:].split(".")]
        if len(path) < 2 or not isinstance(path[0], int) or path[0] > _MAX_INDEX:
            continue
        node = tree
        for seg in path[:-1]:
            nxt = node.get(seg)
            if not isinstance(nxt, dict):
                nxt = node[seg] = {}
            node = nxt
        node[path[-1]] = value
    return tree


def _seq(node: Any) -> list[Any]:
    """A dict keyed by list positions (from `_unflatten`) as a list in position order."""
    if not isinstance(node, dict):
        return []
    return [node[k] for k in sorted(k for k in node if isinstance(k, int))]


def _flat_message(m: Mapping[Any, Any]) -> dict[str, Any]:
    """A flattened OpenInference or OpenLLMetry message as a plain one (OpenAI chat shape)."""
    out: dict[str, Any] = {k: m[k] for k in ("role", "content", "tool_call_id", "finish_reason") if k in m}
    contents = _seq(m.get("contents"))
    if contents:
        out["content"] = [c.get("message_content", c) for c in contents if isinstance(c, dict)]
    calls = [c.get("tool_call", c) for c in _seq(m.get("tool_calls")) if isinstance(c, dict)]
    if calls:
        out["tool_calls"] = calls
    if "function_call_name" in m:
        out["function_call"] = {"name": m["function_call_name"], "arguments": m.get("function_call_arguments_json", "")}
    elif isinstance(m.get("function_call"), dict):
        out["function_call"] = m["function_call"]
    return out


# -- small values ---------------------------------------------------------------------------------------------------

_TYPE_ROLES = frozenset({"system", "human", "ai", "tool", "user", "assistant"})
_MEDIA_NAMES = {"image_url": "image", "input_image": "image", "input_audio": "audio", "blob": "file", "uri": "file"}
_MEDIA_KEYS = ("image", "image_url", "input_audio", "audio", "document", "video")
_BLOCK_KEYS = frozenset(
    {"type", "text", "toolUse", "toolResult", "image", "document", "video", "json", "reasoningContent"}
)


def _complete_elements(text: str) -> list[Any]:
    """The complete elements at the start of a JSON list that was cut short."""
    if not text.startswith("["):
        return []
    decoder = json.JSONDecoder()
    out: list[Any] = []
    i, n = 1, len(text)
    while len(out) <= MAX_MESSAGES:
        while i < n and text[i] in " \t\r\n":
            i += 1
        try:
            value, i = decoder.raw_decode(text, i)
        except (ValueError, RecursionError):
            break
        out.append(value)
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n or text[i] != ",":
            break
        i += 1
    return out


def _values(bodies: Sequence[Mapping[str, Any]], key: str) -> list[str | None]:
    return [b[key] for b in bodies if isinstance(b.get(key), str)]


def _role(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    role = value.strip().lower()[:40]
    return _ROLE_NAMES.get(role, role)


def _first_str(d: Mapping[str, Any], *keys: str) -> str:
    return next((d[k] for k in keys if isinstance(d.get(k), str)), "")


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value) if len(value) <= MAX_SOURCE_CHARS else None
        except (ValueError, RecursionError):
            return []
    return value[:MAX_TOOL_CALLS] if isinstance(value, list) else []


def _short(value: Any) -> str:
    return str(value)[:200]


def _cut(text: str) -> tuple[str, bool]:
    return (text[:MAX_PART_CHARS], True) if len(text) > MAX_PART_CHARS else (text, False)


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return str(value)[:MAX_PART_CHARS]
