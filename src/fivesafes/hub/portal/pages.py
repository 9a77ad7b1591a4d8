"""The hub's public pages and the portal's frame; each signed-in page lives beside this one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from fivesafes.hub.api.deps import Service
from fivesafes.web.pages import render
from fivesafes.web.signin import MaybeSignedIn

router = APIRouter(include_in_schema=False)

PUBLIC_NAV = [("/", "Home")]


def frame(service: Any, **context: Any) -> dict[str, Any]:
    """What every hub page's frame shows: the service and its navigation."""
    return {
        "service_kind": "hub",
        "service_name": service.info.name,
        "nav": PUBLIC_NAV,
        **context,
    }


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, service: Service, web: MaybeSignedIn) -> HTMLResponse:
    sign_in = request.app.state.sign_in
    return render(request, "hub/home.html", **frame(service, title="Home", **sign_in.context(web)))
