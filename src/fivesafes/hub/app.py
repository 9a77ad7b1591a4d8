"""The hub's ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from fivesafes import __version__
from fivesafes.airlock.portal.routes import airlock_router
from fivesafes.hub import airlock as hub_airlock
from fivesafes.hub.api import linkage, nodes, pools, public, researcher, slide_reviews, studies
from fivesafes.hub.api.deps import Service
from fivesafes.hub.api.errors import BodyLimit, install_error_handlers
from fivesafes.hub.portal import audit as portal_audit
from fivesafes.hub.portal import nodes as portal_nodes
from fivesafes.hub.portal import pages as portal_pages
from fivesafes.hub.portal import projects as portal_projects
from fivesafes.hub.portal import review as portal_review
from fivesafes.hub.portal import studies as portal_studies
from fivesafes.hub.portal import study_design as portal_study_design
from fivesafes.hub.portal import tasks as portal_tasks
from fivesafes.hub.service import HubService
from fivesafes.kit.site import Mount, mount
from fivesafes.pathology.portal.routes import slides_router
from fivesafes.protocol.models import HubInfo
from fivesafes.web.audit_explorer.routes import audit_router
from fivesafes.web.pages import static_files
from fivesafes.web.signin import WebSignIn

MOUNTS: tuple[Mount[HubService], ...] = (
    Mount("audit", lambda service: audit_router(portal_audit.audit_site(service))),
    Mount("airlock", lambda service: airlock_router(hub_airlock.portal_site(service))),
    Mount("airlock-tasks", hub_airlock.task_router),
    Mount("review-slides", lambda service: slides_router(portal_review.review_site(service))),
)
"""The domain modules' pages the hub mounts (``fivesafes.kit.site``): ``/audit``, ``/airlock``,
a task's "Send to the airlock" (``/tasks/{id}/airlock``) and the slides released for review
(``/review/slides``)."""


def create_app(service: HubService) -> FastAPI:
    """Build the app around a service; the service is started by the app's lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(service.start)
        service.notifier.bind(asyncio.get_running_loop())
        sweeper = asyncio.create_task(service.sweep_forever())
        linker = asyncio.create_task(service.link_forever())
        checkpoints = service.checkpointer()
        checkpoints.start()
        try:
            yield
        finally:
            for loop_task in (sweeper, linker):
                loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop_task
            await asyncio.to_thread(checkpoints.stop)
            await asyncio.to_thread(service.flush_trail, everything=True)
            service.review_tiles.close()
            service.stop()

    app = FastAPI(
        title="fivesafes hub",
        version=__version__,
        lifespan=lifespan,
        description="The federation's coordinator: people, projects, tasks and combined results.",
        docs_url=None,  # served below with the assets installed at set-up (no CDN)
        redoc_url=None,
    )
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=service.config.hub.max_request_bytes)

    @app.get("/docs", include_in_schema=False)
    async def api_pages() -> HTMLResponse:
        """The API's interactive pages (Swagger UI), from this hub's own static files."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="fivesafes hub API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-favicon.png",
        )

    @app.get("/api/v1/health", tags=["public"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/v1/hub", tags=["public"])
    async def hub_info(svc: Service) -> HubInfo:
        return svc.info

    app.include_router(researcher.router)
    app.include_router(nodes.router)
    app.include_router(slide_reviews.router)  # nodes push released slides (hub/review.py)
    app.include_router(studies.router)  # review studies (hub/studies.py)
    app.include_router(linkage.router)  # the linkage unit (hub/linkage.py)
    app.include_router(pools.router)  # pools of linked persons' rows (hub/pools.py)
    app.include_router(public.router)  # the data use register
    for portal in (portal_pages, portal_projects, portal_tasks, portal_nodes, portal_studies,
                   portal_study_design):  # fmt: skip
        app.include_router(portal.router)
    mount(app, service, MOUNTS)
    WebSignIn(
        service.accounts,
        frame=lambda: portal_pages.frame(service),
        secure_cookies=service.config.accounts.secure_cookies,
        home="/",
    ).install(app)
    app.mount("/static", static_files(), name="static")
    return app
