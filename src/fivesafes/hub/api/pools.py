"""Routes of pools (``hub/pools.py``): a linked project's member asks for a pool and sees where
its pools stand; the nodes that send to a pool, and the pool itself, fetch its signed terms
and report what they did, over requests signed with their keys (the hub never calls a node).

| route                                        | who                      | what               |
| -------------------------------------------- | ------------------------ | ------------------ |
| ``POST /api/v1/projects/{project}/pools``     | a member (researcher)    | ask for a pool     |
| ``GET  /api/v1/projects/{project}/pools``     | its members              | its pools          |
| ``GET  /api/v1/node/pools/{pool}``            | a sender or the pool     | terms and state    |
| ``POST /api/v1/node/pools/{pool}/events``     | a sender or the pool     | what it did        |
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path

from fivesafes.hub import pools
from fivesafes.hub.api.deps import Caller, EnrolledNode, Service
from fivesafes.protocol.pool import PoolEvent, PoolStatus
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["pools"])
ProjectId = Annotated[str, Path(max_length=64)]
PoolId = Annotated[str, Path(pattern=r"^pl_[0-9a-f]{12}$")]


@router.post("/projects/{project_id}/pools", status_code=201)
async def ask_for_pool(
    project_id: ProjectId, ask: pools.PoolAsk, actor: Caller, service: Service
) -> pools.PoolView:
    """Ask for a pool of the project's linked persons: which node sends which catalogue
    variables, to which pool, why, until when. Each node's custodian then approves it."""
    urls = dict(service.config.hub.pool_urls)

    def work(session: Any) -> pools.PoolView:
        return pools.request_pool(
            session, project_id, ask, actor, key=service.key, urls=urls, now=utcnow()
        )

    return await asyncio.to_thread(service.unit, work)


@router.get("/projects/{project_id}/pools")
async def project_pools(
    project_id: ProjectId, actor: Caller, service: Service
) -> list[pools.PoolView]:
    return await asyncio.to_thread(
        service.read, lambda s: pools.pools_of(s, project_id, actor, utcnow())
    )


@router.get("/node/pools/{pool_id}", tags=["node"])
async def pool_status(pool_id: PoolId, node: EnrolledNode, service: Service) -> PoolStatus:
    return await asyncio.to_thread(
        service.read, lambda s: pools.status(s, node, pool_id, service.key, utcnow())
    )


@router.post("/node/pools/{pool_id}/events", tags=["node"])
async def pool_event(
    pool_id: PoolId, event: PoolEvent, node: EnrolledNode, service: Service
) -> PoolStatus:
    return await asyncio.to_thread(
        service.unit, lambda s: pools.report(s, node, pool_id, event, service.key, utcnow())
    )
