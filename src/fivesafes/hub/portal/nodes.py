"""The enrolled nodes in the hub's portal: each online or offline (its agent has polled the hub
within ``[hub] node_offline_after_seconds``) and when it was last seen, as ``GET /api/v1/nodes``
and ``fivesafes nodes`` say it (``hub.enrolment.node_views``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from fivesafes.governance.people import via_session
from fivesafes.governance.permissions import check_list_nodes
from fivesafes.hub.api.deps import Service
from fivesafes.hub.enrolment import node_views
from fivesafes.hub.portal.pages import page
from fivesafes.storage.types import utcnow
from fivesafes.web.signin import SignedIn

router = APIRouter(include_in_schema=False)


@router.get("/nodes", response_class=HTMLResponse)
async def nodes(request: Request, service: Service, web: SignedIn) -> HTMLResponse:
    check_list_nodes(via_session(web.account))
    now = utcnow()
    views = await asyncio.to_thread(
        service.read, lambda s: node_views(s, now, service.offline_after)
    )
    hub = service.config.hub
    return page(request, service, web, "hub/nodes.html", title="Nodes", nodes=views, now=now,
                offline_after=hub.node_offline_after_seconds,
                max_poll_wait=hub.max_poll_wait_seconds)  # fmt: skip
