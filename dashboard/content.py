"""How a step's messages are shown: a chat view of `tracehouse.domain.messages.Transcript`, with markdown rendered by
markdown-it-py and sanitised by nh3 (raw HTML in a message is text, links are inert beyond http(s)/mailto, images and
styles never load, so the strict CSP holds), JSON pretty-printed, tool results linked to the calls they answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from tracehouse.domain.messages import Message, PartKind, Transcript

MARKDOWN_PART_CHARS = 10_000  # a longer text shows as plain text: rendering costs up to ~50 µs a character
MARKDOWN_BUDGET_CHARS = 30_000  # per step panel, so a hostile span costs at most ~1.5 s of rendering
LONG_CHARS = 1_200  # a message longer than this (or LONG_LINES lines) starts collapsed
LONG_LINES = 18
KNOWN_ROLES = frozenset({"system", "user", "assistant", "tool"})

# html=False: HTML in a message is escaped by the renderer itself; nh3 then allows only what markdown produces.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.enable(["table", "strikethrough"])
_md.disable("image")  # `![x](url)` stays a link: no image is fetched from a message
_TAG_NAMES = "p br hr h1 h2 h3 h4 h5 h6 strong em del s code pre blockquote ul ol li a table thead tbody tr th td"
_TAGS = set(_TAG_NAMES.split())
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def markdown(text: str) -> Markup:
    """Markdown as sanitised HTML."""
    html = _md.render(text)
    return Markup(
        nh3.clean(
            html,
            tags=_TAGS,
            attributes=_ATTRIBUTES,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
    )


def pretty_json(text: str) -> str | None:
    """A JSON object or list, indented; None for anything else."""
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):
        return None
    try:
        return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


@dataclass
class PartView:
    kind: str  # markdown / json / text / media / reasoning
    text: str = ""  # json, text and media: shown as text (autoescaped)
    html: Markup = field(default_factory=Markup)  # markdown and reasoning: sanitised


@dataclass
class CallView:
    id: str
    name: str
    arguments: str  # indented when it is JSON
    anchor: str  # DOM id of this call
    result_anchor: str = ""  # the tool message answering it, in this transcript
    ran_by: str = ""  # span id of the step that ran it, in this trace


@dataclass
class MessageView:
    role: str
    role_class: str  # a CSS class: one of KNOWN_ROLES or "other"
    anchor: str
    parts: list[PartView]
    tool_calls: list[CallView]
    tool_call_id: str = ""
    call_anchor: str = ""  # the call this tool result answers, in this transcript
    call_name: str = ""
    finish_reason: str = ""
    truncated: bool = False
    long: bool = False
    chars: int = 0


@dataclass
class ChatView:
    input: list[MessageView]
    output: list[MessageView]
    sources: list[tuple[str, str]]  # (where, value indented when JSON) for the raw view
    omitted: int
    cut: bool

    @property
    def empty(self) -> bool:
        return not self.input and not self.output


def chat_view(t: Transcript, span_id: str, ran_by: dict[str, str]) -> ChatView:
    """The chat view of one step's transcript; `ran_by` maps a tool call id to the step (span id) that ran it."""
    calls: dict[str, CallView] = {}
    n = 0
    budget = [MARKDOWN_BUDGET_CHARS]

    def side(messages: list[Message], tag: str) -> list[MessageView]:
        nonlocal n
        out: list[MessageView] = []
        for i, m in enumerate(messages):
            view = _message(m, f"m-{span_id}-{tag}{i}", budget)
            for c in m.tool_calls:
                n += 1
                cv = CallView(c.id, c.name, pretty_json(c.arguments) or c.arguments, f"c-{span_id}-{n}")
                cv.ran_by = ran_by.get(c.id, "") if c.id else ""
                view.tool_calls.append(cv)
                if c.id:
                    calls.setdefault(c.id, cv)
            call = calls.get(m.tool_call_id) if m.tool_call_id else None
            if call is not None and not call.result_anchor:
                call.result_anchor = view.anchor
                view.call_anchor, view.call_name = call.anchor, call.name
            out.append(view)
        return out

    inp = side(t.input, "i")
    outp = side(t.output, "o")
    sources = [(where, pretty_json(value) or value) for where, value in t.sources]
    return ChatView(inp, outp, sources, t.omitted, t.cut)


def _message(m: Message, anchor: str, budget: list[int]) -> MessageView:
    role_class = m.role if m.role in KNOWN_ROLES else "other"
    parts = [_part(p.kind, p.text, budget) for p in m.parts]
    chars = sum(len(p.text) for p in m.parts) + sum(len(c.arguments) for c in m.tool_calls)
    shown = [v.text if v.text else p.text for v, p in zip(parts, m.parts, strict=True)]
    lines = sum(t.count("\n") + 1 for t in shown) + sum(c.arguments.count("\n") + 3 for c in m.tool_calls)
    return MessageView(
        role=m.role,
        role_class=role_class,
        anchor=anchor,
        parts=parts,
        tool_calls=[],
        tool_call_id=m.tool_call_id,
        finish_reason=m.finish_reason,
        truncated=m.truncated,
        long=chars > LONG_CHARS or lines > LONG_LINES,
        chars=chars,
    )


def _part(kind: PartKind, text: str, budget: list[int]) -> PartView:
    """How one part shows; `budget` is the markdown characters left for this panel (spent here)."""
    if kind is PartKind.MEDIA:
        return PartView("media", text)
    pretty = pretty_json(text) if kind is not PartKind.REASONING else None
    if pretty is not None:
        return PartView("json", pretty)
    if kind in (PartKind.RAW, PartKind.DATA) or len(text) > min(MARKDOWN_PART_CHARS, budget[0]):
        return PartView("text", text)
    budget[0] -= len(text)
    return PartView("reasoning" if kind is PartKind.REASONING else "markdown", html=markdown(text))
