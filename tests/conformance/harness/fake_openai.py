"""An OpenAI-compatible HTTP server on loopback whose answers come from a scenario's script, and whose log is the truth.

The conformance corpus needs real frameworks to talk to a model that answers the same way every run, and needs to
know *independently of any instrumentation* how many model calls were made, by which agent, with which usage and
which tool calls. This server gives both: a scenario's `respond(request) -> Reply` policy decides every answer, the
usage is a pure function of the request and the reply, and every answer is appended to `calls.jsonl`.

Endpoints: `POST /v1/chat/completions` (tools, parallel tool calls, `stream=true` with
`stream_options.include_usage`), `POST /v1/responses` (Responses API, function calls, `stream=true`) and
`POST /v1/embeddings`. Only the Python standard library is used, so the harness runs in any interpreter.

A policy looks like::

    def respond(req: ModelRequest) -> Reply:
        if "You are Triage" in req.system:
            return Reply(agent="Triage", tool_calls=(ToolCall("transfer_to_weather_specialist", {}),))
        if not req.results("get_weather"):
            return Reply(agent="Weather specialist", tool_calls=(ToolCall("get_weather", {"city": "Paris"}),))
        return Reply(agent="Weather specialist", text="Sunny in Paris.")
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _http import read_body, send

# What the real API answers for `gpt-4o-mini`: a dated snapshot name in the response, the alias in the request.
RESPONSE_MODELS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}
CREATED = 1_764_547_200  # a fixed timestamp, so answers are byte-for-byte stable


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model returns; `arguments` is serialised to JSON unless it already is a string."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments, sort_keys=True)


@dataclass(frozen=True)
class Reply:
    """The policy's answer: text and/or tool calls, or an HTTP error. `agent` is who the scenario says made the call
    (it comes from the scenario's structure, e.g. the agent's instructions), and is what `llm_calls_by_agent` counts."""

    agent: str
    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    error_status: int | None = None
    error_message: str = "The fake server failed this call on purpose."


@dataclass(frozen=True)
class PastCall:
    """A tool call already in the conversation the client sent, with its result if the client sent one."""

    id: str
    name: str
    arguments: str
    output: str | None


@dataclass
class ModelRequest:
    """One request, reduced to what a policy decides on. `body` is the parsed JSON as sent."""

    api: str  # "chat" | "responses" | "embeddings"
    body: dict[str, Any]
    model: str
    system: str  # system/developer messages and `instructions`, joined
    conversation: list[Any]  # `messages` (chat), `input` (responses) or the embedding input
    tools: list[str]
    calls: list[PastCall]
    stream: bool
    include_usage: bool
    seq: int = 0  # this request's number in the run (1, 2, ...), for a policy that fails one call on purpose

    def results(self, tool: str) -> list[PastCall]:
        """The earlier calls of `tool` that already have a result, oldest first."""
        return [c for c in self.calls if c.name == tool and c.output is not None]

    def user_text(self) -> str:
        """Every user message's text, joined (for policies that branch on the task)."""
        return " ".join(_text_of(m.get("content")) for m in _dicts(self.conversation) if m.get("role") == "user")


Policy = Callable[[ModelRequest], Reply]


def _dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)]


def _text_of(content: Any) -> str:
    """Text of a message's content in any of the shapes the two APIs use (str, or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _tool_names(tools: Any) -> list[str]:
    names = []
    for t in tools if isinstance(tools, list) else []:
        if isinstance(t, dict):
            fn: dict[str, Any] = t["function"] if isinstance(t.get("function"), dict) else t
            if fn.get("name"):
                names.append(str(fn["name"]))
    return names


def parse_chat(body: dict[str, Any]) -> ModelRequest:
    messages = body.get("messages") or []
    system, calls, outputs = [], [], {}
    for m in _dicts(messages):
        if m.get("role") in ("system", "developer"):
            system.append(_text_of(m.get("content")))
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function") or {}
            calls.append((str(tc.get("id", "")), str(fn.get("name", "")), str(fn.get("arguments", ""))))
        if m.get("role") == "tool":
            outputs[str(m.get("tool_call_id", ""))] = _text_of(m.get("content"))
    opts = body.get("stream_options") or {}
    return ModelRequest(
        api="chat",
        body=body,
        model=str(body.get("model", "")),
        system="\n".join(system),
        conversation=messages,
        tools=_tool_names(body.get("tools")),
        calls=[PastCall(i, n, a, outputs.get(i)) for i, n, a in calls],
        stream=bool(body.get("stream")),
        include_usage=bool(opts.get("include_usage")),
    )


def parse_responses(body: dict[str, Any]) -> ModelRequest:
    items = body.get("input") or []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    system = [str(body["instructions"])] if body.get("instructions") else []
    calls, outputs = [], {}
    for it in _dicts(items):
        if it.get("role") in ("system", "developer"):
            system.append(_text_of(it.get("content")))
        if it.get("type") == "function_call":
            calls.append((str(it.get("call_id", "")), str(it.get("name", "")), str(it.get("arguments", ""))))
        if it.get("type") == "function_call_output":
            out = it.get("output")
            outputs[str(it.get("call_id", ""))] = out if isinstance(out, str) else json.dumps(out)
    return ModelRequest(
        api="responses",
        body=body,
        model=str(body.get("model", "")),
        system="\n".join(system),
        conversation=items,
        tools=_tool_names(body.get("tools")),
        calls=[PastCall(i, n, a, outputs.get(i)) for i, n, a in calls],
        stream=bool(body.get("stream")),
        include_usage=True,  # the Responses API always reports usage, streamed or not
    )


def parse_embeddings(body: dict[str, Any]) -> ModelRequest:
    inp = body.get("input")
    return ModelRequest(
        api="embeddings",
        body=body,
        model=str(body.get("model", "")),
        system="",
        conversation=inp if isinstance(inp, list) else [inp],
        tools=[],
        calls=[],
        stream=False,
        include_usage=True,
    )


def input_tokens(req: ModelRequest) -> int:
    """Deterministic prompt size: a function of what was sent (conversation + system), not of any tokenizer."""
    sent = json.dumps([req.system, req.conversation], sort_keys=True, separators=(",", ":"))
    return 20 + len(sent) // 4


def output_tokens(reply: Reply) -> int:
    """Deterministic completion size: a function of the reply only."""
    n = 3 + len(reply.text or "") // 4
    return n + sum(8 + len(tc.name) // 4 + len(tc.arguments_json()) // 4 for tc in reply.tool_calls)


class CallLog:
    """Numbers the calls and appends one JSON line per answered request; the lock makes line order = call order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seq = 0
        self.lock = threading.Lock()
        path.write_text("")

    def next_seq(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def append(self, record: dict[str, Any]) -> None:
        with self.lock, self.path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")


def _usage(api: str, i: int, o: int) -> dict[str, Any]:
    if api == "responses":
        return {
            "input_tokens": i,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": o,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": i + o,
        }
    return {
        "prompt_tokens": i,
        "completion_tokens": o,
        "total_tokens": i + o,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _sse(events: list[dict[str, Any]], done: bool) -> bytes:
    lines = []
    for e in events:
        prefix = f"event: {e['type']}\n" if "type" in e and "sequence_number" in e else ""
        lines.append(f"{prefix}data: {json.dumps(e)}\n\n")
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


class Answer:
    """Builds the wire answer for one (request, reply) pair; ids derive from the call number so runs are stable."""

    def __init__(self, req: ModelRequest, reply: Reply, seq: int) -> None:
        self.req, self.reply, self.seq = req, reply, seq
        self.response_model = RESPONSE_MODELS.get(req.model, req.model)
        self.ids = [f"call_{seq:03d}{k}" for k in range(len(reply.tool_calls))]
        self.i, self.o = input_tokens(req), output_tokens(reply)

    def calls(self) -> list[tuple[str, ToolCall]]:
        return list(zip(self.ids, self.reply.tool_calls, strict=True))

    def chat(self) -> tuple[str, bytes]:
        msg: dict[str, Any] = {"role": "assistant", "content": self.reply.text, "refusal": None}
        if self.reply.tool_calls:
            msg["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments_json()}}
                for cid, tc in self.calls()
            ]
        body = {
            "id": f"chatcmpl-{self.seq:04d}",
            "object": "chat.completion",
            "created": CREATED,
            "model": self.response_model,
            "system_fingerprint": "fp_conformance",
            "choices": [{"index": 0, "message": msg, "logprobs": None, "finish_reason": self._finish()}],
            "usage": _usage("chat", self.i, self.o),
        }
        return "application/json", json.dumps(body).encode()

    def _finish(self) -> str:
        return "tool_calls" if self.reply.tool_calls else "stop"

    def chat_stream(self) -> tuple[str, bytes]:
        base = {
            "id": f"chatcmpl-{self.seq:04d}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.response_model,
            "system_fingerprint": "fp_conformance",
        }
        if self.req.include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        for word in (self.reply.text or "").split(" ") if self.reply.text else []:
            chunks.append(chunk({"content": word if len(chunks) == 1 else " " + word}))
        for k, (cid, tc) in enumerate(self.calls()):
            head = {"index": k, "id": cid, "type": "function", "function": {"name": tc.name, "arguments": ""}}
            chunks.append(chunk({"tool_calls": [head]}))
            chunks.append(chunk({"tool_calls": [{"index": k, "function": {"arguments": tc.arguments_json()}}]}))
        chunks.append(chunk({}, self._finish()))
        if self.req.include_usage:
            chunks.append({**base, "choices": [], "usage": _usage("chat", self.i, self.o)})
        return "text/event-stream", _sse(chunks, done=True)

    def _response(self, status: str, with_output: bool) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if self.reply.text is not None:
            output.append(
                {
                    "type": "message",
                    "id": f"msg_{self.seq:04d}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": self.reply.text, "annotations": [], "logprobs": []}],
                }
            )
        for cid, tc in self.calls():
            output.append(
                {
                    "type": "function_call",
                    "id": "fc_" + cid.removeprefix("call_"),
                    "call_id": cid,
                    "name": tc.name,
                    "arguments": tc.arguments_json(),
                    "status": "completed",
                }
            )
        body = self.req.body
        return {
            "id": f"resp_{self.seq:04d}",
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "model": self.response_model,
            "output": output if with_output else [],
            "usage": _usage("responses", self.i, self.o) if with_output else None,
            "instructions": body.get("instructions"),
            "tools": body.get("tools") or [],
            "tool_choice": body.get("tool_choice") or "auto",
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0),
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "metadata": {},
            "error": None,
            "incomplete_details": None,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "store": False,
            "max_output_tokens": body.get("max_output_tokens"),
            "user": None,
        }

    def responses(self) -> tuple[str, bytes]:
        return "application/json", json.dumps(self._response("completed", True)).encode()

    def responses_stream(self) -> tuple[str, bytes]:
        full = self._response("completed", True)
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": self._response("in_progress", False)},
            {"type": "response.in_progress", "response": self._response("in_progress", False)},
        ]
        for k, item in enumerate(full["output"]):
            events.append({"type": "response.output_item.added", "output_index": k, "item": item})
            if item["type"] == "message":
                text = item["content"][0]["text"]
                events.append(
                    {
                        "type": "response.output_text.delta",
                        "item_id": item["id"],
                        "output_index": k,
                        "content_index": 0,
                        "delta": text,
                        "logprobs": [],
                    }
                )
            events.append({"type": "response.output_item.done", "output_index": k, "item": item})
        events.append({"type": "response.completed", "response": full})
        for n, e in enumerate(events):
            e["sequence_number"] = n
        return "text/event-stream", _sse(events, done=False)

    def embeddings(self) -> tuple[str, bytes]:
        vectors = [
            {"object": "embedding", "index": k, "embedding": [round(0.1 * ((k + j) % 7), 3) for j in range(8)]}
            for k in range(len(self.req.conversation))
        ]
        body = {
            "object": "list",
            "data": vectors,
            "model": self.req.model,
            "usage": {"prompt_tokens": self.i, "total_tokens": self.i},
        }
        return "application/json", json.dumps(body).encode()


PARSERS = {
    "/v1/chat/completions": parse_chat,
    "/v1/responses": parse_responses,
    "/v1/embeddings": parse_embeddings,
}


class FakeOpenAI:
    """The server: `with FakeOpenAI(policy, log_path) as fake: fake.base_url` (ends in /v1)."""

    def __init__(self, policy: Policy, log_path: Path) -> None:
        self.policy = policy
        self.log = CallLog(log_path)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-openai", daemon=True)
        self.errors: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
        """Status, content type and body for one request; logs it. A policy bug is a 500 that names it."""
        req = PARSERS[path](body)
        req.seq = seq = self.log.next_seq()
        try:
            reply = self.policy(req)
        except Exception as e:  # a broken script must show in the run's output, not hang the framework
            self.errors.append(f"{path}: policy raised {e!r}")
            return 500, "application/json", json.dumps({"error": {"message": f"policy raised {e!r}"}}).encode()
        ans = Answer(req, reply, seq)
        failed = reply.error_status is not None
        usage_returned = not failed and (not req.stream or req.include_usage)
        self.log.append(
            {
                "seq": seq,
                "api": req.api,
                "agent": reply.agent,
                "model": req.model,
                "response_model": ans.response_model,
                "stream": req.stream,
                "error": failed,
                "status": reply.error_status or 200,
                "usage_returned": usage_returned,
                "input_tokens": ans.i if usage_returned else None,
                "output_tokens": (0 if req.api == "embeddings" else ans.o) if usage_returned else None,
                "tool_calls": [] if failed else [{"name": tc.name, "id": cid} for cid, tc in ans.calls()],
                "text": None if failed else reply.text,
            }
        )
        if failed:
            err = {"error": {"message": reply.error_message, "type": "server_error", "param": None, "code": None}}
            return int(reply.error_status or 500), "application/json", json.dumps(err).encode()
        build = {
            ("chat", False): ans.chat,
            ("chat", True): ans.chat_stream,
            ("responses", False): ans.responses,
            ("responses", True): ans.responses_stream,
            ("embeddings", False): ans.embeddings,
        }[(req.api, req.stream)]
        ctype, payload = build()
        return 200, ctype, payload

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                path = self.path.split("?")[0].rstrip("/")
                raw = read_body(self)
                if path not in PARSERS:
                    self._send(404, "application/json", b'{"error": {"message": "unknown path"}}')
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, "application/json", b'{"error": {"message": "body is not JSON"}}')
                    return
                self._send(*fake.answer(path, body))

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    models = [{"id": m, "object": "model", "created": CREATED} for m in RESPONSE_MODELS]
                    self._send(200, "application/json", json.dumps({"object": "list", "data": models}).encode())
                else:
                    self._send(404, "application/json", b'{"error": {"message": "unknown path"}}')

            def _send(self, status: int, ctype: str, payload: bytes) -> None:
                send(self, status, ctype, payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # calls.jsonl is the log

        return Handler
