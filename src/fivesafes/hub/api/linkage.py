"""Routes of the linkage unit (``hub/linkage.py``): nodes push tokens and encodings and fetch
their own link ids over requests signed with their key (the node calls out, the hub never
calls a node); a project's members see how its linkage stands, its counts through the gate.

| route                                                  | who             | what             |
| ------------------------------------------------------ | --------------- | ---------------- |
| ``POST /api/v1/node/linkage/{project}/tokens``          | a node (signed) | a chunk of its   |
|                                                        |                 | upload           |
| ``GET  /api/v1/node/linkage/{project}/mapping``         | a node (signed) | its link ids     |
| ``POST /api/v1/node/linkage/{project}/delivered``       | a node (signed) | kept: deleted    |
| ``GET  /api/v1/projects/{project}/linkage``             | its members     | where it stands; |
|                                                        |                 | gated counts     |
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from fivesafes.governance.permissions import check_read_task
from fivesafes.hub import linkage
from fivesafes.hub.api.deps import Caller, EnrolledNode, Service
from fivesafes.hub.projects import project_access, project_for
from fivesafes.protocol.errors import NotFoundOrNoPermission
from fivesafes.protocol.linkage import LinkMapping, TokenChunk, UploadState
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["linkage"])
ProjectId = Annotated[str, Path(max_length=64)]


class Delivered(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class PairView(BaseModel):
    nodes: tuple[str, str]
    linked: int | None  # None: fewer than the gate's threshold (shown as such)
    shown: str
    by_encodings: int | None = None  # of those linked, by encodings (gated the same way)
    shown_by_encodings: str = ""  # "": a linkage made before encodings were counted
    encodings_threshold: float | None = None  # the run's Dice threshold (linkage.calibrate)


class LinkageView(BaseModel):
    project_id: str
    state: str  # not asked | waiting | linking | failed | linked
    uploads: list[dict[str, Any]]
    linked_at: datetime | None = None
    pairs: list[PairView] = []
    note: str = ""


@router.post("/node/linkage/{project_id}/tokens", tags=["node"])
async def tokens(
    project_id: ProjectId, chunk: TokenChunk, node: EnrolledNode, service: Service
) -> UploadState:
    """A chunk of the node's upload; the last node's final chunk starts the linkage (the
    hub's linkage worker runs it)."""
    root = service.config.hub.linkage_store
    state = await asyncio.to_thread(
        service.unit, lambda s: linkage.receive(s, root, node, project_id, chunk, utcnow())
    )
    if state.state == "linking":
        service.wake_linkage()
    return state


@router.get("/node/linkage/{project_id}/mapping", tags=["node"])
async def mapping(project_id: ProjectId, node: EnrolledNode, service: Service) -> LinkMapping:
    root = service.config.hub.linkage_store
    return await asyncio.to_thread(
        service.read, lambda s: linkage.mapping(s, root, node, project_id, utcnow())
    )


@router.post("/node/linkage/{project_id}/delivered", status_code=204, tags=["node"])
async def delivered(
    project_id: ProjectId, done: Delivered, node: EnrolledNode, service: Service
) -> Response:
    root = service.config.hub.linkage_store
    await asyncio.to_thread(
        service.unit,
        lambda s: linkage.delivered(s, root, node, project_id, done.run, utcnow()),
    )
    return Response(status_code=204)


@router.get("/projects/{project_id}/linkage")
async def linkage_view(project_id: ProjectId, actor: Caller, service: Service) -> LinkageView:
    """How the project's linkage stands: each node's upload, and once linked, the persons
    linked per pair of nodes and how many of them by encodings, through the hub's gate (below
    its threshold: not shown; rounded to its base)."""
    profile = service.config.profile

    def work(session: Any) -> LinkageView:
        project = project_for(session, project_id, actor)
        try:  # who may read the project's results; to others it does not exist
            check_read_task(actor, project_access(session, project))
        except NotFoundOrNoPermission:
            raise NotFoundOrNoPermission("project") from None
        return LinkageView.model_validate(linkage.gated_view(session, project, profile))

    return await asyncio.to_thread(service.read, work)
