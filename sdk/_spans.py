"""Workflow, agent, tool, LLM-call and hand-off spans, each a decorator and a (sync or async) context manager.

A factory call such as `agent("planner")` validates its arguments at once and returns a `_Step`; entering it (or
calling the function it decorates) asks `_state.runtime()` once, then either starts a real span or hands out the
shared no-op handle. Decorated generators and async generators hold their span from first iteration to exhaustion,
and the span is current only while their body runs, never while the consumer holds a yielded item.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from . import semconv as sc
from ._hashing import JSONValue, normalise, step_hash
from ._state import AGENT_KEY, Runtime, runtime
from .pricing import default_prices

F = TypeVar("F", bound=Callable[..., Any])
H = TypeVar("H", bound="StepSpan")

_TOOL_TYPES = frozenset({"function", "extension", "datastore"})
_UNSET: Any = object()
_log = logging.getLogger("tracehouse.sdk")


@dataclass(frozen=True, slots=True)
class _Kind:
    operation: str
    span_kind: SpanKind
    input_key: str
    output_key: str
    is_agent: bool  # sets the enclosing-agent name for everything started inside it


_WORKFLOW = _Kind(sc.OP_INVOKE_WORKFLOW, SpanKind.INTERNAL, sc.INPUT_PREVIEW, sc.OUTPUT_PREVIEW, False)
_AGENT = _Kind(sc.OP_INVOKE_AGENT, SpanKind.INTERNAL, sc.INPUT_PREVIEW, sc.OUTPUT_PREVIEW, True)
_TOOL = _Kind(sc.OP_EXECUTE_TOOL, SpanKind.INTERNAL, sc.GEN_AI_TOOL_CALL_ARGUMENTS, sc.GEN_AI_TOOL_CALL_RESULT, False)
_HANDOFF = _Kind(sc.OP_EXECUTE_TOOL, SpanKind.INTERNAL, sc.HANDOFF_PAYLOAD, sc.OUTPUT_PREVIEW, False)


def _llm_kind(operation: str) -> _Kind:
    return _Kind(operation, SpanKind.CLIENT, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, False)


# --- the span handle ---------------------------------------------------------------------------------------------


class StepSpan:
    """The handle a step yields: attributes, events, input/output content, attempt number and errors of one span."""

    __slots__ = ("_ctx", "_kind", "_name", "_rt", "_span", "_token")

    def __init__(
        self, rt: Runtime, span: Span, ctx: Context, token: Token[Context] | None, kind: _Kind, name: str
    ) -> None:
        self._rt = rt
        self._span = span
        self._ctx = ctx
        self._token = token
        self._kind = kind
        self._name = name

    @property
    def span(self) -> Span:
        """The underlying OpenTelemetry span (a non-recording span when tracing is off)."""
        return self._span

    @property
    def context(self) -> Context:
        """An OpenTelemetry context with this span current: pass it as `parent=` or to `inject(..., context=)`."""
        return self._ctx

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self._span.set_attributes(attributes)

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        self._span.add_event(name, attributes)

    def set_input(self, value: Any) -> None:
        """Record the step's input: its content hash always, the content itself only when capture is on."""
        self._set_normalised_input(normalise(value))

    def set_output(self, value: Any) -> None:
        """Record the step's output content (only when content capture is on)."""
        policy = self._rt.policy
        if policy.capture:
            self._span.set_attribute(self._kind.output_key, policy.render(value))

    def set_attempt(self, attempt: int) -> None:
        """1 for the first attempt, 2 for the first retry, ..."""
        self._span.set_attribute(sc.RETRY_ATTEMPT, _check_attempt(attempt))

    def record_error(self, exc: BaseException) -> None:
        """Mark the step failed by `exc` (status ERROR, `error.type`, an exception event) without ending it."""
        error_type = type(exc).__qualname__
        self._span.set_attribute(sc.ERROR_TYPE, error_type)
        self._span.record_exception(exc)
        self._span.set_status(Status(StatusCode.ERROR, f"{error_type}: {exc}"))

    def _set_normalised_input(self, value: JSONValue) -> None:
        self._span.set_attribute(sc.CONTENT_HASH, step_hash(self._kind.operation, self._name, value))
        policy = self._rt.policy
        if policy.capture:
            self._span.set_attribute(self._kind.input_key, policy.render(value))

    def _on_result(self, result: Any) -> None:
        if self._rt.policy.capture:
            self.set_output(result)

    def _before_end(self) -> None:
        pass

    def _finish(self, exc: BaseException | None) -> None:
        if exc is not None and not isinstance(exc, GeneratorExit):
            self.record_error(exc)
        self._before_end()
        if self._token is not None:
            otel_context.detach(self._token)
        self._span.end()


class LLMSpan(StepSpan):
    """The handle of `llm_call`: usage, response and cost on top of `StepSpan`."""

    __slots__ = ("_cost_set", "_response_model", "_usage")

    def __init__(
        self, rt: Runtime, span: Span, ctx: Context, token: Token[Context] | None, kind: _Kind, name: str
    ) -> None:
        super().__init__(rt, span, ctx, token, kind, name)
        self._usage: tuple[int | None, int | None, int | None, int | None] | None = None
        self._response_model: str | None = None
        self._cost_set = False

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        """Token counts as the provider reported them; cache reads/writes are included in `input_tokens`."""
        counts = {
            sc.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
            sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: cache_read_tokens,
            sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: cache_write_tokens,
            sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: reasoning_tokens,
        }
        given: dict[str, AttributeValue] = {}
        for key, value in counts.items():
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"set_usage: {key.rsplit('.', 1)[-1]} must be an int, got {value!r}")
                if value < 0:
                    raise ValueError(f"set_usage: token counts cannot be negative, got {value}")
                given[key] = value
        self._span.set_attributes(given)  # one call: each one takes the span's lock
        if self._rt.legacy_names:
            if input_tokens is not None:
                self._span.set_attribute(sc.GEN_AI_USAGE_PROMPT_TOKENS, input_tokens)
            if output_tokens is not None:
                self._span.set_attribute(sc.GEN_AI_USAGE_COMPLETION_TOKENS, output_tokens)
        self._usage = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)

    def set_response(
        self, model: str | None = None, id: str | None = None, finish_reasons: Sequence[str] | str | None = None
    ) -> None:
        """The response model (often dated), response id and finish reasons as the provider sent them."""
        given: dict[str, AttributeValue] = {}
        if model is not None:
            self._response_model = _check_str(model, "model")
            given[sc.GEN_AI_RESPONSE_MODEL] = model
        if id is not None:
            given[sc.GEN_AI_RESPONSE_ID] = _check_str(id, "id")
        if finish_reasons is not None:
            reasons = [finish_reasons] if isinstance(finish_reasons, str) else list(finish_reasons)
            if not all(isinstance(r, str) for r in reasons):
                raise TypeError("finish_reasons must be strings")
            given[sc.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        self._span.set_attributes(given)

    def set_cost(self, usd: float) -> None:
        """An explicit cost in USD; it replaces the one computed from the price table."""
        if isinstance(usd, bool) or not isinstance(usd, int | float) or usd < 0:
            raise ValueError(f"cost must be a non-negative number of USD, got {usd!r}")
        self._cost_set = True
        self._span.set_attribute(sc.COST_USD, float(usd))

    def _on_result(self, result: Any) -> None:
        super()._on_result(result)
        _usage_from_response(self, result)

    def _before_end(self) -> None:
        if self._cost_set or self._usage is None:
            return
        inp, out, cache_read, cache_write = self._usage
        usd = default_prices().cost(self._name, inp, out, cache_read, cache_write, fallback_model=self._response_model)
        if usd is not None:
            self._span.set_attribute(sc.COST_USD, usd)


def captured(value: Any) -> str | None:
    """`value` as a content attribute under the active content policy (redacted, truncated), or None when content
    capture is off or nothing is traced: for content set on a span the caller did not open with this SDK."""
    rt = runtime()
    if rt is None or not rt.policy.capture:
        return None
    return rt.policy.render(value)


class _NoopSpan(LLMSpan):
    """The handle every step yields when tracing is off: same methods, nothing recorded, nothing computed."""

    __slots__ = ()

    def __init__(self) -> None:
        pass

    @property
    def span(self) -> Span:
        return INVALID_SPAN

    @property
    def context(self) -> Context:
        return otel_context.get_current()

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        pass

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        pass

    def set_input(self, value: Any) -> None:
        pass

    def set_output(self, value: Any) -> None:
        pass

    def set_attempt(self, attempt: int) -> None:
        pass

    def record_error(self, exc: BaseException) -> None:
        pass

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        pass

    def set_response(
        self, model: str | None = None, id: str | None = None, finish_reasons: Sequence[str] | str | None = None
    ) -> None:
        pass

    def set_cost(self, usd: float) -> None:
        pass

    def _finish(self, exc: BaseException | None) -> None:
        pass


NOOP_SPAN = _NoopSpan()
_NOOP_ANY: Any = NOOP_SPAN  # typed Any so it stands for any handle type without a cast() call on the hot path


def _usage_from_response(handle: LLMSpan, result: Any) -> None:
    """Usage and response model from an OpenAI- or Anthropic-shaped response returned by a decorated function."""
    usage = getattr(result, "usage", None)
    if usage is not None:
        inp = _int_attr(usage, "input_tokens", "prompt_tokens")
        out = _int_attr(usage, "output_tokens", "completion_tokens")
        details = getattr(usage, "prompt_tokens_details", None)
        cached = _int_attr(details, "cached_tokens") or _int_attr(usage, "cache_read_input_tokens")
        written = _int_attr(usage, "cache_creation_input_tokens")
        if written and inp is not None:  # Anthropic reports cache tokens beside input_tokens, not inside it
            inp += written + (cached or 0)
        if inp is not None or out is not None:
            handle.set_usage(inp, out, cached, written)
    model = getattr(result, "model", None)
    response_id = getattr(result, "id", None)
    handle.set_response(
        model=model if isinstance(model, str) else None, id=response_id if isinstance(response_id, str) else None
    )


def _int_attr(obj: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


# --- the step: decorator and context manager ---------------------------------------------------------------------


class _Step(Generic[H]):
    """What `agent()`, `tool()`, ... return: enter it (`with` / `async with`) or decorate a function with it."""

    __slots__ = ("_active", "_attrs", "_handle_cls", "_input", "_kind", "_name", "_parent", "_span_name")

    def __init__(
        self,
        kind: _Kind,
        name: str,
        span_name: str,
        attrs: dict[str, AttributeValue],
        handle_cls: type[H],
        parent: Context | None,
        input: Any = _UNSET,
    ) -> None:
        self._kind = kind
        self._name = name
        self._span_name = span_name
        self._attrs = attrs
        self._handle_cls = handle_cls
        self._parent = parent
        self._input = input
        self._active: H | None = None

    def _start(self, rt: Runtime, attach: bool) -> H:
        attrs = self._attrs
        parent = self._parent
        if sc.GEN_AI_AGENT_NAME not in attrs:
            enclosing = otel_context.get_value(AGENT_KEY, parent)
            if enclosing is not None:
                attrs = {**attrs, sc.GEN_AI_AGENT_NAME: cast(str, enclosing)}
        if rt.legacy_names and sc.GEN_AI_PROVIDER_NAME in attrs:
            attrs = {**attrs, sc.GEN_AI_SYSTEM: attrs[sc.GEN_AI_PROVIDER_NAME]}
        span = rt.tracer.start_span(self._span_name, parent, self._kind.span_kind, attrs)
        ctx = trace.set_span_in_context(span, parent)
        if self._kind.is_agent:
            ctx = otel_context.set_value(AGENT_KEY, self._name, ctx)
        token = otel_context.attach(ctx) if attach else None
        handle = self._handle_cls(rt, span, ctx, token, self._kind, self._name)
        if self._input is not _UNSET:
            handle.set_input(self._input)
        return handle

    def __enter__(self) -> H:
        if self._active is not None:
            raise RuntimeError(f"{self._span_name!r} is already entered; create a new one for each `with`")
        rt = runtime()
        handle: H = _NOOP_ANY if rt is None else self._start(rt, attach=True)
        self._active = handle
        return handle

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        handle, self._active = self._active, None
        if handle is not None:
            handle._finish(exc)

    async def __aenter__(self) -> H:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"{self._span_name!r} decorates a function, got {type(fn).__name__}")
        binder = _Binder(fn)
        if inspect.isasyncgenfunction(fn):
            return cast(F, _wrap_async_gen(self, fn, binder))
        if inspect.iscoroutinefunction(fn):
            return cast(F, _wrap_async(self, fn, binder))
        if inspect.isgeneratorfunction(fn):
            return cast(F, _wrap_gen(self, fn, binder))
        return cast(F, _wrap_sync(self, fn, binder))


class _Binder:
    """Turns a call's arguments into {parameter: value} (defaults filled, `self`/`cls` left out) for the input hash."""

    __slots__ = ("defaults", "names", "skip_first", "var_positional")

    def __init__(self, fn: Callable[..., Any]) -> None:
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.names = [p.name for p in params if p.kind in positional]
        self.var_positional = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), "args")
        self.defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
        self.skip_first = bool(self.names) and self.names[0] in ("self", "cls")

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> JSONValue | None:
        bound: dict[str, Any] = dict(zip(self.names, args, strict=False))
        if len(args) > len(self.names):
            bound[self.var_positional] = list(args[len(self.names) :])
        if self.skip_first:
            bound.pop(self.names[0], None)
        bound.update(kwargs)
        for name, default in self.defaults.items():
            bound.setdefault(name, default)
        return normalise(bound) if bound else None


def _begin(
    step: _Step[H], rt: Runtime, binder: _Binder, args: tuple[Any, ...], kwargs: dict[str, Any], attach: bool
) -> H:
    handle = step._start(rt, attach)
    if args or kwargs:
        bound = binder.bind(args, kwargs)
        if bound is not None:
            handle._set_normalised_input(bound)
    return handle


def _wrap_sync(step: _Step[H], fn: Callable[..., Any], binder: _Binder) -> Callable[..., Any]:
    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Any:
        rt = runtime()
        if rt is None:
            return fn(*args, **kwargs)
        handle = _begin(step, rt, binder, args, kwargs, attach=True)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            handle._finish(exc)
            raise
        _record_result(handle, result)
        handle._finish(None)
        return result

    return traced


def _wrap_async(step: _Step[H], fn: Callable[..., Any], binder: _Binder) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        rt = runtime()
        if rt is None:
            return await fn(*args, **kwargs)
        handle = _begin(step, rt, binder, args, kwargs, attach=True)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            handle._finish(exc)
            raise
        _record_result(handle, result)
        handle._finish(None)
        return result

    return traced


def _wrap_gen(step: _Step[H], fn: Callable[..., Any], binder: _Binder) -> Callable[..., Any]:
    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        rt = runtime()
        if rt is None:
            return (yield from fn(*args, **kwargs))
        handle = _begin(step, rt, binder, args, kwargs, attach=False)
        gen = fn(*args, **kwargs)
        resume: Callable[[Any], Any] = gen.send
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                token = otel_context.attach(handle._ctx)
                try:
                    item = resume(value)
                except StopIteration as stop:
                    return stop.value
                finally:
                    otel_context.detach(token)
                try:
                    value = yield item
                    resume = gen.send
                except GeneratorExit:
                    token = otel_context.attach(handle._ctx)
                    try:
                        gen.close()
                    finally:
                        otel_context.detach(token)
                    raise
                except BaseException as exc:  # thrown in by the consumer: pass it on to the wrapped generator
                    resume, value = gen.throw, exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            handle._finish(error)

    return traced


def _wrap_async_gen(step: _Step[H], fn: Callable[..., Any], binder: _Binder) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def traced(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        rt = runtime()
        handle = None if rt is None else _begin(step, rt, binder, args, kwargs, attach=False)
        ctx = None if handle is None else handle._ctx
        agen = fn(*args, **kwargs)
        resume: Callable[[Any], Any] = agen.asend
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                token = None if ctx is None else otel_context.attach(ctx)
                try:
                    item = await resume(value)
                except StopAsyncIteration:
                    return
                finally:
                    if token is not None:
                        otel_context.detach(token)
                try:
                    value = yield item
                    resume = agen.asend
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:
                    resume, value = agen.athrow, exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            if handle is not None:
                handle._finish(error)

    return traced


def _record_result(handle: StepSpan, result: Any) -> None:
    try:
        handle._on_result(result)
    except Exception:  # recording a return value must never turn a successful call into a failed one
        _log.warning("tracehouse: could not record the result of %s", handle._name, exc_info=True)


# --- validation --------------------------------------------------------------------------------------------------


def _check_name(value: Any, what: str) -> str:
    if type(value) is str and value and not value.isspace():
        return value
    if callable(value) and not isinstance(value, str):
        raise TypeError(f'{what}() takes a name first: use @{what}("my-name"), not bare @{what}')
    if not isinstance(value, str):
        raise TypeError(f"{what}() name must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what}() name must not be empty")
    return value


def _check_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    return value


def _check_attempt(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"attempt must be an int (1 for the first attempt), got {value!r}")
    if value < 1:
        raise ValueError(f"attempt counts from 1 (the first attempt), got {value}")
    return value


def _check_parent(parent: Any) -> Context | None:
    if parent is not None and not isinstance(parent, Context):
        raise TypeError(f"parent must be an opentelemetry Context (see extract()), got {type(parent).__name__}")
    return cast(Context | None, parent)


def _optional(attrs: dict[str, AttributeValue], key: str, value: Any, what: str) -> None:
    if value is not None:
        attrs[key] = _check_str(value, what)


def _check_attribute_value(key: Any, value: Any) -> AttributeValue:
    if not isinstance(key, str) or not key:
        raise TypeError(f"attribute names must be non-empty strings, got {key!r}")
    ok = isinstance(value, str | bool | int | float) or (
        isinstance(value, list | tuple) and all(isinstance(v, str | bool | int | float) for v in value)
    )
    if not ok:
        raise TypeError(f"attribute {key!r}: value must be str, bool, int, float or a sequence of them, got {value!r}")
    return cast(AttributeValue, value)


# --- the public factories ----------------------------------------------------------------------------------------


def workflow(
    name: str,
    *,
    attempt: int | None = None,
    conversation_id: str | None = None,
    parent: Context | None = None,
    **attributes: AttributeValue,
) -> _Step[StepSpan]:
    """An `invoke_workflow {name}` span (INTERNAL); extra keyword arguments become span attributes.

    >>> with workflow("research", **{"gen_ai.conversation.id": "c-1"}) as span: ...
    """
    name = _check_name(name, "workflow")
    attrs: dict[str, AttributeValue] = {k: _check_attribute_value(k, v) for k, v in attributes.items()}
    attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_INVOKE_WORKFLOW
    attrs[sc.GEN_AI_AGENT_NAME] = name
    attrs[sc.GEN_AI_WORKFLOW_NAME] = name
    _optional(attrs, sc.GEN_AI_CONVERSATION_ID, conversation_id, "conversation_id")
    if attempt is not None:
        attrs[sc.RETRY_ATTEMPT] = _check_attempt(attempt)
    return _Step(_WORKFLOW, name, f"invoke_workflow {name}", attrs, StepSpan, _check_parent(parent))


def agent(
    name: str,
    *,
    id: str | None = None,
    description: str | None = None,
    version: str | None = None,
    attempt: int | None = None,
    conversation_id: str | None = None,
    parent: Context | None = None,
) -> _Step[StepSpan]:
    """An `invoke_agent {name}` span (INTERNAL); everything started inside it is stamped with the agent's name.

    >>> @agent("planner")
    ... def plan(goal: str) -> list[str]: ...
    """
    name = _check_name(name, "agent")
    attrs: dict[str, AttributeValue] = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT, sc.GEN_AI_AGENT_NAME: name}
    if id is not None or description is not None or version is not None or conversation_id is not None:
        _optional(attrs, sc.GEN_AI_AGENT_ID, id, "id")
        _optional(attrs, sc.GEN_AI_AGENT_DESCRIPTION, description, "description")
        _optional(attrs, sc.GEN_AI_AGENT_VERSION, version, "version")
        _optional(attrs, sc.GEN_AI_CONVERSATION_ID, conversation_id, "conversation_id")
    if attempt is not None:
        attrs[sc.RETRY_ATTEMPT] = _check_attempt(attempt)
    if parent is not None:
        _check_parent(parent)
    return _Step(_AGENT, name, "invoke_agent " + name, attrs, StepSpan, parent)


def tool(
    name: str,
    *,
    call_id: str | None = None,
    description: str | None = None,
    type: str = "function",
    attempt: int | None = None,
    parent: Context | None = None,
) -> _Step[StepSpan]:
    """An `execute_tool {name}` span (INTERNAL); `type` is function, extension or datastore."""
    name = _check_name(name, "tool")
    if type not in _TOOL_TYPES:
        raise ValueError(f"tool type must be one of {sorted(_TOOL_TYPES)}, got {type!r}")
    attrs: dict[str, AttributeValue] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
        sc.GEN_AI_TOOL_NAME: name,
        sc.GEN_AI_TOOL_TYPE: type,
    }
    if call_id is not None or description is not None:
        _optional(attrs, sc.GEN_AI_TOOL_CALL_ID, call_id, "call_id")
        _optional(attrs, sc.GEN_AI_TOOL_DESCRIPTION, description, "description")
    if attempt is not None:
        attrs[sc.RETRY_ATTEMPT] = _check_attempt(attempt)
    if parent is not None:
        _check_parent(parent)
    return _Step(_TOOL, name, "execute_tool " + name, attrs, StepSpan, parent)


# Request parameters llm_call understands, by the name callers use (OpenAI / Anthropic spellings included).
_REQUEST_PARAMS: dict[str, str] = {
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "stop": sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    "stop_sequences": sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "n": sc.GEN_AI_REQUEST_CHOICE_COUNT,
    "choice_count": sc.GEN_AI_REQUEST_CHOICE_COUNT,
    "output_type": sc.GEN_AI_OUTPUT_TYPE,
    "conversation_id": sc.GEN_AI_CONVERSATION_ID,
    "server_address": sc.SERVER_ADDRESS,
    "server_port": sc.SERVER_PORT,
}


def llm_call(
    model: str,
    provider: str,
    *,
    operation: str = sc.OP_CHAT,
    attempt: int | None = None,
    parent: Context | None = None,
    **request_params: Any,
) -> _Step[LLMSpan]:
    """A `{operation} {model}` span (CLIENT) for a model call the application makes itself.

    Request parameters use the provider's names (`temperature=0.2, max_tokens=512, stop=[...]`). Cost is computed
    from the price table at the end of the span, from the usage given to `set_usage`, unless `set_cost` was called.
    """
    model = _check_name(model, "llm_call")
    provider = _check_str(provider, "provider")
    if not provider:
        raise ValueError("llm_call() provider must not be empty (e.g. 'openai', 'anthropic')")
    operation = _check_name(operation, "llm_call operation")
    attrs: dict[str, AttributeValue] = {
        sc.GEN_AI_OPERATION_NAME: operation,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_MODEL: model,
    }
    for key, value in request_params.items():
        attr = _REQUEST_PARAMS.get(key)
        if attr is None:
            known = ", ".join(sorted(_REQUEST_PARAMS))
            raise TypeError(f"llm_call() got an unexpected request parameter {key!r}; known: {known}")
        if value is not None:
            if attr == sc.GEN_AI_REQUEST_STOP_SEQUENCES and isinstance(value, str):
                value = [value]
            attrs[attr] = _check_attribute_value(key, value)
    if attempt is not None:
        attrs[sc.RETRY_ATTEMPT] = _check_attempt(attempt)
    return _Step(_llm_kind(operation), model, f"{operation} {model}", attrs, LLMSpan, _check_parent(parent))


def handoff(
    source: str,
    target: str,
    *,
    reason: str | None = None,
    payload: Any = None,
    attempt: int | None = None,
    parent: Context | None = None,
) -> _Step[StepSpan]:
    """An `execute_tool transfer_to_{target}` span: start the target's `agent(...)` inside it.

    >>> with handoff("triage", "billing", reason="refund request", payload=ticket):
    ...     with agent("billing"):
    ...         ...
    """
    source = _check_name(source, "handoff source")
    target = _check_name(target, "handoff target")
    tool_name = f"{sc.HANDOFF_TOOL_PREFIX}{target}"
    attrs: dict[str, AttributeValue] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
        sc.GEN_AI_TOOL_NAME: tool_name,
        sc.GEN_AI_TOOL_TYPE: "function",
        sc.GEN_AI_AGENT_NAME: source,
        sc.HANDOFF_SOURCE: source,
        sc.HANDOFF_TARGET: target,
    }
    _optional(attrs, sc.HANDOFF_REASON, reason, "reason")
    if attempt is not None:
        attrs[sc.RETRY_ATTEMPT] = _check_attempt(attempt)
    step_input = _UNSET if payload is None else payload
    return _Step(_HANDOFF, tool_name, f"execute_tool {tool_name}", attrs, StepSpan, _check_parent(parent), step_input)


def current_agent() -> str | None:
    """The name of the innermost agent step around the caller (None outside any agent, or with tracing off)."""
    value = otel_context.get_value(AGENT_KEY)
    return value if isinstance(value, str) else None
