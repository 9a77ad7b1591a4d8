"""Errors as pages for people in a browser; JSON, as before, for everyone else.

The service's own error boundary (e.g. ``fivesafes.hub.api.errors``) turns a
:class:`~fivesafes.protocol.errors.FivesafesError` into the one JSON shape. A person who
followed a link or posted a plain form gets the same code and message as a page in the
portal's frame instead; API paths and htmx requests keep the JSON (htmx swaps it into the
page's error region, ``base.html``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from fivesafes.protocol.errors import FivesafesError
from fivesafes.web.pages import render

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def wants_json(request: Request) -> bool:
    """An htmx or API request: answered with JSON errors rather than pages or redirects."""
    return request.headers.get("HX-Request") == "true" or request.url.path.startswith("/api/")


def install_page_errors(app: FastAPI, frame: Callable[[], dict[str, Any]]) -> None:
    """Wrap the app's handler of ``FivesafesError`` (install that one first)."""
    as_json: Handler | None = app.exception_handlers.get(FivesafesError)

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FivesafesError)
        if wants_json(request) and as_json is not None:
            answer = as_json(request, exc)
            return await answer if isinstance(answer, Awaitable) else answer
        return error_page(request, exc, frame())

    app.add_exception_handler(FivesafesError, handler)


def error_page(request: Request, exc: FivesafesError, frame: dict[str, Any]) -> Response:
    response = render(
        request,
        "error.html",
        status_code=exc.status,
        **frame,
        title="Error" if exc.status >= 500 else "Not possible",
        code=exc.code,
        message=exc.message,
        details=exc.details,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
