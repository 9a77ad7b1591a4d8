"""The patient data account at one node: the projects in which one person's record contributed
to a released output, with their purposes and dates, and the projects in which the person was
linked to their record at another hospital (``linkage_links``: the project, never the link id),
and the pools their rows were sent to (``pool_persons``: the pool, its project, when, until when).

It is answered from the node's released person sets (``fivesafes.node.person_sets``, the store
the differencing defence keeps, written in the same transaction as each release), never by
running a query again: a suppressed, refused or held output recorded nobody, so it lists no
project. The person is named by the identifier the custodian or a patient portal holds, which
the node maps with its own key to the pseudonym its CDM keeps (``fivesafes.node.pseudonyms``),
or directly by ``person_id``. Every lookup is audited at the node: who looked and when, and of
whom only a keyed hash. Nothing here logs an identifier, a pseudonym or a person id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.node.db import AUDIT, LINKAGE, Approval, NodeRun
from fivesafes.node.person_sets import PersonRelease, PersonSetStore
from fivesafes.node.pool import pools_of_persons
from fivesafes.node.pseudonyms import load_key, lookup_tag, pseudonym
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.sdc.differencing import MAX_PERSON_ID
from fivesafes.storage.types import utcnow

if TYPE_CHECKING:
    from fivesafes.data.source import OmopDatabase
    from fivesafes.node.service import NodeService


@dataclass(frozen=True)
class AccountProject:
    """One project this person's record contributed to, as this node approved it."""

    project_id: str
    title: str | None  # None: this node holds no approval record of the project
    purpose: str | None  # from the approved project record, where it carries one
    lay_summary: str | None
    start_date: date | None
    end_date: date | None
    approval: str | None  # this node's decision now: approved | revoked | rejected
    outputs: int  # released outputs this person is behind
    analyses: list[str]  # their kinds (count, summary, ...)
    first_release: datetime
    last_release: datetime


@dataclass(frozen=True)
class PatientAccount:
    node: str
    looked_up_at: datetime
    found: bool  # the identifier matched a person in this node's data
    projects: list[AccountProject] = field(default_factory=list)
    linked: list[LinkedProject] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)  # ``node.pool.pools_of_persons``

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in list(data.items()):
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        for project in data["projects"] + data["linked"] + data["pools"]:
            for key, value in project.items():
                if isinstance(value, date):  # datetimes are dates too
                    project[key] = value.isoformat()
        return data


@dataclass(frozen=True)
class LinkedProject:
    """A project in which this person's record here was linked to their record at another
    hospital (issue 18): what it is for, as this node approved it."""

    project_id: str
    title: str | None
    purpose: str | None
    start_date: date | None
    end_date: date | None
    approval: str | None


def linked_projects(session: Session, persons: list[int]) -> list[LinkedProject]:
    """The projects in which any of ``persons`` holds a link id at this node."""
    links = LINKAGE.links.c
    found = sorted(set(session.scalars(
        select(links.project_id).where(links.person_id.in_(persons))
    ))) if persons else []  # fmt: skip
    shown = []
    for project_id in found:
        approval = session.get(Approval, project_id)
        shown.append(LinkedProject(
            project_id, approval.title if approval else None, _record_field(approval, "purpose"),
            approval.start_date if approval else None, approval.end_date if approval else None,
            approval.state if approval else None,
        ))  # fmt: skip
    return shown


def persons_with_pseudonym(db: OmopDatabase, value: str) -> list[int]:
    """The ``person_id``s whose ``person_source_value`` is ``value``, read from the CDM's
    ``person`` table as stored (opt-outs included: a person who opted out later may still ask
    where their record was used)."""
    from fivesafes.data.views import cdm_view

    names = {name.lower(): name for name in db.backend.list_tables(database=db.schema)}
    stored = db.backend.table(names.get("person", "person"), database=db.schema)
    person = cdm_view(stored, "person", None)
    found = person.filter(person.person_source_value == value).select("person_id").execute()
    return sorted({int(p) for p in found["person_id"]})


def account_projects(session: Session, releases: Iterable[PersonRelease]) -> list[AccountProject]:
    """Group the person's releases by project and describe each from this node's approval."""
    by_project: dict[str, list[PersonRelease]] = {}
    for release in releases:
        by_project.setdefault(release.project_id, []).append(release)
    run_ids = [r.run_id for found in by_project.values() for r in found]
    query = select(NodeRun.run_id, NodeRun.analysis).where(NodeRun.run_id.in_(run_ids))
    analyses = {run_id: analysis for run_id, analysis in session.execute(query)}
    projects = []
    for project_id, found in by_project.items():
        approval = session.get(Approval, project_id)
        times = sorted(r.recorded_at for r in found)
        projects.append(
            AccountProject(
                project_id=project_id,
                title=approval.title if approval else None,
                purpose=_record_field(approval, "purpose"),
                lay_summary=_record_field(approval, "lay_summary"),
                start_date=approval.start_date if approval else None,
                end_date=approval.end_date if approval else None,
                approval=approval.state if approval else None,
                outputs=len({r.run_id for r in found}),  # an attrition remembers each step
                analyses=sorted({analyses.get(r.run_id) or "unknown" for r in found}),
                first_release=times[0],
                last_release=times[-1],
            )
        )
    return sorted(projects, key=lambda p: (p.first_release, p.project_id))


def _record_field(approval: Approval | None, name: str) -> str | None:
    """A field of the approved project record, if this node's approvals keep it (the purpose
    and lay summary came with safe projects; an older approval has neither)."""
    if approval is None:
        return None
    value = getattr(approval, name, None)
    record = getattr(approval, "record", None)
    if value is None and isinstance(record, dict):
        value = record.get(name)
    return value if isinstance(value, str) and value else None


def patient_account(
    service: NodeService,
    *,
    by: str,
    identifier: str | None = None,
    person_id: int | None = None,
    open_data: Callable[[], OmopDatabase] | None = None,
) -> PatientAccount:
    """The account of the person named by ``identifier`` (mapped with the node's pseudonym
    key) or by ``person_id``; the lookup is audited as ``by``, whatever its outcome."""
    if (identifier is None) == (person_id is None):
        raise InvalidRequest("Name the person by an identifier or by a person_id, not both.")
    if person_id is not None and not 0 <= person_id <= MAX_PERSON_ID:
        raise InvalidRequest("A person_id lies in 0..2**32-1.")
    lookup = "person_id" if identifier is None else "identifier"
    tag_of = "" if person_id is None else f"person:{person_id}"
    outcome = "failed"
    try:
        persons = [person_id] if person_id is not None else []
        found = person_id is not None
        if identifier is not None:
            value = pseudonym(identifier, load_key(service.config.node.pseudonym_key_file))
            tag_of = f"pseudonym:{value}"
            persons = _persons(service, value, open_data)
            found = bool(persons)
            if len(persons) == 1:
                tag_of = f"person:{persons[0]}"
        releases = _releases(service.person_sets(), persons)
        projects = service.read(lambda s: account_projects(s, releases))
        linked = service.read(lambda s: linked_projects(s, persons))
        pooled = service.read(lambda s: pools_of_persons(s, persons))
        outcome = "ok"
        return PatientAccount(service.name, utcnow(), found, projects, linked, pooled)
    finally:
        details = {"lookup": lookup, "tag": lookup_tag(service.key, tag_of) if tag_of else None}
        service.unit(
            lambda s: append_event(
                s,
                AUDIT,
                AuditEventType.PATIENT_ACCOUNT_VIEWED,
                by=by,
                outcome=outcome,
                node=service.name,
                details=details,
            )
        )


def _persons(
    service: NodeService, value: str, open_data: Callable[[], OmopDatabase] | None
) -> list[int]:
    if open_data is None:
        from fivesafes.data.engines import open_omop

        db = open_omop(service.config.data)
    else:
        db = open_data()
    try:
        return persons_with_pseudonym(db, value)
    finally:
        db.close()


def _releases(store: PersonSetStore, persons: list[int]) -> list[PersonRelease]:
    found: list[PersonRelease] = []
    for person in persons:
        if 0 <= person <= MAX_PERSON_ID:  # an id outside 32 bits was never in any set
            found.extend(store.releases_for_person(person))
    return found
