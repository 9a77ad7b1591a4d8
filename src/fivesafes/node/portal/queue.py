"""The custodians' approvals queue: every project that asks for this node, from the hub's
signed records (verified against the pinned hub key), beside this node's own decisions.

A project awaits a decision when this node has none for its current version (a new project,
or a new version after an edit that needs re-approval, ADR 0017) and it has not ended. The
node's own records are shown whether or not the hub still lists the project; if the hub cannot
be reached, the queue says so and shows them alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.governance.risk import RiskTier, tier_of
from fivesafes.node.custodian import verified_project
from fivesafes.node.db import Approval, Registration
from fivesafes.node.transport import HubRejected, HubUnreachable
from fivesafes.protocol.errors import BadSignature
from fivesafes.protocol.models import ProjectRecord, SignedProject


class ProjectSource(Protocol):
    """Where the hub's signed project records come from (``HttpHubTransport``)."""

    def list_projects(self) -> list[SignedProject]: ...
    def get_project(self, project_id: str) -> SignedProject: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Decision:
    """This node's decision on one version of a project, as its approvals table keeps it."""

    project_id: str
    title: str
    version: int
    state: str  # approved | rejected | revoked
    decided_at: datetime
    decided_by: str
    reason: str | None
    analyses: list[str]
    outputs_to_airlock: bool
    risk_tier: int | None
    start_date: date
    end_date: date

    @classmethod
    def of(cls, approval: Approval) -> Decision:
        return cls(
            project_id=approval.project_id,
            title=approval.title,
            version=approval.version,
            state=approval.state,
            decided_at=approval.decided_at,
            decided_by=approval.decided_by,
            reason=approval.reason,
            analyses=list(approval.analyses),
            outputs_to_airlock=bool(approval.outputs_to_airlock),
            risk_tier=approval.risk_tier,
            start_date=approval.start_date,
            end_date=approval.end_date,
        )


@dataclass(frozen=True)
class Member:
    username: str
    display_name: str
    organisation: str | None
    accredited_until: date | None
    accredited: bool  # valid today (the hub's record, as signed)


@dataclass(frozen=True)
class Reviewed:
    """A project as its custodian reviews it: the hub's signed record, its risk tier as this
    node computes it, its members' accreditation, and this node's decision so far."""

    record: ProjectRecord
    tier: RiskTier
    members: list[Member]
    decision: Decision | None
    today: date

    @property
    def ended(self) -> bool:
        return self.record.end_date < self.today

    @property
    def awaiting(self) -> bool:
        decided = self.decision is not None and self.decision.version == self.record.version
        return not decided and not self.ended


@dataclass
class Queue:
    awaiting: list[Reviewed] = field(default_factory=list)
    listed: list[Reviewed] = field(default_factory=list)  # decided for this version, or ended
    decisions: list[Decision] = field(default_factory=list)  # this node's own records
    hub_problem: str | None = None  # why the hub's list could not be read
    unverified: int = 0  # records not signed by the hub this node trusts (left out)


def reviewed(record: ProjectRecord, decision: Decision | None, today: date) -> Reviewed:
    people = {p.username: p for p in record.people}
    members = []
    for username in record.members:
        person = people.get(username)
        until = person.accredited_until if person else None
        members.append(
            Member(
                username=username,
                display_name=person.display_name if person else username,
                organisation=person.organisation if person else None,
                accredited_until=until,
                accredited=until is not None and until >= today,
            )
        )
    return Reviewed(record, tier_of(record), members, decision, today)


def decisions(session: Session) -> dict[str, Decision]:
    rows = session.scalars(select(Approval).order_by(Approval.decided_at.desc()))
    return {a.project_id: Decision.of(a) for a in rows}


def build_queue(
    read: Callable[[Callable[[Session], dict[str, Decision]]], dict[str, Decision]],
    registration: Registration,
    source: ProjectSource,
    today: date,
) -> Queue:
    """The queue from the hub's list (``source``) and this node's decisions (``read``)."""
    queue = Queue()
    try:
        signed = source.list_projects()
    except HubUnreachable:
        signed, queue.hub_problem = [], "The hub cannot be reached just now."
    except HubRejected as exc:
        signed, queue.hub_problem = [], f"The hub refused the request: {exc.message}"
    finally:
        source.close()
    own = read(decisions)
    queue.decisions = list(own.values())
    for one in signed:
        try:
            record = verified_project(one, registration)
        except BadSignature:
            queue.unverified += 1
            continue
        if registration.node_name not in record.nodes:
            continue
        item = reviewed(record, own.get(record.project_id), today)
        (queue.awaiting if item.awaiting else queue.listed).append(item)
    return queue


def review(
    read: Callable[[Callable[[Session], dict[str, Decision]]], dict[str, Decision]],
    registration: Registration,
    source: ProjectSource,
    project_id: str,
    today: date,
) -> Reviewed:
    """One project's current signed record, for its custodian to decide on."""
    try:
        record = verified_project(source.get_project(project_id), registration)
    finally:
        source.close()
    return reviewed(record, read(decisions).get(project_id), today)
