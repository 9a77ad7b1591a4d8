"""The airlock at a node: release requests for outputs produced here, reviewed by this node's
own output checkers (accounts in the node's database, role ``output_checker`` at this node).

**Who acts.** A checker is a node account. A request's author is a researcher, whose account
lives at the hub, not here: the node knows them as a member of a project its custodian
approved (the signed project record it keeps). So ``--by alice`` at a node is a node account
called alice, or else a member of an approved project here (acting with no role at all).

**Held outputs become requests on request.** A run whose output was held for review (the
gate's verdict ``review``, or the approval's ``outputs_to_airlock``) keeps that output at the
node, never sent (``runs.held_output``). Its requester turns it into a draft release request
with one JSON file (the output and why it was held) by :func:`request_from_run`; nothing is
made automatically, so no request appears that its author did not ask for. Outputs held by
the table, group, survival, attrition and characterisation gates are not kept yet: for those
the researcher exports the result themselves and adds it as a file.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.airlock.files import FileType, RequestFile
from fivesafes.airlock.request import ReleaseRequest
from fivesafes.airlock.service import Airlock, sql_unit
from fivesafes.airlock.sql_store import SqlAirlockStore
from fivesafes.airlock.store import AirlockStore, StoredBundle
from fivesafes.audit.checkpoints import service_name
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import node_scope
from fivesafes.kit.store import SessionUnit, SqlUnit
from fivesafes.node.accounts import node_accounts
from fivesafes.node.db import AIRLOCK, AUDIT, Approval, NodeRun
from fivesafes.node.outcome import held_persons
from fivesafes.node.person_sets import record_person_set
from fivesafes.node.service import NodeService
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.runs import ReasonCode


class NodeAirlockStore(SqlAirlockStore):
    """The airlock's records at a node: releasing a request made from a held run also records
    that run's persons in the node's released person sets, in the release's own transaction,
    so the differencing check and the patient data account count what the airlock let out.
    Whatever files the released request holds, the run's population counts as released (the
    cautious reading: its files were made from that output)."""

    def put_bundle(self, stored: StoredBundle) -> None:
        super().put_bundle(stored)
        requests = AIRLOCK.requests
        run_id = self._s.execute(
            select(requests.c.run_id).where(requests.c.id == stored.request_id)
        ).scalar()
        run = self._s.get(NodeRun, run_id) if run_id else None
        if run is None or not run.held_output or run.project_id is None:
            return
        answer = run.held_output.get("output") or {}
        for n, persons in enumerate(held_persons(run.held_output)):
            key = f"airlock:{stored.request_id}" + (f"#{n}" if n else "")
            record_person_set(self._s, run.project_id, key, run.run_id, persons, answer)


def airlock_unit(unit: SessionUnit) -> SqlUnit[AirlockStore]:
    """A node's transactions as its airlock's (on :class:`NodeAirlockStore`)."""
    return sql_unit(unit, AIRLOCK, AUDIT, NodeAirlockStore)


def node_airlock(service: NodeService) -> Airlock:
    return Airlock(
        scope=node_scope(service.name),
        unit=airlock_unit(service.unit),
        key=service.key,
        service=service_name("node", service.name),
        profile=service.config.profile,
    )


def _members(session: Session) -> set[str]:
    approved = session.scalars(select(Approval).where(Approval.state == "approved"))
    return {member for approval in approved for member in approval.members}


def airlock_actor(session: Session, username: str) -> Actor:
    """A node account called ``username`` (active), or else a member of a project approved at
    this node, acting with no role here."""
    account = node_accounts().find(session, username)
    if account is not None and not account.disabled:
        return Actor(account)
    if account is None and username in _members(session):
        return Actor(Account(id=0, username=username, display_name=username))
    raise InvalidRequest(
        f"There is no active account {username!r} at this node, nor a member of a project "
        "approved here by that name."
    )


def check_author(session: Session, actor: Actor, project_id: str | None) -> None:
    """A request at a node belongs to a project approved here, and its author is a member."""
    if project_id is None:
        raise InvalidRequest("A release request at a node names its project (--project).")
    approval = session.get(Approval, project_id)
    if approval is None or approval.state != "approved" or actor.username not in approval.members:
        raise NotFoundOrNoPermission("approved project")


def held_runs(session: Session) -> list[NodeRun]:
    """Runs whose output was held for review and kept here, newest first."""
    return list(
        session.scalars(
            select(NodeRun)
            .where(NodeRun.reason == ReasonCode.HELD_FOR_REVIEW.value)
            .where(NodeRun.held_output.is_not(None))
            .order_by(NodeRun.received_at.desc())
        )
    )


def held_file(run: NodeRun) -> RequestFile:
    """The JSON file a held run's output becomes: the output, why it was held, where from."""
    held: dict[str, Any] = dict(run.held_output or {})
    output = held.get("output") or {}
    gate = output.get("gate") if isinstance(output, dict) else None
    document = {
        "run_id": run.run_id,
        "task_id": run.task_id,
        "project_id": run.project_id,
        "analysis": run.analysis,
        "held_because": held.get("held_because"),
        "gate": gate if isinstance(gate, dict) else {"verdict": "review", "rules": []},
        "output": output,
    }
    name = f"{run.analysis or 'output'}-{run.run_id.replace('/', '-')}.json"
    content = json.dumps(document, indent=2, sort_keys=True).encode()
    why = (
        "the gate's verdict was review"
        if held.get("held_because") == "gate_review"
        else ("the project's approval holds every output for an output checker")
    )
    return RequestFile(
        name,
        content,
        FileType.OUTPUT,
        f"The {run.analysis} output of run {run.run_id} (task {run.task_id}), held at the "
        f"node because {why}.",
    )


def request_from_run(
    read: SessionUnit, airlock: Airlock, run_id: str, *, by: Actor, title: str | None = None
) -> ReleaseRequest:
    """A draft release request holding a held run's output, authored by the run's requester
    (anyone else is told the run does not exist). One request per run."""

    def find(s: Session) -> NodeRun:
        run = s.get(NodeRun, run_id)
        if run is None or run.requester != by.username or run.held_output is None:
            raise NotFoundOrNoPermission("held output")
        check_author(s, by, run.project_id)
        return run

    run = read(find)
    return airlock.create(
        title=title or f"{run.analysis} output of task {run.task_id}",
        project_id=run.project_id,
        by=by,
        run_id=run_id,
        files=(held_file(run),),
    )


def author_projects(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """The projects approved here that ``actor`` is a member of (they may make requests)."""
    approved = session.scalars(
        select(Approval).where(Approval.state == "approved").order_by(Approval.project_id)
    )
    return [(a.project_id, a.title) for a in approved if actor.username in a.members]
