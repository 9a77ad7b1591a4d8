"""The hub's audit explorer (hub admins): events newest first, filtered by type, actor,
project, node or task, a page at a time; and whether the chain holds
(``fivesafes.audit.verify``, the check ``fivesafes audit verify`` runs), each broken link
named with the event where it is."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.checkpoints import read_witness
from fivesafes.audit.events import AuditEventType
from fivesafes.audit.verify import AuditReport, verify_audit
from fivesafes.governance.people import via_session
from fivesafes.governance.permissions import check_read_hub_audit
from fivesafes.hub.api.deps import Service
from fivesafes.hub.db import AUDIT
from fivesafes.hub.portal.pages import page
from fivesafes.hub.service import HubService
from fivesafes.protocol.signing import public_key_text
from fivesafes.web.signin import SignedIn

router = APIRouter(include_in_schema=False)
PAGE = 50
FILTERS = ("event_type", "actor", "project_id", "node", "task_id")
Text = Annotated[str | None, Query(max_length=128)]


@dataclass(frozen=True)
class Filters:
    event_type: str | None = None
    actor: str | None = None
    project_id: str | None = None
    node: str | None = None
    task_id: str | None = None

    def query(self) -> dict[str, str]:
        return {name: value for name in FILTERS if (value := getattr(self, name))}


def events(
    session: Session, filters: Filters, before: int | None, size: int = PAGE
) -> list[dict[str, Any]]:
    """A page of events (and one more, to tell whether there are older ones), newest first,
    older than ``before`` (a sequence number)."""
    e = AUDIT.events.c
    query = select(AUDIT.events).order_by(e.seq.desc()).limit(size + 1)
    for name, value in filters.query().items():
        query = query.where(e[name] == value)
    if before is not None:
        query = query.where(e.seq < before)
    return [dict(row._mapping) for row in session.execute(query)]


def verify(service: HubService) -> AuditReport:
    """The whole chain and every checkpoint (in the chain and the witness file) checked."""
    public = public_key_text(service.key)
    path = service.config.hub.audit_witness_file
    witness = list(read_witness(path)) if path is not None else []
    return service.read(lambda s: verify_audit(s, AUDIT, public, witness))


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request,
    service: Service,
    web: SignedIn,
    event_type: Text = None,
    actor: Text = None,
    project_id: Text = None,
    node: Text = None,
    task_id: Text = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    size: Annotated[int, Query(ge=10, le=500)] = PAGE,
) -> HTMLResponse:
    check_read_hub_audit(via_session(web.account))
    filters = Filters(
        *(v.strip() or None if v else None for v in (event_type, actor, project_id, node, task_id))
    )
    rows = await asyncio.to_thread(service.read, lambda s: events(s, filters, before, size))
    report = await asyncio.to_thread(verify, service)
    older = rows[size - 1]["seq"] if len(rows) > size else None
    return page(request, service, web, "hub/audit.html", title="Audit log",
                events=rows[:size], filters=filters, size=size, older=older, report=report,
                event_types=[t.value for t in AuditEventType],
                first_page=before is None,
                broken={p.seq for p in report.problems})  # fmt: skip
