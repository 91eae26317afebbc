"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the orchestrator's workflow tests.

It speaks `POST /v1/chat/completions` (plain text, tool calls and `response_format`; `stream: true` as SSE chunks
with usage last), the Responses API (`POST /v1/responses`; `stream: true` as its typed events) and Anthropic's
Messages API (`POST /v1/messages`), and reports usage the way a real provider does: by its own count of the prompt,
not the client's estimate. Its default count is "dense": one token per 3 bytes, which is what real tokenizers do to
JSON-heavy prompts and what the old chars/4 estimate under-counted.
Replies are scripted: a list consumed in order (the last one repeating) or a function of the request body.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text and/or tool calls `(name, arguments)`, optional usage overrides, an HTTP error
    status instead of an answer, and a latency."""

    content: str | None = None
    tool_calls: Sequence[tuple[str, dict[str, Any]]] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    status: int = 200
    latency_s: float = 0.0
    model: str | None = None


def dense_tokens(body: dict[str, Any]) -> int:
    """The server's own prompt count: one token per 3 bytes of each message's text (and tool calls), 3 per message
    for its framing, and the tool schemas' JSON at the same rate."""
    total = 0
    for m in body.get("messages") or body.get("input") or []:  # chat messages, or Responses input items
        content = m.get("content", m.get("output", m.get("arguments")))
        text = content if isinstance(content, str) else json.dumps(content)
        text += json.dumps(m["tool_calls"]) if m.get("tool_calls") else ""
        total += math.ceil(len(text.encode()) / 3) + 3
    if body.get("tools"):
        total += math.ceil(len(json.dumps(body["tools"]).encode()) / 3)
    return total


Responder = Callable[[dict[str, Any]], "Reply | str"]


@dataclass
class FakeOpenAI:
    """`with FakeOpenAI(["hi", Reply(tool_calls=[("add", {"a": 1})])]) as llm: ... llm.url ... llm.requests`."""

    replies: Sequence[Reply | str] | Responder = ("ok",)
    count_prompt: Callable[[dict[str, Any]], int] = dense_tokens
    latency_s: float = 0.0
    cut_stream: bool = False  # end Responses API streams before their final event
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._cursor = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def script(self, replies: Sequence[Reply | str] | Responder) -> None:
        """Answer with `replies` from now on (from their first one)."""
        with self._lock:
            self.replies = replies
            self._cursor = 0

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if callable(self.replies):
                found = self.replies(body)
            else:
                found = self.replies[min(self._cursor, len(self.replies) - 1)]
                self._cursor += 1
        return Reply(content=found) if isinstance(found, str) else found

    def completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        n = len(self.requests)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                for i, (name, args) in enumerate(reply.tool_calls)
            ]
        completion = reply.completion_tokens
        if completion is None:
            completion = max(math.ceil(len(json.dumps(message)) / 4), 1)
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else self.count_prompt(body)
        return {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion",
            "model": reply.model or body.get("model"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many concurrent clients (the async tests open 48 connections at once)
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI

    def do_POST(self) -> None:
        if not self.path.endswith(("/chat/completions", "/responses", "/messages")):
            self._send(404, b'{"error": {"message": "not found"}}', "application/json")
            return
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        reply = self.fake.next_reply(body)
        time.sleep(reply.latency_s or self.fake.latency_s)
        if reply.status != 200:
            self._send(
                reply.status,
                json.dumps({"error": {"message": reply.content or "scripted"}}).encode(),
                "application/json",
            )
            return
        completion = self.fake.completion(body, reply)
        if body.get("stream") and self.path.endswith("/chat/completions"):
            self._send(200, b"".join(_sse(completion)), "text/event-stream")
            return
        if body.get("stream") and self.path.endswith("/responses"):
            self._send(
                200, b"".join(_sse_response(_as_response(completion), self.fake.cut_stream)), "text/event-stream"
            )
            return
        if self.path.endswith("/messages"):
            answer = _as_anthropic(completion)
        else:
            answer = _as_response(completion) if self.path.endswith("/responses") else completion
        self._send(200, json.dumps(answer).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _as_response(completion: dict[str, Any]) -> dict[str, Any]:
    """The same answer in the Responses API's shape: output items and input/output token usage."""
    message = completion["choices"][0]["message"]
    output: list[dict[str, Any]] = []
    if message.get("content"):
        output.append(
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": message["content"]}]}
        )
    for call in message.get("tool_calls") or ():
        output.append(
            {
                "type": "function_call",
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
            }
        )
    usage = completion["usage"]
    return {
        "id": completion["id"].replace("chatcmpl", "resp"),
        "object": "response",
        "status": "completed",
        "model": completion["model"],
        "output": output,
        "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
    }


def _sse(completion: dict[str, Any]) -> Iterator[bytes]:
    """A completion as stream chunks: text 4 characters at a time, each tool call in two argument fragments, then
    the finish reason and the usage (as `stream_options.include_usage` asks)."""
    message = completion["choices"][0]["message"]
    base = {"id": completion["id"], "object": "chat.completion.chunk", "model": completion["model"]}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body)}\n\n".encode()

    text = message.get("content") or ""
    for i in range(0, len(text), 4):
        yield chunk({"content": text[i : i + 4]})
    for n, call in enumerate(message.get("tool_calls") or ()):
        args = call["function"]["arguments"]
        head = {
            "index": n,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": args[: len(args) // 2]},
        }
        yield chunk({"tool_calls": [head]})
        yield chunk({"tool_calls": [{"index": n, "function": {"arguments": args[len(args) // 2 :]}}]})
    yield chunk({}, completion["choices"][0]["finish_reason"])
    yield f"data: {json.dumps({**base, 'choices': [], 'usage': completion['usage']})}\n\ndata: [DONE]\n\n".encode()


def _sse_response(response: dict[str, Any], cut: bool = False) -> Iterator[bytes]:
    """A Responses API answer as its typed stream events (`event:` and `data:` lines): created, each output item
    added, text deltas 4 characters at a time, function-call arguments in two fragments, items done, then
    `response.completed` carrying the whole response with usage. `cut` ends the stream before that final event, as
    a dropped connection would."""
    seq = iter(range(1_000_000))

    def event(kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": next(seq), **fields}
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()

    head = {**response, "status": "in_progress", "output": [], "usage": None}
    yield event("response.created", response=head)
    for index, item in enumerate(response["output"]):
        if item["type"] == "message":
            yield event("response.output_item.added", output_index=index, item={**item, "content": []})
            text = item["content"][0]["text"]
            for i in range(0, len(text), 4):
                yield event("response.output_text.delta", output_index=index, content_index=0, delta=text[i : i + 4])
        else:
            args = item["arguments"]
            yield event("response.output_item.added", output_index=index, item={**item, "arguments": ""})
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                yield event("response.function_call_arguments.delta", output_index=index, delta=part)
        yield event("response.output_item.done", output_index=index, item=item)
    if not cut:
        yield event("response.completed", response=response)


def _as_anthropic(completion: dict[str, Any]) -> dict[str, Any]:
    """The same answer as Anthropic's Messages API returns it: content blocks and its usage fields."""
    message = completion["choices"][0]["message"]
    blocks: list[dict[str, Any]] = []
    if message.get("content"):
        blocks.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": call["function"]["name"],
                "input": json.loads(call["function"]["arguments"]),
            }
        )
    usage = completion["usage"]
    return {
        "id": completion["id"].replace("chatcmpl", "msg"),
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": blocks,
        "stop_reason": "tool_use" if message.get("tool_calls") else "end_turn",
        "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
    }
