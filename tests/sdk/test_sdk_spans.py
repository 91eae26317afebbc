"""Span names, kinds, attributes, parents and errors of workflow / agent / tool / llm_call / handoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.sdk.sdk_testing import Recorder, make_recorder
from tracehouse import sdk
from tracehouse.sdk import semconv as sc


def test_agent_context_manager_gives_invoke_agent_span(traced: Recorder) -> None:
    with sdk.agent("planner", id="a-1", description="plans", version="2", attempt=1) as step:
        step.set_attribute("custom.key", "v")
    span = traced.one("invoke_agent planner")
    assert span.kind is SpanKind.INTERNAL
    assert span.attributes == {
        sc.GEN_AI_OPERATION_NAME: "invoke_agent",
        sc.GEN_AI_AGENT_NAME: "planner",
        sc.GEN_AI_AGENT_ID: "a-1",
        sc.GEN_AI_AGENT_DESCRIPTION: "plans",
        sc.GEN_AI_AGENT_VERSION: "2",
        sc.RETRY_ATTEMPT: 1,
        "custom.key": "v",
    }
    assert span.status.status_code is StatusCode.UNSET


def test_workflow_names_itself_in_agent_and_workflow_attributes(traced: Recorder) -> None:
    with sdk.workflow("research", **{"gen_ai.conversation.id": "c-9"}):
        pass
    span = traced.one("invoke_workflow research")
    assert span.kind is SpanKind.INTERNAL
    assert span.attributes is not None
    assert span.attributes[sc.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert span.attributes[sc.GEN_AI_AGENT_NAME] == "research"
    assert span.attributes[sc.GEN_AI_WORKFLOW_NAME] == "research"
    assert span.attributes[sc.GEN_AI_CONVERSATION_ID] == "c-9"


def test_nesting_sets_parents_and_stamps_enclosing_agent(traced: Recorder) -> None:
    with sdk.workflow("wf"):
        with sdk.agent("planner"):
            assert sdk.current_agent() == "planner"
            with sdk.tool("search", call_id="call_1"):
                pass
        assert sdk.current_agent() is None
    wf, ag, tl = traced.one("invoke_workflow wf"), traced.one("invoke_agent planner"), traced.one("execute_tool search")
    assert wf.parent is None
    assert ag.parent is not None and wf.context is not None and ag.parent.span_id == wf.context.span_id
    assert tl.parent is not None and ag.context is not None and tl.parent.span_id == ag.context.span_id
    assert tl.kind is SpanKind.INTERNAL
    assert tl.attributes is not None
    assert tl.attributes[sc.GEN_AI_AGENT_NAME] == "planner"
    assert tl.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert tl.attributes[sc.GEN_AI_TOOL_TYPE] == "function"


def test_tool_outside_agent_has_no_agent_name(traced: Recorder) -> None:
    with sdk.workflow("wf"), sdk.tool("t"):
        pass
    attrs = traced.one("execute_tool t").attributes
    assert attrs is not None and sc.GEN_AI_AGENT_NAME not in attrs


def test_third_party_span_inside_agent_is_stamped(traced: Recorder) -> None:
    tracer = traced.provider.get_tracer("some.instrumentation")
    with sdk.agent("coder"), tracer.start_as_current_span("chat gpt-4o"):
        pass
    with tracer.start_as_current_span("outside"):
        pass
    inside = traced.one("chat gpt-4o").attributes
    assert inside is not None and inside[sc.GEN_AI_AGENT_NAME] == "coder"
    outside = traced.one("outside").attributes
    assert outside is not None and sc.GEN_AI_AGENT_NAME not in outside


class QuotaExceeded(RuntimeError):
    pass


def test_exception_sets_error_status_and_type_and_reraises(traced: Recorder) -> None:
    with pytest.raises(QuotaExceeded), sdk.agent("worker"):
        raise QuotaExceeded("no budget left")
    span = traced.one("invoke_agent worker")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes[sc.ERROR_TYPE] == "QuotaExceeded"
    assert [e.name for e in span.events] == ["exception"]


def test_record_error_marks_failure_without_ending(traced: Recorder) -> None:
    with sdk.tool("flaky") as step:
        step.record_error(TimeoutError("slow"))
        step.set_attempt(2)
    span = traced.one("execute_tool flaky")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes[sc.ERROR_TYPE] == "TimeoutError"
    assert span.attributes[sc.RETRY_ATTEMPT] == 2


def test_retry_attempts_are_numbered_from_one(traced: Recorder) -> None:
    for attempt in (1, 2, 3):
        with sdk.tool("fetch", attempt=attempt):
            pass
    attempts = sorted(s.attributes[sc.RETRY_ATTEMPT] for s in traced.spans() if s.attributes)
    assert attempts == [1, 2, 3]


def test_llm_call_records_request_usage_response_and_cost(traced: Recorder) -> None:
    llm = sdk.llm_call("gpt-4o-mini", "openai", temperature=0.2, max_tokens=256, stop="END", attempt=1)
    with sdk.agent("writer"), llm as call:
        call.set_usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=400_000)
        call.set_response(model="gpt-4o-mini-2024-07-18", id="resp-1", finish_reasons=["stop"])
    span = traced.one("chat gpt-4o-mini")
    assert span.kind is SpanKind.CLIENT
    a = span.attributes
    assert a is not None
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 256
    assert tuple(a[sc.GEN_AI_REQUEST_STOP_SEQUENCES]) == ("END",)  # type: ignore[arg-type]
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert tuple(a[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ("stop",)  # type: ignore[arg-type]
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 400_000
    assert a[sc.GEN_AI_AGENT_NAME] == "writer"
    # 600k plain input * 0.15 + 400k cached * 0.075 + 1M output * 0.60, per million
    assert a[sc.COST_USD] == pytest.approx(0.09 + 0.03 + 0.60)


def test_llm_cost_falls_back_to_dated_response_model_and_set_cost_wins(traced: Recorder) -> None:
    with sdk.llm_call("my-deployment", "azure.ai.openai") as call:
        call.set_usage(1_000_000, 0)
        call.set_response(model="gpt-4o-2024-08-06")
    with sdk.llm_call("unpriced-model", "acme") as call:
        call.set_usage(10, 10)
    with sdk.llm_call("gpt-4o", "openai") as call:
        call.set_usage(10, 10)
        call.set_cost(1.5)
    assert traced.one("chat my-deployment").attributes[sc.COST_USD] == pytest.approx(2.5)  # type: ignore[index]
    assert sc.COST_USD not in (traced.one("chat unpriced-model").attributes or {})
    assert traced.one("chat gpt-4o").attributes[sc.COST_USD] == 1.5  # type: ignore[index]


def test_llm_decorator_reads_usage_from_openai_shaped_response(traced: Recorder) -> None:
    class Usage:
        prompt_tokens = 100
        completion_tokens = 50

    class Response:
        model = "gpt-4o-2024-08-06"
        id = "chatcmpl-1"
        usage = Usage()

    @sdk.llm_call("gpt-4o", "openai", operation="chat")
    def call_model(prompt: str) -> Response:
        return Response()

    call_model("hi")
    a = traced.one("chat gpt-4o").attributes
    assert a is not None
    assert (a[sc.GEN_AI_USAGE_INPUT_TOKENS], a[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (100, 50)
    assert a[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert a[sc.COST_USD] == pytest.approx((100 * 2.5 + 50 * 10.0) / 1e6)


def test_handoff_span_nests_target_agent(traced: Recorder) -> None:
    hand_step = sdk.handoff("triage", "billing", reason="refund", payload={"ticket": 7})
    with sdk.agent("triage"), hand_step as h, sdk.agent("billing"):
        assert sdk.current_agent() == "billing"
    hand = traced.one("execute_tool transfer_to_billing")
    target = traced.one("invoke_agent billing")
    a = hand.attributes
    assert a is not None
    assert a[sc.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert a[sc.GEN_AI_TOOL_NAME] == "transfer_to_billing"
    assert (a[sc.HANDOFF_SOURCE], a[sc.HANDOFF_TARGET], a[sc.HANDOFF_REASON]) == ("triage", "billing", "refund")
    assert a[sc.CONTENT_HASH] == sdk.content_hash(["execute_tool", "transfer_to_billing", {"ticket": 7}])
    assert sc.HANDOFF_PAYLOAD not in a  # content capture is off
    assert target.parent is not None and hand.context is not None
    assert target.parent.span_id == hand.context.span_id
    assert h.context is not None


def test_sync_decorator_hashes_bound_arguments_and_returns_value(traced: Recorder) -> None:
    @sdk.tool("add")
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert add(1) == 3
    assert add(a=1, b=2) == 3
    hashes = {s.attributes[sc.CONTENT_HASH] for s in traced.spans() if s.attributes}
    assert hashes == {sdk.content_hash(["execute_tool", "add", {"a": 1, "b": 2}])}


def test_method_decorator_leaves_self_out_of_the_hash(traced: Recorder) -> None:
    class Agent:
        @sdk.agent("stateful")
        def run(self, task: str) -> str:
            return task

    Agent().run("x")
    Agent().run("x")
    hashes = {s.attributes[sc.CONTENT_HASH] for s in traced.spans() if s.attributes}
    assert hashes == {sdk.content_hash(["invoke_agent", "stateful", {"task": "x"}])}


async def test_async_decorator_and_gather_keep_parents(traced: Recorder) -> None:
    @sdk.agent("worker")
    async def work(i: int) -> int:
        await asyncio.sleep(0)
        with sdk.tool("step"):
            await asyncio.sleep(0)
        return i * 2

    async with sdk.workflow("fan-out") as wf:
        results = await asyncio.gather(*(work(i) for i in range(3)))
    assert results == [0, 2, 4]
    spans = traced.spans()
    root = wf.span.get_span_context().span_id
    workers = [s for s in spans if s.name == "invoke_agent worker"]
    assert len(workers) == 3 and all(s.parent and s.parent.span_id == root for s in workers)
    worker_ids = {s.context.span_id for s in workers if s.context}
    steps = [s for s in spans if s.name == "execute_tool step"]
    assert {s.parent.span_id for s in steps if s.parent} == worker_ids
    assert all(s.attributes and s.attributes[sc.GEN_AI_AGENT_NAME] == "worker" for s in steps)


def test_generator_span_covers_iteration_but_not_the_consumer(traced: Recorder) -> None:
    @sdk.tool("pages")
    def pages(n: int) -> Iterator[int]:
        for i in range(n):
            with sdk.tool("fetch"):
                pass
            yield i

    with sdk.agent("reader"):
        seen = []
        for page in pages(3):
            with sdk.tool("consume"):  # runs while the generator is suspended: child of the agent, not of pages
                seen.append(page)
    assert seen == [0, 1, 2]
    reader, gen = traced.one("invoke_agent reader"), traced.one("execute_tool pages")
    assert gen.parent and reader.context and gen.parent.span_id == reader.context.span_id
    fetches = [s for s in traced.spans() if s.name == "execute_tool fetch"]
    consumes = [s for s in traced.spans() if s.name == "execute_tool consume"]
    assert gen.context is not None
    assert len(fetches) == 3 and all(s.parent and s.parent.span_id == gen.context.span_id for s in fetches)
    assert all(s.parent and s.parent.span_id == reader.context.span_id for s in consumes)
    assert gen.end_time is not None and max(s.end_time or 0 for s in fetches) <= gen.end_time


def test_generator_closed_early_ends_span_ok_and_errors_mark_it(traced: Recorder) -> None:
    @sdk.tool("stream")
    def stream() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("broken stream")

    it = stream()
    assert next(it) == 1
    it.close()
    with pytest.raises(ValueError):
        list(stream())
    spans = [s for s in traced.spans() if s.name == "execute_tool stream"]
    assert sorted(s.status.status_code.name for s in spans) == ["ERROR", "UNSET"]


def test_generator_send_and_return_value_pass_through(traced: Recorder) -> None:
    @sdk.agent("echo")
    def echo() -> Iterator[str]:
        received = yield "ready"
        yield f"got {received}"
        return "done"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("x") == "got x"
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"
    assert traced.one("invoke_agent echo").status.status_code is StatusCode.UNSET


async def test_async_generator_span_and_children(traced: Recorder) -> None:
    @sdk.agent("streamer")
    async def tokens(n: int) -> AsyncIterator[str]:
        for i in range(n):
            with sdk.tool("tok"):
                await asyncio.sleep(0)
            yield f"t{i}"

    assert [t async for t in tokens(2)] == ["t0", "t1"]
    agent_span = traced.one("invoke_agent streamer")
    toks = [s for s in traced.spans() if s.name == "execute_tool tok"]
    assert agent_span.context is not None
    assert len(toks) == 2 and all(s.parent and s.parent.span_id == agent_span.context.span_id for s in toks)
    assert all(s.attributes and s.attributes[sc.GEN_AI_AGENT_NAME] == "streamer" for s in toks)


async def test_async_generator_error_is_recorded(traced: Recorder) -> None:
    @sdk.tool("bad")
    async def bad() -> AsyncIterator[int]:
        yield 1
        raise KeyError("missing")

    with pytest.raises(KeyError):
        async for _ in bad():
            pass
    span = traced.one("execute_tool bad")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes[sc.ERROR_TYPE] == "KeyError"


def test_legacy_names_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental,gen_ai/dup")
    rec = make_recorder()
    with sdk.llm_call("gpt-4o", "openai") as call:
        call.set_usage(3, 4)
    a = rec.one("chat gpt-4o").attributes
    assert a is not None
    assert (a[sc.GEN_AI_SYSTEM], a[sc.GEN_AI_USAGE_PROMPT_TOKENS], a[sc.GEN_AI_USAGE_COMPLETION_TOKENS]) == (
        "openai",
        3,
        4,
    )


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: sdk.agent(""), ValueError),
        (lambda: sdk.agent("   "), ValueError),
        (lambda: sdk.agent(None), TypeError),  # type: ignore[arg-type]
        (lambda: sdk.agent(lambda: None), TypeError),  # type: ignore[arg-type]
        (lambda: sdk.agent("a", attempt=0), ValueError),
        (lambda: sdk.agent("a", attempt="1"), TypeError),  # type: ignore[arg-type]
        (lambda: sdk.tool("t", type="weird"), ValueError),
        (lambda: sdk.llm_call("gpt-4o", "openai", temprature=0.1), TypeError),
        (lambda: sdk.llm_call("gpt-4o", ""), ValueError),
        (lambda: sdk.handoff("a", ""), ValueError),
        (lambda: sdk.workflow("w", **{"bad": object()}), TypeError),
        (lambda: sdk.agent("a", parent="not a context"), TypeError),  # type: ignore[arg-type]
    ],
)
def test_bad_use_raises_at_the_call_site(make: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()  # type: ignore[operator]


def test_bad_use_raises_even_when_tracing_is_off() -> None:
    assert not sdk.is_enabled()
    with pytest.raises(ValueError, match="empty"):
        sdk.agent("")
    with pytest.raises(TypeError, match="@agent"):

        @sdk.agent  # type: ignore[arg-type]
        def f() -> None: ...


def test_set_usage_rejects_bad_counts(traced: Recorder) -> None:
    with sdk.llm_call("gpt-4o", "openai") as call:
        with pytest.raises(TypeError):
            call.set_usage(input_tokens="10")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            call.set_usage(output_tokens=-1)
        with pytest.raises(ValueError):
            call.set_cost(-0.1)


def test_entering_the_same_step_twice_is_refused(traced: Recorder) -> None:
    step = sdk.agent("once")
    with step, pytest.raises(RuntimeError, match="already entered"), step:
        pass
