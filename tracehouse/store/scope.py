"""Whose data a read covers. Every read takes a scope with no default: one project's id, or `ALL_PROJECTS`, which a
caller must name to read across projects (the jobs runner's passes do; nothing a tenant's key reaches does)."""

from __future__ import annotations

from typing import Final, final


@final
class AllProjects:
    """The scope of a pass over every project's data."""

    def __repr__(self) -> str:
        return "ALL_PROJECTS"


ALL_PROJECTS: Final = AllProjects()
Scope = str | AllProjects


def project_filter(scope: Scope, params: dict[str, object], column: str = "project_id") -> str:
    """The WHERE condition for `scope` ("1" for every project), binding the project id into `params`."""
    if isinstance(scope, AllProjects):
        return "1"
    params["scope_project"] = scope
    return f"{column} = {{scope_project:String}}"
