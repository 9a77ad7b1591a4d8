"""What every page of the node's portal shares: the service, the frame (the node's name and
navigation) and rendering a page for the signed-in person."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import Actor, via_session
from fivesafes.node.service import NodeService
from fivesafes.web.pages import render

NAV = [
    ("/", "Home"),
    ("/approvals", "Approvals"),
    ("/audit", "Audit log"),
    ("/patient-account", "Patient data account"),
    ("/airlock", "Airlock"),
    ("/extracts", "Imaging extracts"),
    ("/slides", "Slides"),
]


async def get_service(request: Request) -> NodeService:
    """The app's service (a coroutine: FastAPI would run a plain function in its thread pool)."""
    service: NodeService = request.app.state.service
    return service


Service = Annotated[NodeService, Depends(get_service)]


def frame(service: NodeService) -> dict[str, Any]:
    """What every node page's frame shows: the node and its navigation."""
    return {"service_kind": "node", "service_name": service.name, "nav": NAV}


def actor(web: WebSession) -> Actor:
    return via_session(web.account)


def page(
    request: Request,
    service: NodeService,
    web: WebSession,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """``template`` in the node's frame, for the signed-in ``web`` session (never cached:
    every page shows the node's records)."""
    response = render(
        request,
        template,
        status_code=status_code,
        **frame(service),
        **request.app.state.sign_in.context(web),
        **context,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
