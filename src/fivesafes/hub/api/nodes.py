"""Routes for nodes: enrolment, the long-poll for work, results, projects and approvals.

Every route but enrolment needs a request signed with the node's registered key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from fivesafes.hub import runs
from fivesafes.hub.api.deps import EnrolledNode, Service
from fivesafes.hub.db import Node
from fivesafes.hub.enrolment import enrol_node, presence_due, record_presence
from fivesafes.hub.projects import (
    project_for_node,
    projects_for_node,
    record_approval_report,
)
from fivesafes.hub.service import HubService
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.protocol.models import (
    ApprovalReport,
    EnrolRequest,
    EnrolResponse,
    Lease,
    SignedProject,
    SignedResult,
    SubmitAck,
)
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["node"])


@router.post("/enrol", status_code=201)
async def enrol(request: EnrolRequest, service: Service) -> EnrolResponse:
    node = await asyncio.to_thread(
        service.unit,
        lambda s: enrol_node(
            s, token=request.token, node_name=request.node_name, public_key=request.public_key
        ),
    )
    info = service.info
    return EnrolResponse(node_name=node.name, hub_name=info.name, hub_public_key=info.public_key)


@router.get("/node/runs/next", response_model=Lease, responses={204: {"description": "no work"}})
async def next_run(
    node: EnrolledNode,
    service: Service,
    wait: Annotated[float, Query(ge=0, le=120)] = 0,
) -> Any:
    """Long-poll: lease the node's next run, or answer 204 when none came within ``wait``."""
    deadline = time.monotonic() + min(wait, service.config.hub.max_poll_wait_seconds)
    woken_up = False
    while True:
        woken = service.notifier.current(f"node:{node.name}")
        lease = await asyncio.to_thread(_lease_if_queued, service, node, look_first=not woken_up)
        if lease is not None:  # already validated: sent as it is, not validated again
            return Response(lease.model_dump_json(), media_type="application/json")
        remaining = deadline - time.monotonic()
        if remaining <= 0 or service.notifier.stopping:
            return Response(status_code=204)
        woken_up = await service.notifier.wait(woken, min(remaining, 1.0))


def _lease_if_queued(service: HubService, node: Node, *, look_first: bool) -> Lease | None:
    """Lease the node's next run. Unless a new run woke the poll, first only look (a read, which
    queues behind no writer): most looks find nothing, e.g. the poll a node sends right after
    its result, before the round is complete."""
    now = utcnow()
    if (
        look_first
        and not presence_due(node, now)
        and not service.read(lambda s: runs.has_queued_run(s, node, now))
    ):
        return None

    def lease_next(session: Session) -> Lease | None:
        record_presence(session, node, now)
        return runs.lease_next_run(session, node, now, service.lease_for)

    return service.unit(lease_next)


@router.post("/node/runs/{run_id}/working", status_code=204)
async def still_working(
    run_id: Annotated[str, Path(max_length=64)], node: EnrolledNode, service: Service
) -> Response:
    """The node is still running ``run_id`` (its heartbeat, every few seconds of a long run):
    the run's lease is extended and the node is seen online. Nothing else is said, whether
    the run is this node's or not."""
    now = utcnow()

    def working(session: Session) -> None:
        record_presence(session, node, now)
        runs.extend_lease(session, node, run_id, now, service.lease_for)

    await asyncio.to_thread(service.unit, working)
    return Response(status_code=204)


@router.post("/node/runs/{run_id}/result")
async def submit_result(
    run_id: str, result: SignedResult, node: EnrolledNode, service: Service
) -> SubmitAck:
    if result.payload.get("run_id") != run_id:
        raise InvalidRequest("The result's run id does not match the address it was sent to.")
    submission = await asyncio.to_thread(
        service.unit,
        lambda s: runs.submit_result(
            s, node, result, service.config.profile, utcnow(), service.key
        ),
    )
    if submission.task_completed:  # researchers' long-polls wait for completion only
        service.notifier.notify(f"task:{submission.task_id}")
    for name in submission.woken:  # the next round of an iterative analysis
        service.notifier.notify(f"node:{name}")
    return submission.ack


@router.get("/node/projects")
async def list_projects(node: EnrolledNode, service: Service) -> list[SignedProject]:
    """Every project that asks for this node, signed: what its custodian has to decide on."""
    return await asyncio.to_thread(service.read, lambda s: projects_for_node(s, node, service.key))


@router.get("/node/projects/{project_id}")
async def get_project(project_id: str, node: EnrolledNode, service: Service) -> SignedProject:
    return await asyncio.to_thread(
        service.read, lambda s: project_for_node(s, project_id, node, service.key)
    )


@router.post("/node/approvals", status_code=204)
async def report_approval(report: ApprovalReport, node: EnrolledNode, service: Service) -> Response:
    await asyncio.to_thread(service.unit, lambda s: record_approval_report(s, node, report))
    return Response(status_code=204)
