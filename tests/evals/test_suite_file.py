"""Suite files: YAML / TOML / Python load; a malformed file fails with one line naming the file and the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracehouse.evals import SuiteError, load_suite, score_trace

from .traces import simple

GOOD = """
name: quality
select: {since: 7d, workflow: demo.research, sample: 0.5}
scorers:
  - type: no_error
  - {name: fast, type: latency, params: {max_ms: 500}, min_pass_rate: 0.9}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_yaml_suite_loads_with_defaults(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, "suite.yaml", GOOD))
    assert [s.name for s in suite.scorers] == ["no_error", "fast"]
    assert suite.select.sample == 0.5 and suite.thresholds.min_pass_rate == 1.0
    assert suite.pass_rate_floor(suite.scorers[1]) == 0.9


def test_toml_suite_loads(tmp_path: Path) -> None:
    text = 'name = "q"\n[[scorers]]\ntype = "regex"\nparams = { pattern = "\\\\d+" }\n'
    suite = load_suite(write(tmp_path, "suite.toml", text))
    assert suite.scorers[0].params["pattern"] == "\\d+"


def test_threshold_that_is_not_a_number_names_the_field(tmp_path: Path) -> None:
    text = "name: q\nscorers:\n  - type: no_error\n  - type: latency\n    params: {max_ms: 10}\n    threshold: high\n"
    assert error_of(write(tmp_path, "suite.yaml", text)) == "suite.yaml: scorers[1].threshold: must be a number"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("name: q\nscorers: []\n", "suite.yaml: scorers: list should have at least 1 item after validation, not 0"),
        ("name: q\nscorers:\n  - type: no_error\n    colour: red\n", "suite.yaml: scorers[0].colour: unknown field"),
        ("name: q\nscorers:\n  - type: nope\n", "suite.yaml: scorers[0].type: unknown scorer type 'nope'"),
        ("name: q\nscorers:\n  - type: regex\n", "suite.yaml: scorers[0].params.pattern: field required"),
        (
            "name: q\nscorers:\n  - {type: latency, params: {max_ms: -1}}\n",
            "suite.yaml: scorers[0].params.max_ms: input should be greater than 0",
        ),
        (
            "name: q\nselect: {since: yesterday}\nscorers: [{type: no_error}]\n",
            "suite.yaml: select.since: must be a duration",
        ),
        (
            "name: q\nselect: {sample: 2}\nscorers: [{type: no_error}]\n",
            "suite.yaml: select.sample: input should be less than or equal to 1",
        ),
        ("scorers: [{type: no_error}]\n", "suite.yaml: name: required"),
        ("name: q\nscorers:\n  - type: no_error\n   bad: indent\n", "suite.yaml: line 4:"),
        ("- just a list\n", "suite.yaml: a suite must be a mapping"),
        (
            "name: q\ndataset: {path: missing.jsonl}\nscorers: [{type: no_error}]\n",
            "suite.yaml: dataset.path: no such file",
        ),
    ],
)
def test_malformed_suites_give_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(write(tmp_path, "suite.yaml", text)).startswith(expected)


def test_python_suite_with_a_decorated_scorer(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "my_suite.py",
        """
from tracehouse.evals import scorer

@scorer("mentions_answer_t1")
def mentions_answer(output: str, word: str = "42") -> bool:
    return word in output

suite = {"name": "py", "scorers": [
    {"type": "mentions_answer_t1"},
    {"type": "mentions_answer_t1", "name": "w2", "params": {"word": "nope"}},
]}
""",
    )
    suite = load_suite(path)
    scores, _ = score_trace(suite, simple("The answer is 42"), eval_run_id="r")
    assert [(s.name, s.passed) for s in scores] == [("mentions_answer_t1", True), ("w2", False)]


def test_plugin_scorer_params_are_checked_against_its_signature(tmp_path: Path) -> None:
    write(
        tmp_path,
        "plug.py",
        "from tracehouse.evals import scorer\n\n@scorer('plug_t2')\n"
        "def f(output: str, n: int) -> float:\n    return 1.0\n",
    )
    text = "name: q\nplugins: [plug.py]\nscorers:\n  - {type: plug_t2, params: {n: 1, m: 2}}\n"
    assert (
        error_of(write(tmp_path, "suite.yaml", text))
        == "suite.yaml: scorers[0].params.m: plug_t2 takes no such parameter"
    )
    text = "name: q\nplugins: [plug.py]\nscorers:\n  - {type: plug_t2}\n"
    assert error_of(write(tmp_path, "suite2.yaml", text)) == "suite2.yaml: scorers[0].params.n: required by plug_t2"


def test_a_user_scorer_that_raises_becomes_an_error_score(tmp_path: Path) -> None:
    write(
        tmp_path,
        "boom.py",
        "from tracehouse.evals import scorer\n\n@scorer('boom_t3')\n"
        "def f(output: str) -> float:\n    raise KeyError('x')\n",
    )
    suite = load_suite(write(tmp_path, "s.yaml", "name: q\nplugins: [boom.py]\nscorers: [{type: boom_t3}]\n"))
    [result], _ = score_trace(suite, simple(), eval_run_id="r")
    assert result.label == "error" and result.passed is False and "KeyError" in result.comment


def test_cli_malformed_suite_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "suite.yaml", "name: q\nscorers:\n  - type: no_error\n  - type: latency\n    threshold: [1]\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tracehouse.evals.cli", "run", str(path), "--server", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: suite.yaml: scorers[1].threshold: must be a number"
    assert "Traceback" not in proc.stderr + proc.stdout


def test_cli_unreachable_server_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "suite.yaml", GOOD)
    proc = subprocess.run(
        [sys.executable, "-m", "tracehouse.evals.cli", "run", str(path), "--server", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: cannot reach http://127.0.0.1:9")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_judge_suite_without_the_openai_client_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server extra does not install openai: a suite using llm_judge is refused at load, in one line; a suite
    without it loads (the judge module no longer imports the client)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openai" else real(name, *a))
    judged = "name: j\nscorers:\n  - {type: llm_judge, params: {rubric: 'is it right?'}}\n"
    assert "pip install 'tracehouse[judge]'" in error_of(write(tmp_path, "j.yaml", judged))
    assert load_suite(write(tmp_path, "plain.yaml", GOOD)).name == "quality"
