"""The README's "Works with" table, made from the corpus: a ✔ only where `test_replay.py` compares that value for
that scenario. `python -m tests.conformance.works_with` prints it; `test_works_with.py` checks the README holds it."""

from __future__ import annotations

from tests.conformance.replay import AGENT_KEYS, KNOWN_GAPS, RECOVERED_AGENTS, TOOL_SPAN_KEYS, Fixture, fixtures

COLUMNS = (
    ("agents", "agents"),
    ("handoffs", "hand-offs / delegations"),
    ("llm_calls", "model calls, tokens, cost"),
    ("tools_executed", "tools run, per agent"),
    ("tools_requested", "tools the model asked for"),
    ("failed_tools", "failed tools"),
)


def _cell(fixture: Fixture, key: str) -> str:
    expected = fixture.expected
    if key in KNOWN_GAPS.get(fixture.name, {}):
        return "✗ " + KNOWN_GAPS[fixture.name][key]
    if key in TOOL_SPAN_KEYS and not expected["emits"]["tool_spans"]:
        return "— no tool spans (the app runs its tools)"
    if key == "agents" and fixture.name in RECOVERED_AGENTS:
        return "✔ " + RECOVERED_AGENTS[fixture.name]
    if (key in AGENT_KEYS or key == "tools_executed") and not (
        expected["emits"]["agent_names"] or fixture.name in RECOVERED_AGENTS
    ):
        return "— no agent names emitted" + (" (tools counted, agent unknown)" if key == "tools_executed" else "")
    if key == "llm_calls" and not expected["emits"]["usage"]:
        return "✔ calls; — no usage emitted"
    return "✔"


def table() -> str:
    head = "| framework | instrumentation | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for fixture in fixtures():
        e = fixture.expected
        cells = " | ".join(_cell(fixture, key) for key, _ in COLUMNS)
        lines.append(f"| {e['framework']} | {e['instrumentation']} (`{fixture.name}`) | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
