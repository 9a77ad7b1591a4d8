"""A project's terms, and which changes need a new version (and so the custodians' approval
again).

A custodian approves one version of a project at their node; the node runs tasks only for the
version it approved (``fivesafes.node.policy``). Any change to what the project may do, for
whom, where, with what or when is a new version. Its title and lay summary describe it and
are changed in place (audited, and shown to custodians when they next review).

| field                                 | a change needs a new version |
| ------------------------------------- | ---------------------------- |
| purpose, public benefit               | yes (what the data is used for) |
| PI, members                           | yes (who)                    |
| nodes, data domains, analyses         | yes (where, with what)       |
| start and end dates                   | yes (when)                   |
| data sensitivity, linkage             | yes (the risk tier's inputs) |
| title, lay summary                    | no                           |
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

from fivesafes.protocol.errors import InvalidRequest
from fivesafes.protocol.projects import DataDomain as DataDomain
from fivesafes.protocol.projects import Linkage as Linkage
from fivesafes.protocol.projects import Sensitivity as Sensitivity


@dataclass(frozen=True)
class ProjectTerms:
    """What a project is, as a researcher or hub admin writes it (no id, no version)."""

    title: str
    lay_summary: str
    purpose: str
    public_benefit: str
    pi: str | None
    members: frozenset[str]
    nodes: frozenset[str]
    data_domains: frozenset[DataDomain]
    analyses: frozenset[str]  # analysis references, ``name@version``
    start_date: date
    end_date: date
    sensitivity: Sensitivity = Sensitivity.STANDARD
    linkage: Linkage = Linkage.NONE


DESCRIPTIVE: frozenset[str] = frozenset({"title", "lay_summary"})
VERSIONED: frozenset[str] = frozenset(
    f.name for f in dataclasses.fields(ProjectTerms) if f.name not in DESCRIPTIVE
)
TEXT_LIMITS = {"title": 300, "lay_summary": 5000, "purpose": 5000, "public_benefit": 5000}


def changed_fields(old: ProjectTerms, new: ProjectTerms) -> list[str]:
    """The fields that differ, in the order they are declared."""
    return [
        f.name
        for f in dataclasses.fields(ProjectTerms)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


def needs_new_version(changed: list[str]) -> bool:
    return any(name in VERSIONED for name in changed)


def check_terms(terms: ProjectTerms) -> None:
    """InvalidRequest, naming the problem, unless the terms make a project."""
    if not terms.title.strip():
        raise InvalidRequest("A project needs a title.")
    for name, limit in TEXT_LIMITS.items():
        if len(getattr(terms, name)) > limit:
            label = name.replace("_", " ")
            raise InvalidRequest(f"A project's {label} has at most {limit} characters.")
    if terms.end_date < terms.start_date:
        raise InvalidRequest("A project cannot end before it starts.")
    if not terms.nodes:
        raise InvalidRequest("A project needs at least one node.")
    if not terms.members:
        raise InvalidRequest("A project needs at least one member.")
    if not terms.data_domains:
        raise InvalidRequest("A project needs at least one data domain.")
    if not terms.analyses:
        raise InvalidRequest("A project needs at least one analysis.")
    if terms.pi is not None and terms.pi not in terms.members:
        raise InvalidRequest("The principal investigator must be a member of the project.")


def domains(names: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[DataDomain]:
    parsed = set()
    for name in names:
        try:
            parsed.add(DataDomain(name))
        except ValueError:
            valid = ", ".join(d.value for d in DataDomain)
            raise InvalidRequest(f"Unknown data domain {name!r}; domains are {valid}.") from None
    return frozenset(parsed)
