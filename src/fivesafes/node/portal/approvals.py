"""The approvals queue: projects awaiting this node's decision, each reviewed on its own page
(version, scope, members and their accreditation, risk tier with reasons) and approved,
rejected or revoked through ``node.setup``, the command line's own action code: the decision
and its audit event commit in one transaction, then the hub is told.

A project that asks for the ``imaging`` domain also shows this node's extraction decision
(``fivesafes.extracts``, ADR 0028): a custodian approves extraction with the de-identification
options allowed, a custodian or TRE admin revokes it with a reason; the command line's own
actions (``fivesafes node extraction``), each audited.

Permission comes first: a person who may not see the queue gets 403 whatever the project.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fivesafes.extracts.permissions import (
    can_approve_extraction,
    can_revoke_extraction,
    check_approve_extraction,
    check_revoke_extraction,
)
from fivesafes.extracts.store import Decision
from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.permissions import (
    can_decide_project,
    can_revoke_project,
    check_decide_project,
    check_revoke_project,
    check_see_node_approvals,
)
from fivesafes.imaging.deid.options import OPTION_NAMES
from fivesafes.node import setup
from fivesafes.node.extracts import node_extracts
from fivesafes.node.portal.pages import Service, actor, page
from fivesafes.node.portal.queue import build_queue, review
from fivesafes.node.service import NodeService
from fivesafes.node.transport import HubRejected
from fivesafes.protocol.errors import FivesafesError, NotFoundOrNoPermission
from fivesafes.web.signin import Posting, SignedIn

router = APIRouter(include_in_schema=False)

MAX_ID = 64


def _project_id(project_id: str) -> str:
    if not project_id or len(project_id) > MAX_ID or not project_id.isascii():
        raise NotFoundOrNoPermission("project")
    return project_id


@router.get("/approvals", response_class=HTMLResponse)
def queue_page(
    request: Request, web: SignedIn, service: Service, decided: str | None = None
) -> Response:
    check_see_node_approvals(actor(web), service.name)
    queue = build_queue(service.read, service.registration(), service.transport(), date.today())
    notice = None
    if decided in {"approved", "rejected", "revoked"}:
        notice = f"Your decision was recorded ({decided}) and the hub was told."

    return page(request, service, web, "node/approvals.html", title="Approvals", queue=queue,
                notice=notice)  # fmt: skip


EXTRACTION_DONE = {
    "extraction-approved": "Extraction is approved for this project at this node (audited).",
    "extraction-revoked": "Extraction is revoked for this project at this node (audited).",
}


@router.get("/approvals/{project_id}", response_class=HTMLResponse)
def project_page(
    request: Request,
    project_id: str,
    web: SignedIn,
    service: Service,
    decided: str | None = None,
) -> Response:
    who = actor(web)
    check_see_node_approvals(who, service.name)
    notice = EXTRACTION_DONE.get(decided or "")
    return _review_page(request, service, web, _project_id(project_id), notice=notice)


def _review_page(
    request: Request,
    service: NodeService,
    web: SignedIn,
    project_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    who = actor(web)
    try:
        item = review(
            service.read, service.registration(), service.transport(), project_id, date.today()
        )
    except HubRejected as exc:
        if exc.http_status == 404:
            raise NotFoundOrNoPermission("project") from None
        raise
    return page(
        request, service, web, "node/project.html", status_code=status_code,
        title=item.record.title, item=item, error=error, notice=notice,
        may_decide=can_decide_project(who, service.name),
        may_revoke=can_revoke_project(who, service.name),
        extraction=_extraction(service, project_id),
        extraction_options=sorted(OPTION_NAMES),
        may_approve_extraction=can_approve_extraction(who, service.name),
        may_revoke_extraction=can_revoke_extraction(who, service.name),
    )  # fmt: skip


def _extraction(service: NodeService, project_id: str) -> Decision | None:
    """This node's current extraction decision on the project (None: never decided)."""
    found = [d for d in node_extracts(service).current() if d.project_id == project_id]
    return found[0] if found else None


def _decided(
    request: Request,
    service: NodeService,
    web: Posting,
    project_id: str,
    decided: str,
    action: Callable[[], object],
    back: str = "/approvals",
) -> Response:
    """Run ``action`` (a decision through ``node.setup``); on a refusal show the project again
    with the reason, the decision unmade."""
    try:
        action()
    except (NotPermitted, NotFoundOrNoPermission):
        raise
    except HubRejected as exc:
        if exc.http_status == 404:
            raise NotFoundOrNoPermission("project") from None
        return _review_page(request, service, web, project_id, error=exc.message, status_code=502)
    except FivesafesError as exc:
        return _review_page(
            request, service, web, project_id, error=exc.message, status_code=exc.status
        )
    return RedirectResponse(f"{back}?decided={decided}", status_code=303)


@router.post("/approvals/{project_id}/approve")
def approve(
    request: Request,
    project_id: str,
    web: Posting,
    service: Service,
    version: Annotated[int, Form(ge=1)],
    analysis: Annotated[list[str] | None, Form(max_length=50)] = None,
    outputs_to_airlock: Annotated[bool, Form()] = False,
) -> Response:
    check_decide_project(actor(web), service.name)
    project_id = _project_id(project_id)
    if not analysis:
        return _review_page(
            request, service, web, project_id, status_code=422,
            error="Choose at least one analysis to allow, or reject the project.",
        )  # fmt: skip
    return _decided(
        request, service, web, project_id, "approved",
        lambda: setup.approve(
            service, project_id, by=web.account.username, expect_version=version,
            analyses=analysis, outputs_to_airlock=outputs_to_airlock,
        ),
    )  # fmt: skip


@router.post("/approvals/{project_id}/reject")
def reject(
    request: Request,
    project_id: str,
    web: Posting,
    service: Service,
    version: Annotated[int, Form(ge=1)],
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    check_decide_project(actor(web), service.name)
    project_id = _project_id(project_id)
    return _decided(
        request, service, web, project_id, "rejected",
        lambda: setup.reject(
            service, project_id, by=web.account.username, reason=reason, expect_version=version
        ),
    )  # fmt: skip


@router.post("/approvals/{project_id}/revoke")
def revoke(request: Request, project_id: str, web: Posting, service: Service) -> Response:
    check_revoke_project(actor(web), service.name)
    project_id = _project_id(project_id)
    return _decided(
        request, service, web, project_id, "revoked",
        lambda: setup.revoke(service, project_id, by=web.account.username),
    )  # fmt: skip


@router.post("/approvals/{project_id}/extraction/approve")
def approve_extraction(
    request: Request,
    project_id: str,
    web: Posting,
    service: Service,
    option: Annotated[list[str] | None, Form(max_length=len(OPTION_NAMES))] = None,
) -> Response:
    """Allow imaging extracts of the project under the Basic Profile with the options ticked."""
    who = actor(web)
    check_approve_extraction(who, service.name)
    project_id = _project_id(project_id)
    return _decided(
        request, service, web, project_id, "extraction-approved",
        lambda: node_extracts(service).approve(project_id, option or [], by=who),
        back=f"/approvals/{project_id}",
    )  # fmt: skip


@router.post("/approvals/{project_id}/extraction/revoke")
def revoke_extraction(
    request: Request,
    project_id: str,
    web: Posting,
    service: Service,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Revoke extraction for the project: no extract of it is built here from now on."""
    who = actor(web)
    check_revoke_extraction(who, service.name)
    project_id = _project_id(project_id)
    return _decided(
        request, service, web, project_id, "extraction-revoked",
        lambda: node_extracts(service).revoke(project_id, reason, by=who),
        back=f"/approvals/{project_id}",
    )  # fmt: skip
