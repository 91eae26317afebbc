"""Reporting a suite run: the summary tables (per scorer, per agent, worst cases) and JUnit XML for CI."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tracehouse.evals.runner import RunResult, ScorerStats


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _all_skipped(s: ScorerStats) -> bool:
    """Nothing scored, something skipped: the scorer's test case is skipped (a partial skip is in its output)."""
    return s.scores == 0 and s.skipped > 0


def print_summary(result: RunResult, console: Console) -> None:
    """Per scorer (pass rate, mean, threshold, verdict), per agent, then the worst cases with trace links."""
    scorers = Table(title=f"suite {result.suite.name} · {result.traces} traces · run {result.eval_run_id}")
    for column in ("scorer", "scores", "pass rate", "mean", "errors", "skipped", "threshold", "result"):
        scorers.add_column(column, justify="left" if column in ("scorer", "result") else "right")
    for s in result.scorers:
        threshold = f">= {s.min_pass_rate:.0%}" + (f", mean >= {s.min_mean}" if s.min_mean is not None else "")
        verdict = "[green]ok[/green]" if s.ok else f"[red]FAIL[/red] {s.reason}"
        scorers.add_row(
            s.name, str(s.scores), _pct(s.pass_rate), _num(s.mean), str(s.errors), str(s.skipped), threshold, verdict
        )
    console.print(scorers)
    for s in result.scorers:
        if s.skipped:  # apart from pass and fail: nothing to score there
            line = f"  skipped {s.name}: {s.skipped} (not scored: {s.skip_reason})"
            console.print(line, markup=False, highlight=False)
    agents = result.by_agent()
    if not agents.empty:
        table = Table(title="per agent")
        for column in ("agent", "version", "scores", "pass rate", "mean", "failed"):
            table.add_column(column, justify="left" if column in ("agent", "version") else "right")
        rows = zip(
            agents["agent"].astype(str),
            agents["agent_version"].astype(str),
            agents["scores"].astype(int),
            agents["pass_rate"].astype(float),
            agents["mean"].astype(float),
            agents["failed"].astype(int),
            strict=True,
        )
        for agent, version, scores, pass_rate, mean, failed in rows:
            table.add_row(
                agent or "(trace)",
                version or "-",
                str(scores),
                _pct(None if math.isnan(pass_rate) else pass_rate),
                _num(None if math.isnan(mean) else mean),
                str(failed),
            )
        console.print(table)
    worst = [(s.name, w) for s in result.scorers for w in s.worst]
    if worst:
        # Plain lines, not a table: a terminal or CI log keeps the links whole and clickable.
        console.print("[bold]worst cases[/bold]")
        for name, w in worst:
            console.print(
                f"  {name}  value={_num(w['value'])}  {w['link']}  {w['comment']}",
                soft_wrap=True,
                markup=False,
                highlight=False,
            )
    if result.judge_usage:
        u = result.judge_usage
        console.print(
            f"judge usage: {int(u.get('input_tokens', 0))} in / {int(u.get('output_tokens', 0))} out tokens,"
            f" ${u.get('cost_usd', 0.0):.6f}"
        )
    if result.passed:
        console.print(f"[green]PASSED[/green] {result.suite.name}")
    else:
        console.print(f"[red]FAILED[/red] {result.suite.name}: " + "; ".join(result.failures))


def write_junit(result: RunResult, path: str | Path) -> None:
    """One <testcase> per scorer (its threshold), failing cases listed in the failure body; plus 'selection'."""
    duration = (result.finished_at - result.started_at).total_seconds()
    failed_cases = sum(1 for s in result.scorers if not s.ok) + (1 if result.traces == 0 else 0)
    skipped_cases = sum(1 for s in result.scorers if _all_skipped(s))
    suites = ET.Element(
        "testsuites",
        name="tracehouse-eval",
        tests=str(len(result.scorers) + 1),
        failures=str(failed_cases),
        time=f"{duration:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=result.suite.name,
        tests=str(len(result.scorers) + 1),
        failures=str(failed_cases),
        errors="0",
        skipped=str(skipped_cases),
        time=f"{duration:.3f}",
        timestamp=result.started_at.isoformat(),
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="eval_run_id", value=result.eval_run_id)
    ET.SubElement(props, "property", name="traces", value=str(result.traces))
    selection = ET.SubElement(suite, "testcase", classname=result.suite.name, name="selection", time="0")
    if result.traces == 0:
        ET.SubElement(selection, "failure", message="no traces matched the selection", type="threshold")
    for s in result.scorers:
        case = ET.SubElement(suite, "testcase", classname=result.suite.name, name=s.name, time="0")
        ET.SubElement(
            case, "system-out"
        ).text = (
            f"scores={s.scores} pass_rate={_pct(s.pass_rate)} mean={_num(s.mean)} errors={s.errors} skipped={s.skipped}"
        )
        if _all_skipped(s):
            ET.SubElement(case, "skipped", message=f"{s.skipped} traces not scored: {s.skip_reason}"[:300])
        if not s.ok:
            failure = ET.SubElement(case, "failure", message=s.reason, type="threshold")
            failure.text = "\n".join(f"{w['link']}  value={_num(w['value'])}  {w['comment']}" for w in s.worst)
    ET.indent(suites)
    Path(path).write_text(ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n", encoding="utf-8")
