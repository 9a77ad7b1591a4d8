"""The hub's portal frame, its home page and the public data use register page; the signed-in
pages live beside this one (``projects``, ``tasks``, ``nodes``, ``audit``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import via_session
from fivesafes.governance.permissions import can_list_nodes, can_read_hub_audit
from fivesafes.hub.api.deps import Service
from fivesafes.hub.api.public import cached_register
from fivesafes.web.pages import render
from fivesafes.web.signin import MaybeSignedIn

router = APIRouter(include_in_schema=False)

PUBLIC_NAV = [("/", "Home"), ("/register", "Data use register")]


def frame(service: Any, web: WebSession | None = None, **context: Any) -> dict[str, Any]:
    """What every hub page's frame shows: the service, its navigation (more when signed in)
    and, when someone is signed in, who, with the session's CSRF token for forms and htmx."""
    nav = list(PUBLIC_NAV)
    if web is not None:
        nav.insert(1, ("/projects", "Projects"))
        nav.insert(2, ("/airlock", "Airlock"))
        nav.insert(3, ("/review/slides", "Slides"))
        nav.insert(4, ("/review/studies", "Studies"))
        actor = via_session(web.account)
        if can_list_nodes(actor):
            nav.insert(5, ("/nodes", "Nodes"))
        if can_read_hub_audit(actor):
            nav.append(("/audit", "Audit"))
    return {
        "service_kind": "hub",
        "service_name": service.info.name,
        "nav": nav,
        "web_session": web,
        "csrf": web.csrf if web else None,
        **context,
    }


def page(
    request: Request,
    service: Any,
    web: WebSession | None,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A hub page in its frame; a signed-in page is never stored by caches."""
    response = render(request, template, status_code=status_code, **frame(service, web, **context))
    if web is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, service: Service, web: MaybeSignedIn) -> HTMLResponse:
    return page(request, service, web, "hub/home.html", title="Home")


@router.get("/register", response_class=HTMLResponse)
async def register(request: Request, service: Service, web: MaybeSignedIn) -> HTMLResponse:
    """The data use register for the public: the same record as ``GET /api/v1/register``."""
    built = await asyncio.to_thread(cached_register, request, service)
    return page(request, service, web, "hub/register.html", title="Data use register",
                register=built)  # fmt: skip
