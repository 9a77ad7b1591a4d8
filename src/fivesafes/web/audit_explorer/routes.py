"""The audit explorer's page (``/audit``) for one service: who may read the log is asked
first, then the filters are read, then one read-only transaction verifies the whole chain and
reads a page of events, so the page's verdict and its rows are of the same moment.

The filter form and the pager use htmx to swap the events alone; without JavaScript they are a
GET form and plain links. A filter a person cannot mean (an unknown event type, a 'from' date
after the 'to' date) is refused with the field's problem, never its value.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from fivesafes.audit.checkpoints import read_witness
from fivesafes.audit.verify import AuditReport, verify_audit
from fivesafes.governance.people import via_session
from fivesafes.protocol.signing import fingerprint
from fivesafes.web.audit_explorer.log import (
    EVENT_TYPES,
    PAGE_SIZE,
    AuditQuery,
    EventsPage,
    events_page,
)
from fivesafes.web.audit_explorer.site import AuditSite
from fivesafes.web.signin import SignedIn

Text = Annotated[str | None, Query(max_length=128)]
Day = Annotated[date | None, BeforeValidator(lambda v: v or None), Query()]  # "": any day
Seq = Annotated[int | None, Query(ge=1, le=2**31)]


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def audit_router(site: AuditSite) -> APIRouter:
    """The audit explorer for one service (``site``), to mount on its portal app."""
    router = APIRouter(include_in_schema=False)

    @router.get("/audit", response_class=HTMLResponse)
    def explorer(
        request: Request,
        web: SignedIn,
        event_type: Text = None,
        actor: Text = None,
        project_id: Text = None,
        node: Text = None,
        task_id: Text = None,
        since: Day = None,
        until: Day = None,
        to_event: Seq = None,
        before: Seq = None,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        size: Annotated[int, Query(ge=10, le=500)] = PAGE_SIZE,
    ) -> Response:
        site.check_read(via_session(web.account))
        wanted = AuditQuery(
            event_type=_blank(event_type), actor=_blank(actor), project_id=_blank(project_id),
            node=_blank(node), task_id=_blank(task_id), since=since, until=until,
            to_event=to_event, before=before, page=page, size=size,
        )  # fmt: skip
        public = site.public_key()
        witness = list(read_witness(site.witness_file)) if site.witness_file is not None else []

        def read(session: Session) -> tuple[AuditReport, EventsPage]:
            report = verify_audit(session, site.tables, public, witness)
            return report, events_page(session, site.tables, wanted, report.problems)

        report, events = site.read(read)
        return site.page(
            request, web, "audit/explorer.html", title="Audit log",
            report=report, events=events, wanted=wanted, event_types=EVENT_TYPES,
            key_fingerprint=fingerprint(public), witness_file=site.witness_file,
            default_size=PAGE_SIZE,
        )  # fmt: skip

    return router
