"""The audit explorer: the node's events, filtered and paged, and whether the chain holds.

Every full view runs the same verification as ``fivesafes audit verify`` (the hash chain and
every signed checkpoint, with the witness file) and marks each event where it found a
problem; a problem with no event to show (events deleted at the end) is in the summary. The
filter form and the pager use htmx to swap the table alone; without JavaScript they are plain
links and a GET form.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from fivesafes.audit.checkpoints import read_witness
from fivesafes.audit.verify import AuditReport, verify_audit
from fivesafes.governance.permissions import check_see_node_audit
from fivesafes.node.db import AUDIT
from fivesafes.node.portal.audit_log import EVENT_TYPES, AuditFilter, EventsPage, events_page
from fivesafes.node.portal.pages import Service, actor, page
from fivesafes.protocol.signing import fingerprint, public_key_text
from fivesafes.web.signin import SignedIn

router = APIRouter(include_in_schema=False)

Text = Annotated[str | None, Query(max_length=128)]


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@router.get("/audit", response_class=HTMLResponse)
def explorer(
    request: Request,
    web: SignedIn,
    service: Service,
    event_type: Text = None,
    actor_name: Annotated[str | None, Query(alias="actor", max_length=128)] = None,
    project_id: Text = None,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    to_event: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> Response:
    check_see_node_audit(actor(web), service.name)
    wanted = AuditFilter(
        event_type=_blank(event_type),
        actor=_blank(actor_name),
        project_id=_blank(project_id),
        since=since,
        until=until,
        to_event=to_event,
        page=page_number,
    )
    public = public_key_text(service.key)
    witness_file = service.config.node.audit_witness_file
    witness = list(read_witness(witness_file)) if witness_file is not None else []

    def read(session: Session) -> tuple[AuditReport, EventsPage]:
        report = verify_audit(session, AUDIT, public, witness)
        return report, events_page(session, AUDIT, wanted, report.problems)

    report, events = service.read(read)
    return page(
        request, service, web, "node/audit.html", title="Audit log",
        report=report, events=events, wanted=wanted, event_types=EVENT_TYPES,
        key_fingerprint=fingerprint(public), witness_file=witness_file,
    )  # fmt: skip
