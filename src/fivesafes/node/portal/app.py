"""The node portal's ASGI application: sign-in (``fivesafes.web.signin``, against the node's own
accounts), the home page, the approvals queue, the audit explorer and the patient data account.

Errors have one boundary here: a :class:`FivesafesError` is a page with its public message for
a browser (JSON for htmx), a bad form or query names the field and never echoes its value, and
anything unexpected is a plain "internal error" page, logged by its type only, never with its
text or a stack trace (the node's data may be in it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from fivesafes import __version__
from fivesafes.airlock.portal.routes import airlock_router
from fivesafes.extracts.portal.routes import extracts_router
from fivesafes.governance.permissions import (
    can_decide_project,
    can_look_up_patient_account,
    can_see_node_approvals,
    can_see_node_audit,
)
from fivesafes.kit.site import Mount, mount
from fivesafes.node.portal import approvals, audit, patient
from fivesafes.node.portal.airlock import portal_site as airlock_site
from fivesafes.node.portal.extracts import extracts_site
from fivesafes.node.portal.pages import actor, frame, page
from fivesafes.node.portal.slides import slides_site
from fivesafes.node.service import NodeService
from fivesafes.pathology.portal.routes import slides_router
from fivesafes.protocol.errors import (
    FivesafesError,
    InvalidRequest,
    MalformedRequest,
    NotFoundOrNoPermission,
)
from fivesafes.protocol.validation import problems
from fivesafes.web.audit_explorer.routes import audit_router
from fivesafes.web.errors import error_page
from fivesafes.web.pages import static_files
from fivesafes.web.signin import SignedIn, WebSignIn

log = logging.getLogger("fivesafes.node.portal")


class InternalError(FivesafesError):
    code = "internal_error"
    status = 500


MOUNTS: tuple[Mount[NodeService], ...] = (
    Mount("audit", lambda service: audit_router(audit.audit_site(service))),
    Mount("airlock", lambda service: airlock_router(airlock_site(service))),
    Mount("extracts", lambda service: extracts_router(extracts_site(service))),
    Mount("slides", lambda service: slides_router(slides_site(service))),
)
"""The domain modules' pages the node mounts (``fivesafes.kit.site``): ``/audit``, ``/airlock``,
``/extracts`` (the airlock's imaging extracts), ``/slides`` (registered slides, in a viewer)."""


def create_portal_app(service: NodeService) -> ContainErrors:
    """The portal around a node service; the app's lifespan starts and stops the service."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(service.start)
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title=f"fivesafes node portal ({service.name})",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    _install_errors(app)
    WebSignIn(
        service.accounts,
        frame=lambda: frame(service),
        secure_cookies=service.config.accounts.secure_cookies,
        home="/",
    ).install(app)

    @app.get("/api/v1/health", include_in_schema=False)
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, web: SignedIn) -> Response:
        who = actor(web)
        node = service.name
        return page(
            request, service, web, "node/home.html", title="Home",
            roles=[str(g) for g in sorted(web.account.grants)],
            may_see_approvals=can_see_node_approvals(who, node),
            may_decide=can_decide_project(who, node),
            may_see_audit=can_see_node_audit(who, node),
            may_look_up=can_look_up_patient_account(who, node),
        )  # fmt: skip

    app.include_router(approvals.router)
    app.include_router(patient.router)
    mount(app, service, MOUNTS)
    app.mount("/static", static_files(), name="static")
    return ContainErrors(app)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(FivesafesError)
    async def _ours(_request: Request, exc: FivesafesError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        error = InvalidRequest("Some of what was sent is not valid.", problems(exc.errors()))
        return await _public_async(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        error: FivesafesError
        if exc.status_code == 404:
            error = NotFoundOrNoPermission("page")
        elif exc.status_code == 405:
            error = MalformedRequest("This page does not take that kind of request.")
        else:
            error = MalformedRequest("The request could not be read.")
        return await _public_async(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> Response:
        # answered here; ContainErrors logs it (by type) and keeps its trace out of the log
        error = InternalError("The node portal hit an internal error.")
        if request.headers.get("HX-Request") == "true":
            return JSONResponse(error.body(), status_code=500)
        return error_page(request, error, frame(request.app.state.service))


async def _public_async(request: Request, exc: FivesafesError) -> Response:
    handler = request.app.exception_handlers[FivesafesError]
    answer = handler(request, exc)
    if asyncio.iscoroutine(answer):
        answer = await answer
    assert isinstance(answer, Response)
    return answer


class ContainErrors:
    """The outermost layer: the app answers an unexpected error with its internal-error page
    and raises it again (Starlette's way); here it ends, logged by its type only, never its
    text or stack trace."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - the one place unexpected errors end
            log.error(
                "internal error on %s %s: %s", scope.get("method"), scope.get("path"),
                type(exc).__name__,
            )  # fmt: skip
            if not started:  # the app's own handler did not answer (it always should)
                error = InternalError("The node portal hit an internal error.")
                await JSONResponse(error.body(), status_code=500)(scope, receive, send)
