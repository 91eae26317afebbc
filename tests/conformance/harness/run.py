"""Regenerate conformance fixtures: run a scenario's real app against the fake model and capture its real exports.

    python tests/conformance/harness/run.py SCENARIO [SCENARIO ...]
    python tests/conformance/harness/run.py --all
    python tests/conformance/harness/run.py --table      # only rewrite the README's table from the fixtures
    python tests/conformance/harness/run.py --expected-only SCENARIO  # rewrite expected.json from the committed
                                                         # logs (after editing STRUCTURE), without running the app

For each scenario (`tests/conformance/scenarios/NAME/`): create or reuse the venv `.conformance/venvs/NAME`
(reinstalled when requirements.txt changes), start the fake OpenAI server (answers from the scenario's
`script.py`) and the OTLP capture receiver, run the scenario's `run.py` in that venv with OPENAI_BASE_URL /
OPENAI_API_KEY / OTEL_EXPORTER_OTLP_* pointing at them, stop both, then write `tests/conformance/fixtures/NAME/`:
`requests/NNNN.pb` (and `logs/NNNN.pb`), `calls.jsonl`, `tools.jsonl`, `expected.json` and `versions.txt`.

A scenario's `script.py` (loaded here, in the harness's interpreter) defines:
    respond(req: ModelRequest) -> Reply    the fake model's policy (see fake_openai.py)
    FRAMEWORK, INSTRUMENTATION             distribution names; their installed versions are added from pip freeze
                                           (write "native" as INSTRUMENTATION when the framework emits by itself)
    CONVENTION                             genai-latest | genai-1.36 | openinference | openllmetry | ...
    STRUCTURE                              the scenario's structure: agents, handoffs, traces, emits, notes and
                                           (optional) planted; tools_executed / failed_tools only for an app that
                                           does not record its tools through app_support.tool_run
    ENV (optional)                         extra environment for the app

Everything in expected.json that is a count comes from the run itself: model calls, tokens, models, calls per agent
and tools requested from the fake server's log (calls.jsonl); tools executed and failed from the app's own record
(tools.jsonl). Nothing is read from tracehouse.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

HARNESS = Path(__file__).resolve().parent
sys.path.insert(0, str(HARNESS))

from capture import Capture  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

CORPUS = HARNESS.parent
SCENARIOS = CORPUS / "scenarios"
FIXTURES = CORPUS / "fixtures"
ROOT = CORPUS.parent.parent
WORK = ROOT / ".conformance"
APP_TIMEOUT_S = 180
TABLE_START, TABLE_END = "<!-- corpus-table:start -->", "<!-- corpus-table:end -->"

# Keys a script may not declare: they are counted from the run.
COUNTED = ("llm_calls", "input_tokens", "output_tokens", "models", "llm_calls_by_agent", "tools_requested")
STRUCTURE_KEYS = {"agents", "handoffs", "traces", "emits", "notes", "planted", "tools_executed", "failed_tools"}

# Keep frameworks' own phone-home telemetry off: the only network a scenario may reach is the two loopback servers.
QUIET_ENV = {
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "false",
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "TRACELOOP_TELEMETRY": "false",
    "HF_HUB_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "PYTHONUNBUFFERED": "1",
}


def scenario_names() -> list[str]:
    return sorted(p.name for p in SCENARIOS.iterdir() if (p / "run.py").is_file() and not p.name.startswith("_"))


def load_script(name: str) -> ModuleType:
    path = SCENARIOS / name / "script.py"
    if str(SCENARIOS) not in sys.path:
        sys.path.insert(0, str(SCENARIOS))
    spec = importlib.util.spec_from_file_location(f"conformance_script_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{name}: no script.py at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in ("respond", "FRAMEWORK", "INSTRUMENTATION", "CONVENTION", "STRUCTURE"):
        if not hasattr(module, attr):
            raise SystemExit(f"{name}: script.py does not define {attr}")
    bad = set(module.STRUCTURE) - STRUCTURE_KEYS
    if bad:
        raise SystemExit(f"{name}: STRUCTURE may not declare {sorted(bad)} (counted ones come from the run)")
    return module


def ensure_venv(name: str, python: str) -> Path:
    """The scenario's venv, (re)installed from its pinned requirements when they changed since the last install."""
    venv = WORK / "venvs" / name
    reqs = SCENARIOS / name / "requirements.txt"
    digest = hashlib.sha256(reqs.read_bytes()).hexdigest()
    marker = venv / ".requirements.sha256"
    if marker.is_file() and marker.read_text() == digest:
        return venv
    print(f"[{name}] installing {reqs.relative_to(ROOT)} into {venv.relative_to(ROOT)}", flush=True)
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(reqs)], check=True)
    marker.write_text(digest)
    return venv


def app_env(name: str, script: ModuleType, fake: FakeOpenAI, cap: Capture, run_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_", "TRACELOOP_", "VIRTUAL_ENV"))}
    env.update(QUIET_ENV)
    env.update(
        {
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "sk-conformance-fake",
            "OTEL_EXPORTER_OTLP_ENDPOINT": cap.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": name,
            "CONFORMANCE_SCENARIO": name,
            "CONFORMANCE_TOOL_LOG": str(run_dir / "tools.jsonl"),
            "PYTHONPATH": os.pathsep.join([str(SCENARIOS), str(HARNESS)]),
        }
    )
    env.update(getattr(script, "ENV", {}))
    return env


def freeze(venv: Path) -> list[str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout
    return sorted((line for line in out.splitlines() if "==" in line), key=str.lower)


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def with_version(dist: str, pins: list[str]) -> str:
    """'openai-agents' -> 'openai-agents 0.24.0' from the venv's freeze; other text (e.g. 'native') unchanged."""
    versions = {_norm(p.split("==")[0]): p.split("==")[1] for p in pins}
    return f"{dist} {versions[_norm(dist)]}" if _norm(dist) in versions else dist


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def expected(
    name: str, script: ModuleType, calls: list[dict[str, Any]], tools: list[dict[str, Any]], pins: list[str]
) -> dict[str, Any]:
    """expected.json: counts from the two logs, structure from the script."""
    structure = dict(script.STRUCTURE)
    by_agent = Counter(c["agent"] for c in calls)
    requested = Counter(tc["name"] for c in calls for tc in c["tool_calls"])
    if tools:
        executed: dict[str, Counter[str]] = {}
        for t in tools:
            executed.setdefault(t["agent"], Counter())[t["tool"]] += 1
        structure["tools_executed"] = {a: dict(sorted(c.items())) for a, c in sorted(executed.items())}
        structure["failed_tools"] = dict(sorted(Counter(t["tool"] for t in tools if t["failed"]).items()))
    out: dict[str, Any] = {
        "scenario": name,
        "framework": with_version(script.FRAMEWORK, pins),
        "instrumentation": with_version(script.INSTRUMENTATION, pins),
        "convention": script.CONVENTION,
        "traces": structure["traces"],
        "llm_calls": len(calls),
        "input_tokens": sum(c["input_tokens"] or 0 for c in calls),
        "output_tokens": sum(c["output_tokens"] or 0 for c in calls),
        "models": sorted({c["model"] for c in calls}),
        "agents": structure["agents"],
        "llm_calls_by_agent": dict(sorted(by_agent.items())),
        "tools_executed": structure.get("tools_executed", {}),
        "tools_requested": dict(sorted(requested.items())),
        "handoffs": structure["handoffs"],
        "failed_tools": structure.get("failed_tools", {}),
        "emits": structure["emits"],
        "planted": structure.get("planted", {}),
        "notes": structure.get("notes", ""),
    }
    strangers = (set(by_agent) | set(out["tools_executed"])) - set(out["agents"])
    if strangers:
        raise SystemExit(f"{name}: calls or tools by agents not in STRUCTURE['agents']: {sorted(strangers)}")
    return out


def rewrite_expected(name: str) -> None:
    """expected.json again from the fixture's own logs and versions and the current script: no app run."""
    fixture = FIXTURES / name
    pins = [line for line in (fixture / "versions.txt").read_text().splitlines() if "==" in line]
    calls, tools = read_jsonl(fixture / "calls.jsonl"), read_jsonl(fixture / "tools.jsonl")
    exp = expected(name, load_script(name), calls, tools, pins)
    (fixture / "expected.json").write_text(json.dumps(exp, indent=2, ensure_ascii=False) + "\n")
    print(f"[{name}] expected.json rewritten from the committed logs")


def check_traces(name: str, venv: Path, fixture: Path, declared: int) -> None:
    """Warn (loudly) when the captured requests hold a different number of trace ids than the structure says."""
    res = subprocess.run(
        [str(venv / "bin" / "python"), str(HARNESS / "otlp_dump.py"), str(fixture), "--summary"],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        print(f"[{name}] WARNING: could not read the captured requests: {res.stderr.strip()[-300:]}")
        return
    seen = json.loads(res.stdout)
    print(f"[{name}] captured {seen['spans']} spans in {seen['traces']} trace(s), {seen['links']} link(s)")
    if seen["traces"] != declared:
        print(f"[{name}] WARNING: STRUCTURE says traces={declared}, the export holds {seen['traces']}")


def run_scenario(name: str, python: str) -> None:
    script = load_script(name)
    venv = ensure_venv(name, python)
    run_dir = WORK / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    log = run_dir / "app.log"
    with FakeOpenAI(script.respond, run_dir / "calls.jsonl") as fake, Capture(run_dir) as cap:
        env = app_env(name, script, fake, cap, run_dir)
        cmd = [str(venv / "bin" / "python"), str(SCENARIOS / name / "run.py")]
        with log.open("w") as out:
            try:
                rc = subprocess.run(
                    cmd, env=env, cwd=run_dir, stdout=out, stderr=subprocess.STDOUT, timeout=APP_TIMEOUT_S
                )
            except subprocess.TimeoutExpired:
                raise SystemExit(f"[{name}] app did not finish in {APP_TIMEOUT_S}s; see {log}") from None
    if rc.returncode != 0 or fake.errors:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise SystemExit(f"[{name}] app failed (exit {rc.returncode}) {fake.errors}\n{tail}")
    if cap.counts["requests"] == 0:
        raise SystemExit(f"[{name}] the app exported no spans; see {log}")
    write_fixture(name, script, venv, run_dir)


def write_fixture(name: str, script: ModuleType, venv: Path, run_dir: Path) -> None:
    fixture = FIXTURES / name
    shutil.rmtree(fixture, ignore_errors=True)
    fixture.mkdir(parents=True)
    for folder in ("requests", "logs"):
        if (run_dir / folder).is_dir():
            shutil.copytree(run_dir / folder, fixture / folder)
    for f in ("calls.jsonl", "tools.jsonl"):
        if (run_dir / f).is_file():
            shutil.copy(run_dir / f, fixture / f)
    pins = freeze(venv)
    py = subprocess.run([str(venv / "bin" / "python"), "-V"], capture_output=True, text=True).stdout.strip()
    (fixture / "versions.txt").write_text(f"# {py}; pip freeze of .conformance/venvs/{name}\n" + "\n".join(pins) + "\n")
    exp = expected(name, script, read_jsonl(run_dir / "calls.jsonl"), read_jsonl(run_dir / "tools.jsonl"), pins)
    (fixture / "expected.json").write_text(json.dumps(exp, indent=2, ensure_ascii=False) + "\n")
    check_traces(name, venv, fixture, exp["traces"])
    size = sum(p.stat().st_size for p in fixture.rglob("*") if p.is_file())
    tokens = f"{exp['input_tokens']}+{exp['output_tokens']} tokens"
    print(f"[{name}] {exp['llm_calls']} model calls, {tokens}; {size // 1024} KB")
    if size > 300 * 1024:
        print(f"[{name}] WARNING: fixture is {size // 1024} KB (budget 300 KB)")


def table() -> str:
    rows = [
        "| scenario | framework | instrumentation | convention | model calls | tokens in/out | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for exp_path in sorted(FIXTURES.glob("*/expected.json")):
        e = json.loads(exp_path.read_text())
        rows.append(
            f"| `{e['scenario']}` | {e['framework']} | {e['instrumentation']} | {e['convention']} | {e['llm_calls']} "
            f"| {e['input_tokens']}/{e['output_tokens']} | {e.get('notes', '')} |"
        )
    return "\n".join(rows)


def update_readme() -> None:
    readme = CORPUS / "README.md"
    text = readme.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    readme.write_text(text[:start] + "\n" + table() + "\n" + text[end:])


def main() -> None:
    ap = argparse.ArgumentParser(description="Regenerate conformance fixtures from real framework runs.")
    ap.add_argument("scenarios", nargs="*")
    ap.add_argument("--all", action="store_true", help="every scenario under tests/conformance/scenarios")
    ap.add_argument("--table", action="store_true", help="only rewrite the README's scenario table")
    ap.add_argument("--expected-only", action="store_true", help="rewrite expected.json from committed logs only")
    ap.add_argument("--python", default="python3", help="interpreter the scenario venvs are made from")
    args = ap.parse_args()
    names = scenario_names() if args.all else args.scenarios
    unknown = sorted(set(names) - set(scenario_names()))
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(scenario_names())}")
    failed = []
    for name in names:
        try:
            if args.expected_only:
                rewrite_expected(name)
            else:
                run_scenario(name, args.python)
        except (SystemExit, subprocess.CalledProcessError) as e:
            print(e if isinstance(e, SystemExit) else f"[{name}] {e}", file=sys.stderr)
            failed.append(name)
    update_readme()
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
