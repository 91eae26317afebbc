"""`tracehouse demo`: example multi-agent workflows on the scripted fake provider, traced to a tracehouse server.

Four clean runs (a research supervisor, a support router, a parallel fan-out, a state machine) and four with a
fault planted on purpose (a hand-off loop, duplicate work between two agents, a retry storm, a cost cap), each one
trace with its own workflow name. No network except OTLP to the endpoint; finishes in a few seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracehouse import sdk

from .breaker import BreakerConfig, BreakerRegistry
from .budget import Limits, Role
from .contracts import HandoffContract
from .core import Orchestrator
from .loops import LoopPolicy
from .nodes import Agent, Handoff, Node, Result
from .patterns import FanOut, Route, Router, Sequential, StateMachine, Supervisor, Swarm, Task
from .providers.fake import FakeProvider, Scripted, fail
from .retry import RetryBudgetConfig, RetryPolicy
from .runtime import AgentContext
from .state import Key, StateSchema

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"


@dataclass(frozen=True)
class DemoRun:
    """One demo workflow run: its trace, how it ended, and the fault planted in it (None for a clean run)."""

    workflow: str
    trace_id: str
    status: str
    fault: str | None
    error: str | None = None


@dataclass
class DemoReport:
    endpoint: str
    runs: list[DemoRun] = field(default_factory=list)

    def url(self, run: DemoRun) -> str:
        return f"{self.endpoint.rstrip('/')}/traces/{run.trace_id}"


def _reply(text: str, out_tokens: int = 60, latency_s: float | None = None) -> Scripted:
    # Latency grows with the answer, as a real model's does, so the demo's waterfalls look like real ones.
    latency = 0.02 + out_tokens * 0.0005 if latency_s is None else latency_s
    return Scripted(text=text, output_tokens=out_tokens, latency_s=latency)


def _breakers() -> BreakerRegistry:
    return BreakerRegistry(BreakerConfig(consecutive_failures=50, min_calls=1000))


def _orch(name: str, flow: Node, provider: FakeProvider, **kwargs: Any) -> Orchestrator:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, base_s=0.005, cap_s=0.05))
    kwargs.setdefault("breakers", _breakers())
    return Orchestrator(name, flow, provider=provider, **kwargs)


# --- clean: research supervisor ----------------------------------------------------------------------------------


def _research() -> Orchestrator:
    provider = FakeProvider(
        {
            "research_lead": [
                _reply("plan: market size, regulation, competitors", 40),
                _reply("Report: the tidal-energy market grows 14%/yr; permits are the bottleneck.", 120),
            ],
            "market_researcher": [_reply("Market: 2.1 GW installed, 14% CAGR", 80)],
            "policy_researcher": [_reply("Regulation: permits take 3-5 years in the EU", 70)],
            "competitor_analyst": [_reply("Competitors: Orbital, SIMEC Atlantis, Minesto", 70)],
        }
    )

    def specialist(name: str, key: str, tool_name: str) -> Agent:
        def run(ctx: AgentContext) -> dict[str, Any]:
            question = ctx.input["question"]
            found = ctx.tool(
                tool_name, lambda query: {"hits": [f"{query} / source {i}" for i in range(3)]}, {"query": question}
            )
            answer = ctx.llm(
                f"As {name}, answer '{question}' using {found['hits']}", system=f"You are {name}.", max_tokens=200
            )
            return {key: answer.text}

        return Agent(name, run, writes=[key], description=f"{name} specialist")

    specialists = [
        specialist("market_researcher", "market", "market_data"),
        specialist("policy_researcher", "policy", "regulation_search"),
        specialist("competitor_analyst", "competitors", "company_search"),
    ]

    def plan(ctx: AgentContext) -> list[Task]:
        ctx.llm(
            f"Decompose the research goal: {ctx.state['goal']}", system="You are the research lead.", max_tokens=120
        )
        return [
            Task("market_researcher", {"question": "How big is the tidal energy market?"}, "market sizing"),
            Task("policy_researcher", {"question": "Which permits does a tidal farm need in the EU?"}, "regulation"),
            Task("competitor_analyst", {"question": "Who builds tidal turbines today?"}, "competition"),
        ]

    def synthesize(ctx: AgentContext, results: list[tuple[Task, Any]]) -> Result:
        findings = "; ".join(str(out) for _, out in results)
        report = ctx.llm(
            f"Write the final report from: {findings}", system="You are the research lead.", max_tokens=400
        )
        return Result(writes={"report": report.text}, output=report.text)

    lead = Supervisor(
        "research_lead",
        plan,
        specialists,
        synthesize=synthesize,
        validate=lambda task, out: bool(out),
        writes=["report"],
        reads=["goal"],
    )
    schema = StateSchema({"goal": Key(pinned=True)})
    return _orch("demo.research", lead, provider, schema=schema, limits=Limits(max_cost_usd=1.0, max_steps=40))


# --- clean: support router ---------------------------------------------------------------------------------------


def _support_router() -> Orchestrator:
    provider = FakeProvider(
        {
            "triage": [_reply('{"intent": "billing", "why": "mentions a double charge"}', 20)],
            "billing_agent": [_reply("Refund of 49.00 EUR issued for invoice INV-2291.", 60)],
        }
    )

    def classify(ctx: AgentContext) -> Route:
        reply = ctx.llm(
            f"Classify this ticket: {ctx.input['ticket']}", system="Intents: billing, tech, account.", max_tokens=30
        )
        return Route("billing" if "billing" in reply.text else "tech", "model classified the ticket as billing")

    def billing(ctx: AgentContext) -> dict[str, Any]:
        invoice = ctx.tool(
            "lookup_invoice",
            lambda customer: {"invoice": "INV-2291", "amount": 49.0},
            {"customer": ctx.input["customer"]},
        )
        reply = ctx.llm(f"Resolve a double charge on {invoice}", system="You are billing support.", max_tokens=120)
        return {"resolution": reply.text}

    def tech(ctx: AgentContext) -> dict[str, Any]:
        return {"resolution": ctx.llm(f"Fix: {ctx.input['ticket']}", max_tokens=120).text}

    router = Router(
        "triage",
        classify,
        {
            "billing": Agent("billing_agent", billing, writes=["resolution"]),
            "tech": Agent("tech_agent", tech, writes=["resolution"]),
        },
        by="model",
    )
    contract = HandoffContract(
        "triage", "billing_agent", payload_schema={"ticket": str, "customer": str}, obligations=["resolution"]
    )
    return _orch("demo.support_router", router, provider, contracts=[contract], limits=Limits(max_handoff_hops=3))


# --- clean: parallel fan-out -------------------------------------------------------------------------------------


def _fanout() -> Orchestrator:
    regions = ["europe", "north_america", "asia_pacific", "latin_america"]
    provider = FakeProvider(
        {
            **{f"{r}_analyst": [_reply(f"{r}: demand up, supply tight", 50, 0.02)] for r in regions},
            "synthesizer": [_reply("Global: demand up in all four regions; supply is the constraint.", 90)],
        }
    )

    def analyst(region: str) -> Agent:
        def run(ctx: AgentContext) -> dict[str, Any]:
            prices = ctx.tool(
                "price_feed", lambda region: {"region": region, "index": 100 + len(region)}, {"region": region}
            )
            note = ctx.llm(f"Analyse copper demand in {region} given {prices}", max_tokens=150)
            return {"notes": {region: note.text}}

        return Agent(f"{region}_analyst", run, writes=["notes"])

    def synthesize(ctx: AgentContext) -> dict[str, Any]:
        summary = ctx.llm(f"Combine regional notes: {sorted(ctx.state['notes'])}", max_tokens=200)
        return {"summary": summary.text}

    flow = FanOut(
        "regional_scan",
        [analyst(r) for r in regions],
        aggregate=Agent("synthesizer", synthesize, reads=["notes"], writes=["summary"]),
    )
    return _orch("demo.fanout", flow, provider, schema=StateSchema({"notes": Key("merge_dict")}))


# --- clean: state machine ----------------------------------------------------------------------------------------


def _state_machine() -> Orchestrator:
    provider = FakeProvider(
        {
            "drafter": [_reply("Draft v1: tidal power explained", 80), _reply("Draft v2: tidal power, with costs", 90)],
            "critic": [_reply("REVISE: add cost figures", 20), _reply("APPROVE", 5)],
            "publisher": [_reply("Published at /posts/tidal-power", 15)],
        }
    )

    def draft(ctx: AgentContext) -> dict[str, Any]:
        version = ctx.state.get("version", 0) + 1
        feedback = ctx.state.get("feedback", "none")
        text = ctx.llm(f"Write draft {version} about tidal power; feedback so far: {feedback}", max_tokens=300)
        return {"draft": text.text, "version": version}

    def critique(ctx: AgentContext) -> dict[str, Any]:
        verdict = ctx.llm(f"Critique draft {ctx.state['version']}: {ctx.state['draft']}", max_tokens=50)
        return {"feedback": verdict.text}

    def publish(ctx: AgentContext) -> dict[str, Any]:
        url = ctx.tool(
            "publish_post",
            lambda title, body, effect_key: "/posts/tidal-power",
            {"title": "Tidal power", "body": ctx.state["draft"]},
            side_effect=True,
        )
        return {"url": url}

    def choose(state: Any, current: str, output: Any) -> str | None:
        if current == "draft":
            return "critique"
        if current == "critique":
            return "publish" if state["feedback"].startswith("APPROVE") else "draft"
        return None

    machine = StateMachine(
        "editorial",
        {
            "draft": Agent("drafter", draft, reads=["version", "feedback"], writes=["draft", "version"]),
            "critique": Agent("critic", critique, reads=["version", "draft"], writes=["feedback"]),
            "publish": Agent("publisher", publish, reads=["draft"], writes=["url"]),
        },
        {"draft": ["critique"], "critique": ["draft", "publish"], "publish": []},
        choose,
        start="draft",
        max_steps=8,
    )
    return _orch("demo.state_machine", machine, provider)


# --- planted: hand-off loop --------------------------------------------------------------------------------------


def _handoff_loop() -> Orchestrator:
    provider = FakeProvider(
        {
            "billing_agent": [_reply("This looks like a refund question; transferring to refunds.", 20)],
            "refunds_agent": [_reply("This is about an invoice; transferring to billing.", 20)],
        }
    )

    def billing(ctx: AgentContext) -> Handoff:
        ctx.llm(f"Ticket: {ctx.input['ticket']}. Can billing resolve it?", max_tokens=40)
        return Handoff("refunds_agent", ctx.input, "refund question")

    def refunds(ctx: AgentContext) -> Handoff:
        ctx.llm(f"Ticket: {ctx.input['ticket']}. Can refunds resolve it?", max_tokens=40)
        return Handoff("billing_agent", ctx.input, "invoice question")

    swarm = Swarm(
        "support_swarm",
        [
            Agent("billing_agent", billing, handoffs=["refunds_agent"]),
            Agent("refunds_agent", refunds, handoffs=["billing_agent"]),
        ],
        start="billing_agent",
    )
    return _orch(
        "demo.handoff_loop",
        swarm,
        provider,
        limits=Limits(max_handoff_hops=8),
        loop_policy=LoopPolicy(handoff_cycle_repeats=4),
    )


# --- planted: duplicate work -------------------------------------------------------------------------------------


def _duplicate_work() -> Orchestrator:
    digest = _reply("ACME 2025: revenue 1.2 bn USD, margin 14 %, guidance raised", 180)
    provider = FakeProvider(
        {
            "market_researcher": [digest, _reply("ACME revenue 2025: 1.2 bn USD", 40)],
            "investor_analyst": [digest, _reply("ACME is fairly valued at 1.2 bn revenue", 40)],
            "writer": [_reply("ACME brief: revenue 1.2 bn USD, fairly valued.", 60)],
        }
    )

    def search(query: str) -> dict[str, Any]:
        return {"results": [f"{query}: annual report", f"{query}: press release"]}

    def researcher(name: str, key: str, angle: str) -> Agent:
        def run(ctx: AgentContext) -> dict[str, Any]:
            # Both agents run the very same search and digest it with the very same prompt: the duplicate work
            # planted in this run (dedup is off), and the digest's tokens are what it wastes.
            hits = ctx.tool("web_search", search, {"query": "ACME Corp annual revenue 2025"})
            notes = ctx.llm(f"Digest these search results: {hits['results']}", max_tokens=400).text
            return {key: ctx.llm(f"{angle}: {notes}", max_tokens=100).text}

        return Agent(name, run, writes=[key])

    def write(ctx: AgentContext) -> dict[str, Any]:
        return {
            "brief": ctx.llm(f"Brief from {ctx.state['revenue']} and {ctx.state['valuation']}", max_tokens=150).text
        }

    flow = Sequential(
        "acme_brief",
        [
            researcher("market_researcher", "revenue", "Extract the revenue"),
            researcher("investor_analyst", "valuation", "Judge the valuation"),
            Agent("writer", write, reads=["revenue", "valuation"], writes=["brief"]),
        ],
    )
    return _orch("demo.duplicate_work", flow, provider)


# --- planted: retry storm ----------------------------------------------------------------------------------------


def _retry_storm() -> Orchestrator:
    flaky = [fail(503, "upstream overloaded")] * 7 + [_reply("Feed summary: 12 new items", 50)]
    provider = FakeProvider({"feed_summarizer": flaky, "publisher": [_reply("Posted the digest", 10)]})
    attempts = {"n": 0}

    def fetch_feed(source: str) -> dict[str, Any]:
        attempts["n"] += 1
        if attempts["n"] % 3 != 0:
            raise ConnectionError(f"{source}: connection reset")
        return {"items": 12}

    def summarize(ctx: AgentContext) -> dict[str, Any]:
        feed = ctx.tool("fetch_feed", fetch_feed, {"source": f"rss://news/{ctx.attempt}"})
        return {"digest": ctx.llm(f"Summarise {feed['items']} items", max_tokens=120).text}

    def post(ctx: AgentContext) -> dict[str, Any]:
        return {"posted": ctx.llm(f"Post the digest: {ctx.state['digest']}", max_tokens=30).text}

    # Agent-level retries on top of model- and tool-level retries: the nested layers multiply attempts.
    flow = Sequential(
        "digest",
        [
            Agent("feed_summarizer", summarize, writes=["digest"], retry=RetryPolicy(max_attempts=3, base_s=0.005)),
            Agent("publisher", post, reads=["digest"], writes=["posted"]),
        ],
    )
    return _orch("demo.retry_storm", flow, provider, retry_budget=RetryBudgetConfig(min_retries=30, ratio=1.0))


# --- planted: cost cap -------------------------------------------------------------------------------------------


def _cost_cap() -> Orchestrator:
    topics = ["batteries", "hydrogen", "solar", "wind", "nuclear", "geothermal"]
    provider = FakeProvider(
        {
            **{
                f"{t}_analyst": [Scripted(f"{t}: long analysis", input_tokens=3000, output_tokens=1500, latency_s=0.01)]
                for t in topics
            },
            "editor": [_reply("Summary of whatever analyses finished", 100)],
        }
    )

    def analyst(topic: str) -> Agent:
        def run(ctx: AgentContext) -> dict[str, Any]:
            deep = ctx.llm(f"Write a deep-dive on {topic} storage economics", max_tokens=1500, role="analyst")
            return {"analyses": {topic: deep.text}}

        return Agent(f"{topic}_analyst", run, writes=["analyses"], role="analyst")

    def edit(ctx: AgentContext) -> dict[str, Any]:
        return {"summary": ctx.llm(f"Summarise {sorted(ctx.state['analyses'])}", max_tokens=200).text}

    flow = Sequential(
        "energy_review",
        [
            FanOut("deep_dives", [analyst(t) for t in topics], max_concurrency=2),
            Agent("editor", edit, reads=["analyses"], writes=["summary"], finalize=True),
        ],
    )
    return _orch(
        "demo.cost_cap",
        flow,
        provider,
        roles=[Role("analyst", ["fake-large", "fake-small"])],
        schema=StateSchema({"analyses": Key("merge_dict")}),
        limits=Limits(max_cost_usd=0.08),
    )


WORKFLOWS: list[tuple[Callable[[], Orchestrator], dict[str, Any], str | None]] = [
    (_research, {"goal": "Is tidal energy worth investing in?"}, None),
    (_support_router, {"ticket": "I was charged twice for March", "customer": "c-1042"}, None),
    (_fanout, {"commodity": "copper"}, None),
    (_state_machine, {"topic": "tidal power"}, None),
    (_handoff_loop, {"ticket": "Why was I charged a late fee after my refund?"}, "handoff_loop"),
    (_duplicate_work, {"company": "ACME Corp"}, "duplicate_work"),
    (_retry_storm, {"feed": "news"}, "retry_storm"),
    (_cost_cap, {"question": "Which storage technology wins by 2030?"}, "cost_cap"),
]


def run_demo(
    endpoint: str = DEFAULT_ENDPOINT,
    api_key: str | None = None,
    *,
    echo: Callable[[str], None] | None = print,
    init_sdk: bool = True,
) -> DemoReport:
    """Run every demo workflow, send the traces to `endpoint`, flush, and report where to look.

    With `init_sdk` (the default) it initialises the SDK for `endpoint` and shuts it down at the end; an application
    that set up tracing itself passes `init_sdk=False`.
    """
    api_key = api_key if api_key is not None else os.environ.get("TRACEHOUSE_API_KEY")
    if init_sdk:
        sdk.init(endpoint=endpoint, api_key=api_key, service_name="tracehouse-demo")
    report = DemoReport(endpoint)
    for build, inputs, fault in WORKFLOWS:
        orch = build()
        result = orch.run(inputs)
        error = None if result.error is None else f"{type(result.error).__name__}: {result.error}"
        report.runs.append(DemoRun(orch.name, result.trace_id, result.status, fault, error))
        orch.store.close()
    flushed = sdk.force_flush()
    if init_sdk:  # what this call set up, it takes down (a later run_demo may send elsewhere)
        sdk.shutdown()
    if echo is not None:
        _print_report(report, echo, flushed)
    return report


def _print_report(report: DemoReport, echo: Callable[[str], None], flushed: bool) -> None:
    echo(
        f"tracehouse demo: {len(report.runs)} workflow runs sent to {report.endpoint}"
        + ("" if flushed else " (the exporter did not confirm the flush: is the server running?)")
    )
    for run in report.runs:
        planted = f"planted fault: {run.fault}" if run.fault else "clean"
        ended = run.status if run.error is None else f"{run.status} ({run.error.split(':')[0]})"
        echo(f"  {run.workflow:<22} {planted:<30} {ended:<34} {report.url(run)}")
    echo(f"Agents: {report.endpoint.rstrip('/')}/agents")
