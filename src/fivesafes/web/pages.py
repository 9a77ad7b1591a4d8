"""Rendering the portal's pages: Jinja2 templates (autoescaped) and the static assets.

A page is a template extending ``base.html`` (landmarks, a skip link, labelled navigation, a
main region htmx may swap parts of). Handlers call :func:`render`; the app mounts
:func:`static_files` at ``/static``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from fivesafes.governance.accounts import WebSession
from fivesafes.web import when
from fivesafes.web.assets import STATIC

TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.globals.update(ago=when.ago, utc=when.utc)  # "3 minutes ago", "2026-06-01 12:00:03 UTC"


class Page(Protocol):
    """A page in the service's own frame (``hub.portal.pages.page``, ``node.portal.pages.page``
    with the service bound)."""

    def __call__(
        self,
        request: Request,
        web: WebSession,
        template: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse: ...


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The page ``template`` with ``context``; ``request`` gives templates the path, and an
    htmx request (``HX-Request``) can be answered with a fragment by the template itself."""
    page = _ENV.get_template(template).render(
        request=request,
        path=request.url.path,
        htmx=request.headers.get("HX-Request") == "true",
        **context,
    )
    return HTMLResponse(page, status_code=status_code)


def static_files() -> StaticFiles:
    """The portal's static assets (own CSS, and vendored htmx and Pico from npm)."""
    return StaticFiles(directory=STATIC)
