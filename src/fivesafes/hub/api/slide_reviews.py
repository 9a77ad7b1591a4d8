"""Routes for nodes pushing released slides into the hub's review store (``hub/review.py``,
ADR 0029): offer a pack, send it in chunks, finish it; delete it when withdrawn. Every route
needs a request signed with the node's registered key: the node calls out, the hub never
calls a node.

| route                                                   | what                            |
| ------------------------------------------------------- | ------------------------------- |
| ``POST /api/v1/node/slide-reviews``                     | offer a pack: the bytes the hub |
|                                                         | has of it already               |
| ``PUT /api/v1/node/slide-reviews/{id}/data?offset=N``   | a chunk (at most 512 KiB)       |
| ``POST /api/v1/node/slide-reviews/{id}/finish``         | checked, then served            |
| ``POST /api/v1/node/slide-reviews/{id}/delete``         | withdrawn: deleted, with why    |
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from fivesafes.hub import review
from fivesafes.hub.api.deps import EnrolledNode, Service
from fivesafes.protocol.models import SlideReviewOffer
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1/node/slide-reviews", tags=["node"])
ReviewId = Annotated[str, Path(pattern=r"^SL[0-9A-F]{20}$")]


class Received(BaseModel):
    received: int
    chunk_bytes: int = review.CHUNK_BYTES


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


@router.post("", response_model=Received)
async def offer(offered: SlideReviewOffer, node: EnrolledNode, service: Service) -> Received:
    """Offer a released slide's pack; the answer says how much of it the hub has already."""
    received = await asyncio.to_thread(
        service.unit, lambda s: review.offer(s, node, offered, service.review_root, utcnow())
    )
    return Received(received=received)


@router.put("/{review_id}/data", response_model=Received)
async def chunk(
    review_id: ReviewId,
    request: Request,
    node: EnrolledNode,
    service: Service,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Received:
    """A chunk of the pack, at ``offset`` (where the hub's copy ends)."""
    data = await request.body()
    received = await asyncio.to_thread(
        service.unit,
        lambda s: review.receive(s, node, review_id, offset, data, service.review_root),
    )
    return Received(received=received)


@router.post("/{review_id}/finish", status_code=204)
async def finish(review_id: ReviewId, node: EnrolledNode, service: Service) -> Response:
    """The pack is whole: checked, then served to the project's members."""
    await asyncio.to_thread(
        service.unit, lambda s: review.finish(s, node, review_id, service.review_root, utcnow())
    )
    return Response(status_code=204)


@router.post("/{review_id}/delete", status_code=204)
async def delete(
    review_id: ReviewId, withdrawal: Withdrawal, node: EnrolledNode, service: Service
) -> Response:
    """The node withdrew the release: the pack is deleted from the store."""
    await asyncio.to_thread(
        service.unit,
        lambda s: review.delete(
            s,
            review_id,
            service.review_root,
            reason=withdrawal.reason,
            by=node.name,
            node=node,
            now=utcnow(),
        ),
    )
    service.review_tiles.forget(review_id)
    service.review_access.forget(review_id)
    return Response(status_code=204)
