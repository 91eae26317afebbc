"""Rules files: valid TOML and YAML load with the defaults merged; every kind of mistake gives ONE line naming the
file and the field — from the loader and from `tracehouse alerts validate`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tracehouse.evals.alerting import DEFAULT_RULES, RuleFileError, load_rules_file
from tracehouse.evals.alerting.cli import alerts_group
from tracehouse.evals.alerting.rules import effective_file_rules


def test_yaml_rules_file_loads_and_replaces_a_default_by_name(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "interval: 10s\n"
        "notifiers:\n  - {name: ops, type: webhook, url: 'http://127.0.0.1:9/hook', secret: s3cret}\n"
        "rules:\n"
        "  - {name: loops, metric: findings, filters: {kind: loop}, threshold: 2, window: 1h, notify: [ops]}\n"
        "  - {name: slow, metric: p95_latency_ms, threshold: 8000, for: 2m, group_by: model, severity: critical}\n"
    )
    config = load_rules_file(path)
    rules = {r.name: r for r in effective_file_rules(config)}
    assert config.interval == 10
    assert rules["loops"].threshold == 2 and rules["loops"].window == 3600
    assert rules["slow"].for_ == 120 and rules["slow"].group_by == "model"
    assert {r.name for r in DEFAULT_RULES} <= set(rules)


def test_toml_rules_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(
        'include_defaults = false\n[[rules]]\nname = "errors"\nmetric = "error_rate"\nthreshold = 0.1\n'
        '"for" = "1m"\n[rules.filters]\nagent = "billing"\n'
    )
    [rule] = effective_file_rules(load_rules_file(path))
    assert rule.filters.agent == "billing" and rule.for_ == 60


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - {name: a, metric: latency, threshold: 1}\n", "rules.0.metric: Input should be"),
        ("rules:\n  - {name: a, metric: error_rate, threshold: lots}\n", "rules.0.threshold:"),
        ("rules:\n  - {name: a, metric: error_rate, threshold: 1, window: 5 minutes}\n", "rules.0.window: "),
        ("rules:\n  - {name: a, metric: error_rate}\n", "rules.0.threshold: Field required"),
        ("rules:\n  - {name: a, metric: error_rate, threshold: 1, colour: red}\n", "rules.0.colour: Extra inputs"),
        ("rules:\n  - {name: a, metric: error_rate, threshold: 1, notify: [pager]}\n", "no notifier named 'pager'"),
        ("notifiers:\n  - {name: n, type: webhook}\n", "notifiers.0: url: a webhook notifier needs an http(s) URL"),
        ("rules: [\n", "not valid YAML at line"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_a_bad_rules_file_gives_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(RuleFileError) as info:
        load_rules_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and expected in message, message


def test_alerts_validate_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: a, metric: error_rate, threshold: 1, op: '=='}\n")
    result = CliRunner().invoke(alerts_group, ["validate", str(bad)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "rules.0.op" in lines[0], result.output
    good = tmp_path / "good.yaml"
    good.write_text("rules: []\n")
    ok = CliRunner().invoke(alerts_group, ["validate", str(good)])
    assert ok.exit_code == 0 and "ok" in ok.output


def test_spend_spike_shows_its_whole_condition_with_the_baseline() -> None:
    spike = next(r for r in DEFAULT_RULES if r.name == "spend-spike")
    assert spike.describe() == "cost_per_hour > 1 over 15m and > 3× the preceding 1d"
