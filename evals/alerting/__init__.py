"""Alerting: rules on metrics over windows (retry rate, error rate, latency, spend, findings, eval pass rate),
pending → firing → resolved with history and silences, and webhook / Slack / log notifiers.

`AlertService(store, rules_file)` runs it inside `tracehouse serve`; `load_rules_file` validates a rules file.
"""

from tracehouse.evals.alerting.engine import AlertEngine, Instance, Silence, Transition
from tracehouse.evals.alerting.notifiers import Dispatcher, Notification, sign, verify
from tracehouse.evals.alerting.rules import DEFAULT_RULES, Rule, RuleFileError, RulesFile, load_rules_file
from tracehouse.evals.alerting.service import AlertService

__all__ = [
    "DEFAULT_RULES",
    "AlertEngine",
    "AlertService",
    "Dispatcher",
    "Instance",
    "Notification",
    "Rule",
    "RuleFileError",
    "RulesFile",
    "Silence",
    "Transition",
    "load_rules_file",
    "sign",
    "verify",
]
