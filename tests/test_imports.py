"""The dependency rule between tracehouse's parts, checked on the source: every import of every module is read with
`ast` (nothing is imported, so a lazy import inside a function counts as much as one at the top).

The rule: the SDK installs without the server, so it imports nothing of ours but the version; the orchestrator is
built on the SDK only; the collector (receive, spool, write, normalise, settle) uses the store, the domain and the web
plumbing, and only the server's composition root and the commands that run its parts import it; the store and the web
plumbing never reach up into the parts; the dashboard and evals read through the store, the domain and web; the
domain rules are pure and know only themselves and the semantic-convention names.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tests.package_layout import ROOT, Module, package_modules


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported, resolved to its installed name
    where: str  # path:line, for the message


@dataclass(frozen=True)
class Rule:
    text: str
    applies: Callable[[str], bool]  # to the importer
    allowed: Callable[[str], bool]  # the target (only tracehouse's own modules are judged)


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


COMPOSITION_ROOT = ("tracehouse.server", "tracehouse.serve_cli", "tracehouse.spool_cli")

RULES = (
    Rule(
        "sdk imports nothing of tracehouse's but tracehouse._version",
        lambda m: within(m, "tracehouse.sdk"),
        lambda t: within(t, "tracehouse.sdk") or t == "tracehouse._version",
    ),
    Rule(
        "orchestrator imports only sdk (and itself)",
        lambda m: within(m, "tracehouse.orchestrator"),
        lambda t: within(t, "tracehouse.orchestrator", "tracehouse.sdk"),
    ),
    Rule(
        "nothing imports tracehouse.dashboard except tracehouse.server and tracehouse.cli",
        lambda m: not within(m, "tracehouse.dashboard", "tracehouse.server", "tracehouse.cli"),
        lambda t: not within(t, "tracehouse.dashboard"),
    ),
    Rule(
        "nothing imports tracehouse.collector except the server's composition root (tracehouse.server) and the "
        "commands that run the collector's parts (tracehouse.serve_cli, tracehouse.spool_cli)",
        lambda m: not within(m, "tracehouse.collector", *COMPOSITION_ROOT),
        lambda t: not within(t, "tracehouse.collector"),
    ),
    Rule(
        "collector imports only itself, the store, the domain, web, the jobs runner and sdk (names, prices)",
        lambda m: within(m, "tracehouse.collector"),
        lambda t: (
            within(
                t,
                "tracehouse.collector",
                "tracehouse.store",
                "tracehouse.domain",
                "tracehouse.web",  # the OTLP/HTTP route shares the project dependency with every other route
                "tracehouse.jobs",
                "tracehouse.sdk",
            )
            or t in ("tracehouse", "tracehouse._version", "tracehouse.errors")
        ),
    ),
    Rule(
        "the store imports only itself, the domain, sdk and the error root (never web, collector, dashboard, evals)",
        lambda m: within(m, "tracehouse.store"),
        lambda t: (
            within(t, "tracehouse.store", "tracehouse.domain", "tracehouse.sdk")
            or t in ("tracehouse", "tracehouse._version", "tracehouse.errors")
        ),
    ),
    Rule(
        "tracehouse.web imports only itself, the store, the domain and the settings",
        lambda m: within(m, "tracehouse.web"),
        lambda t: (
            within(t, "tracehouse.web", "tracehouse.store", "tracehouse.domain")
            or t in ("tracehouse", "tracehouse._version", "tracehouse.errors", "tracehouse.settings")
        ),
    ),
    Rule(
        "dashboard and evals read through the store, the domain and web (and sdk's names), and their commands talk to"
        " a server through the one client; evals never import the dashboard",
        lambda m: within(m, "tracehouse.dashboard", "tracehouse.evals"),
        lambda t: (
            within(
                t,
                "tracehouse.dashboard",
                "tracehouse.evals",
                "tracehouse.store",
                "tracehouse.domain",
                "tracehouse.web",
                "tracehouse.sdk",
                "tracehouse.jobs",
            )
            or t
            in (
                "tracehouse",
                "tracehouse._version",
                "tracehouse.errors",
                "tracehouse.settings",
                "tracehouse.client",
                "tracehouse.output",
            )
        ),
    ),
    Rule(
        "tracehouse.domain imports only tracehouse.domain and tracehouse.sdk.semconv",
        lambda m: within(m, "tracehouse.domain"),
        lambda t: within(t, "tracehouse.domain") or t == "tracehouse.sdk.semconv",
    ),
)


# Imports that break a rule today, each with its reason; an entry must go when its import goes.
KNOWN_EXCEPTIONS = {
    # `tracehouse demo` scores the demo's traces with the example eval suite when the server extra is installed
    # (a guarded lazy import), until the command is wired from the CLI's composition root.
    ("tracehouse.orchestrator.cli", "tracehouse.evals.demo_scoring"),
    # An experiment captures its target's spans in memory and normalises them in process, until experiments export
    # through the server and read their steps back from the store (issue 17).
    ("tracehouse.evals.experiments", "tracehouse.collector.normalise"),
}


def imports_of(module: Module, source: str, known: set[str]) -> list[Import]:
    """The modules `source` imports. `from pkg import name` is the module `pkg.name` when that is one of `known`,
    else `pkg` (a name defined in it); relative imports resolve against the module's own package."""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    out: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        where = f"{module.path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            out.extend(Import(module.name, alias.name, where) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append(Import(module.name, sub if sub in known else base, where))
    return out


def violations(imports: Iterable[Import]) -> list[str]:
    return [
        f"{imp.where}: {imp.importer} imports {imp.target}, but {rule.text}"
        for imp in imports
        if within(imp.target, "tracehouse") and (imp.importer, imp.target) not in KNOWN_EXCEPTIONS
        for rule in RULES
        if rule.applies(imp.importer) and not rule.allowed(imp.target)
    ]


def all_imports() -> list[Import]:
    modules = list(package_modules())
    known = {m.name for m in modules}
    return [imp for m in modules for imp in imports_of(m, m.path.read_text(), known)]


def test_the_package_keeps_the_dependency_rule() -> None:
    found = violations(all_imports())
    assert not found, "the dependency rule is broken:\n" + "\n".join(found)


def test_every_known_exception_is_still_an_import() -> None:
    found = {(imp.importer, imp.target) for imp in all_imports()}
    assert not KNOWN_EXCEPTIONS - found, f"remove from KNOWN_EXCEPTIONS: {sorted(KNOWN_EXCEPTIONS - found)}"


def test_the_layout_is_read_from_every_part() -> None:
    """A rule over an empty module list would pass for nothing: each part must be there, with its imports."""
    importers = {imp.importer.split(".")[1] for imp in all_imports() if imp.importer.count(".")}
    assert {"sdk", "orchestrator", "collector", "dashboard", "evals", "domain"} <= importers


def check(name: str, source: str, *, is_package: bool = False) -> list[str]:
    known = {m.name for m in package_modules()}
    return violations(imports_of(Module(name, ROOT / "x.py", is_package), source, known))


def test_an_sdk_module_importing_the_collector_is_named() -> None:
    found = check("tracehouse.sdk._spans", "def f():\n    from tracehouse import store\n")
    assert found == [
        "x.py:2: tracehouse.sdk._spans imports tracehouse.store, but sdk imports nothing of tracehouse's "
        "but tracehouse._version"
    ]
    assert check("tracehouse.sdk._spans", "from tracehouse._version import __version__\nfrom . import semconv\n") == []


def test_relative_and_from_package_imports_resolve_to_the_module() -> None:
    assert check("tracehouse.orchestrator.runtime", "from tracehouse import sdk\nfrom .nodes import Agent\n") == []
    found = check("tracehouse.orchestrator.runtime", "from ..store import Store\n")
    assert found == [
        "x.py:1: tracehouse.orchestrator.runtime imports tracehouse.store, but orchestrator imports only "
        "sdk (and itself)"
    ]
    found = check("tracehouse.domain", "from .. import dashboard\nimport tracehouse.sdk.semconv\n", is_package=True)
    assert [f.split(", but ")[0] for f in found] == [
        "x.py:1: tracehouse.domain imports tracehouse.dashboard",
        "x.py:1: tracehouse.domain imports tracehouse.dashboard",
    ]


def test_only_the_server_and_the_cli_import_the_dashboard() -> None:
    source = "from tracehouse.dashboard import views\n"
    assert check("tracehouse.server", source) == []
    assert check("tracehouse.cli", source) == []
    assert check("tracehouse.dashboard.api.traces", source) == []
    assert check("tracehouse.evals.service", source) == [
        "x.py:1: tracehouse.evals.service imports tracehouse.dashboard.views, but nothing imports "
        "tracehouse.dashboard except tracehouse.server and tracehouse.cli"
    ]
