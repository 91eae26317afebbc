"""Model calls: the journalled response on resume, else model choice, compaction, a worst-case reservation, the
breaker, the call (sync or on the provider's async client, one plan for both), reconciliation and the journal row.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace as otel_trace
from pydantic import BaseModel

from tracehouse import sdk
from tracehouse.sdk import semconv as sc

from ..breaker import model_breaker_name
from ..budget import ModelChoice, Usage, choose_model
from ..errors import GraphConfigError, is_retryable
from ..events import ModelCalled, ModelTokens
from ..journal import Frame
from ..nodes import Agent
from ..providers.base import ModelRequest, ModelResponse
from ..state import StateSchema
from ..summarise import apply_compaction, check_fits, estimate_tokens, messages_to_summarise, plan_compaction
from ..tools import Tool, output_format
from .tools import ToolUnit

Message = dict[str, Any]


@dataclass(frozen=True)
class ModelOffer:
    """What a model call offers besides the messages: tool schemas and a structured-output format."""

    tools: tuple[dict[str, Any], ...] = ()
    response_format: dict[str, Any] | None = None


NO_OFFER = ModelOffer()


class ModelUnit(ToolUnit):
    """Every model call of a run."""

    def llm(
        self,
        frame: Frame,
        agent: Agent,
        prompt: str | Sequence[Message],
        *,
        system: str | None,
        max_tokens: int,
        temperature: float | None,
        model: str | None,
        role: str | None,
        tools: Sequence[Tool] = (),
        output_type: type[BaseModel] | None = None,
    ) -> ModelResponse:
        planned = self._plan_llm(frame, agent, prompt, system, model, role, tools, output_type)
        if isinstance(planned, ModelResponse):
            return planned
        key, messages, choice, offer = planned
        response = self._call_model(frame, agent, key, messages, choice, max_tokens, temperature, offer)
        self._remember_prompt(frame, messages, response)
        return self._checked(response)

    async def allm(
        self,
        frame: Frame,
        agent: Agent,
        prompt: str | Sequence[Message],
        *,
        system: str | None,
        max_tokens: int,
        temperature: float | None,
        model: str | None,
        role: str | None,
        tools: Sequence[Tool] = (),
        output_type: type[BaseModel] | None = None,
    ) -> ModelResponse:
        """`llm` for async agents, on the provider's async client (a compaction summary still calls it sync)."""
        planned = self._plan_llm(frame, agent, prompt, system, model, role, tools, output_type)
        if isinstance(planned, ModelResponse):
            return planned
        key, messages, choice, offer = planned
        response = await self._acall_model(frame, agent, key, messages, choice, max_tokens, temperature, offer)
        self._remember_prompt(frame, messages, response)
        return self._checked(response)

    def _remember_prompt(self, frame: Frame, messages: list[Message], response: ModelResponse) -> None:
        """Keep the provider's count of the prompt just sent, for the next window check of this conversation."""
        if self.cfg.context is not None and response.input_tokens is not None:
            self.prompt_reports[frame.path] = (len(messages), sdk.content_hash(messages), response.input_tokens)

    def _window_tokens(self, frame: Frame, messages: Sequence[Message]) -> int:
        """The prompt's size against the context window. When it extends the conversation's previous prompt, that
        prompt's tokens as the provider counted them plus the run's tokenizer's count of the messages added since;
        never less than the ~4 characters a token estimate, which alone under-counts JSON-heavy prompts."""
        estimate = estimate_tokens(messages)
        known = self.prompt_reports.get(frame.path)
        if known is None:
            return estimate
        n, digest, reported = known
        if len(messages) < n or sdk.content_hash(list(messages[:n])) != digest:
            return estimate
        added = self.cfg.tokenizer(messages[n:], ()) if len(messages) > n else 0
        return max(estimate, reported + added)

    def _checked(self, response: ModelResponse) -> ModelResponse:
        over = self.ledger.overspend()
        if over is not None:
            raise over
        return response

    def _plan_llm(
        self,
        frame: Frame,
        agent: Agent,
        prompt: str | Sequence[Message],
        system: str | None,
        model: str | None,
        role: str | None,
        tools: Sequence[Tool],
        output_type: type[BaseModel] | None,
    ) -> ModelResponse | tuple[str, list[Message], ModelChoice, ModelOffer]:
        """The journalled response (resume), or what to call: step key, messages, model choice and offer."""
        key, _path = frame.next_key("llm")
        rec = self.records.get(key)
        if rec is not None:
            return ModelResponse.from_dict(self._replay(frame, rec)["response"])
        messages = prompt_messages(prompt, system, frame, agent, self.cfg.schema)
        role_obj = self.cfg.roles.get(role or agent.role or "")
        requested = (
            model
            or (role_obj.ladder[0] if role_obj else None)
            or agent.model
            or self.cfg.default_model
            or self.cfg.provider.default_model
        )
        if requested is None:
            raise GraphConfigError(
                f"agent {agent.name} called ctx.llm without a model: pass model=, set "
                "Agent(model=...), a role, Orchestrator(default_model=...) or the provider's "
                "default_model"
            )
        choice = choose_model(role_obj, requested, self.ledger.fraction())
        if self.cfg.context is not None:
            messages = self._compact(frame, agent, key, messages, choice.chosen)
        offer = ModelOffer(tuple(t.schema for t in tools), None if output_type is None else output_format(output_type))
        return key, messages, choice, offer

    def _compact(self, frame: Frame, agent: Agent, key: str, messages: list[Message], model: str) -> list[Message]:
        """Summarise once per threshold crossing: a conversation that grows after a compaction reuses it (its
        summarised prefix is replaced by the same summary, no model call) until the compacted form crosses the
        threshold again. The summary is journalled under the hash of what it summarises, so a resume reuses it
        only for the same messages."""
        policy = self.cfg.context
        assert policy is not None
        original = messages
        earlier = self.compactions.get(frame.path)
        if earlier is not None:
            covered, digest, compacted_prefix = earlier
            if len(messages) >= covered and sdk.content_hash(messages[:covered]) == digest:
                messages = [*compacted_prefix, *messages[covered:]]

        def count(candidate: Sequence[Message]) -> int:
            return self._window_tokens(frame, candidate)

        span_range = plan_compaction(messages, policy, count)
        if span_range is None:
            check_fits(messages, policy, count)
            return messages
        old = messages_to_summarise(messages, span_range)
        source_hash = sdk.content_hash(old)
        skey, _ = frame.next_key(f"summary:{source_hash[:16]}")
        rec = self.records.get(skey)
        if rec is not None:
            text = ModelResponse.from_dict(self._replay(frame, rec)["response"]).text
        else:
            prompt = [
                {"role": "system", "content": "Summarise this conversation; keep every fact and decision."},
                {"role": "user", "content": "\n".join(f"{m['role']}: {m['content']}" for m in old)},
            ]
            summary_model = policy.summary_model or model
            text = self._call_model(
                frame,
                agent,
                skey,
                prompt,
                ModelChoice(summary_model, summary_model, 0, False, self.ledger.fraction()),
                max(policy.window // 8, 64),
                0.0,
            ).text
        compacted, record = apply_compaction(messages, policy, span_range, text, source_hash, count)
        self.compactions[frame.path] = (len(original), sdk.content_hash(original), compacted)
        current = otel_trace.get_current_span()
        current.add_event(
            sc.EVENT_COMPACTION,
            {
                sc.COMPACTION_BEFORE_TOKENS: record.before_tokens,
                sc.COMPACTION_AFTER_TOKENS: record.after_tokens,
                "tracehouse.compaction.covers": [record.covers[0], record.covers[1]],
                "tracehouse.compaction.source_hash": record.source_hash,
                "tracehouse.compaction.truncated": record.truncated,
            },
        )
        return compacted

    def _call_model(
        self,
        frame: Frame,
        agent: Agent,
        key: str,
        messages: list[Message],
        choice: ModelChoice,
        max_tokens: int,
        temperature: float | None,
        offer: ModelOffer = NO_OFFER,
    ) -> ModelResponse:
        steps = self._model_steps(frame, agent, key, messages, choice, max_tokens, temperature, offer)
        try:
            step = next(steps)
            while True:
                if isinstance(step, ModelRequest):
                    try:
                        response = self.cfg.provider.complete(step)
                    except BaseException as exc:
                        step = steps.throw(exc)
                        continue
                    step = steps.send(response)
                else:
                    self.cfg.clock.sleep(step)
                    step = steps.send(None)
        except StopIteration as done:
            return done.value

    async def _acall_model(
        self,
        frame: Frame,
        agent: Agent,
        key: str,
        messages: list[Message],
        choice: ModelChoice,
        max_tokens: int,
        temperature: float | None,
        offer: ModelOffer = NO_OFFER,
    ) -> ModelResponse:
        """`_call_model` on the provider's async client: no thread per call, so async branches are not capped."""
        steps = self._model_steps(frame, agent, key, messages, choice, max_tokens, temperature, offer)
        try:
            step = next(steps)
            while True:
                if isinstance(step, ModelRequest):
                    try:
                        response = await self.cfg.provider.acomplete(step)
                    except BaseException as exc:
                        step = steps.throw(exc)
                        continue
                    step = steps.send(response)
                else:
                    await self.cfg.clock.asleep(step)
                    step = steps.send(None)
        except StopIteration as done:
            return done.value

    def _model_steps(
        self,
        frame: Frame,
        agent: Agent,
        key: str,
        messages: list[Message],
        choice: ModelChoice,
        max_tokens: int,
        temperature: float | None,
        offer: ModelOffer,
    ) -> Generator[ModelRequest | float, ModelResponse | None, ModelResponse]:
        """One model call as a plan: it yields the request to send (and gets the response back, or the error thrown
        in) and the seconds to wait before a retry; `_call_model` and `_acall_model` carry it out. One body for the
        budget, breaker, retry, span and journal logic, whichever way the provider is called."""
        provider = self.cfg.provider
        breaker = self.cfg.breakers.get(model_breaker_name(provider.name, choice.chosen))
        policy = self.cfg.retry
        prompt_tokens = self.cfg.tokenizer(messages, offer.tools)
        finalize = frame.finalize or agent.finalize
        attempt = 0
        while True:
            attempt += 1
            self.check_deadline()
            seen = len(breaker.transitions)
            state = breaker.before_call()
            reservation = self.ledger.reserve(choice.chosen, prompt_tokens, max_tokens, finalize=finalize)
            if attempt == 1:
                self.retry_budget.record_first_attempt()
            self._account(frame, Usage(model_calls=1, first_attempts=int(attempt == 1)))
            started = self.cfg.clock.now()
            try:
                with sdk.llm_call(
                    choice.chosen, provider.name, attempt=attempt, max_tokens=max_tokens, temperature=temperature
                ) as span:
                    self._breaker_events(span, breaker, seen)
                    span.set_attributes(
                        {
                            sc.STEP_KEY: key,
                            sc.BREAKER_STATE: state,
                            sc.RETRY_BUDGET_REMAINING: self.retry_budget.remaining(),
                            sc.BUDGET_PROMPT_ESTIMATE: reservation.prompt_tokens,
                        }
                    )
                    if choice.switched:
                        span.set_attributes(
                            {
                                sc.MODEL_TIER_SWITCH: True,
                                sc.MODEL_REQUESTED: choice.requested,
                                sc.BUDGET_FRACTION: choice.fraction,
                            }
                        )
                    span.set_input(messages)
                    request = ModelRequest(
                        choice.chosen,
                        messages,
                        max_tokens,
                        temperature,
                        self._timeout(),
                        agent.name,
                        tools=offer.tools,
                        response_format=offer.response_format,
                        on_token=self._token_sink(agent.name, choice.chosen),
                    )
                    self.new_calls += 1
                    try:
                        answer = yield request
                        assert answer is not None
                        response = answer
                    except BaseException as exc:
                        self.ledger.release(reservation)
                        seen = len(breaker.transitions)
                        if is_retryable(exc):
                            breaker.on_failure(getattr(exc, "retry_after_s", None))
                        self._breaker_events(span, breaker, seen)
                        raise
                    usage, cost = self._usage_of(span, choice.chosen, response, reservation.prompt_tokens, max_tokens)
                    self.ledger.settle(reservation, usage, response.input_tokens)
                    seen = len(breaker.transitions)
                    breaker.on_success(self.cfg.clock.now() - started)
                    self._breaker_events(span, breaker, seen)
                    span.set_usage(
                        input_tokens=response.input_tokens,
                        output_tokens=response.output_tokens,
                        cache_read_tokens=response.cache_read_tokens,
                    )
                    span.set_response(model=response.model, id=response.id, finish_reasons=[response.finish_reason])
                    if cost is not None:
                        span.set_cost(cost)
                    span.set_output(response.text)
                    self._budget_attrs(span)
                    self._account(frame, usage)
                    self.commit(
                        frame,
                        key=key,
                        name=f"chat {choice.chosen}",
                        kind="llm",
                        writes=[],
                        output={"response": response.as_dict()},
                        attempt=attempt,
                        checkpoint=False,
                        usage=Usage(
                            model_calls=attempt,
                            input_tokens=usage.input_tokens,
                            output_tokens=usage.output_tokens,
                            cost_usd=usage.cost_usd,
                            first_attempts=1,
                            retries=attempt - 1,
                        ),
                    )
                    self.emit(
                        ModelCalled(
                            agent.name,
                            choice.chosen,
                            response.text,
                            tuple(c.name for c in response.tool_calls),
                            usage.input_tokens,
                            usage.output_tokens,
                            cost,
                        )
                    )
                    return response
            except Exception as exc:
                wait = self._retry_wait(exc, attempt, policy, breaker, self.cfg.clock.now() - started)
                self._account(frame, Usage(retries=1))
                yield wait

    def _token_sink(self, agent: str, model: str) -> Callable[[str], None] | None:
        """Where a streaming provider sends text deltas: the stream's consumer, when the run is streamed."""
        if self.sink is None:
            return None
        return lambda delta: self.emit(ModelTokens(agent, model, delta))

    def _usage_of(
        self, span: sdk.LLMSpan, model: str, response: ModelResponse, prompt_estimate: int, max_tokens: int
    ) -> tuple[Usage, float | None]:
        """What a call consumed, by the provider's report; without one, the reserved worst case (flagged on the
        span). The cost is None for an unpriced model, which its span says instead of claiming $0."""
        if response.input_tokens is None or response.output_tokens is None:
            span.set_attribute(sc.USAGE_ESTIMATED, True)
        inp = response.input_tokens if response.input_tokens is not None else prompt_estimate
        out = response.output_tokens if response.output_tokens is not None else max_tokens
        cost = self.ledger.prices.cost(model, inp, out, response.cache_read_tokens, fallback_model=response.model)
        if cost is None:
            span.set_attribute(sc.COST_UNPRICED, True)
        return Usage(input_tokens=inp, output_tokens=out, cost_usd=cost or 0.0), cost


def prompt_messages(
    prompt: str | Sequence[Message], system: str | None, frame: Frame, agent: Agent, schema: StateSchema
) -> list[Message]:
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": system})
    pinned = {k: frame.scope.state[k] for k in schema.pinned() if k in frame.scope.state}
    if pinned:
        out.append(
            {"role": "system", "content": "Pinned state: " + sdk.canonical_json(pinned).decode(), "pinned": True}
        )
    if isinstance(prompt, str):
        out.append({"role": "user", "content": prompt})
    else:
        out.extend(dict(m) for m in prompt)
    return out
