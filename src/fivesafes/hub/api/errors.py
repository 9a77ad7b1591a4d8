"""The hub's boundary where errors become HTTP responses of one JSON shape.

What each code answers (status, public message) is the catalogue's
(``fivesafes.protocol.errors.CATALOGUE``, ADR 0024), the same the command line tells. Validation
errors name the field and the problem but never echo the submitted value; anything unexpected
becomes ``internal_error`` with the catalogue's message and no text from the exception, and is
logged by its type only.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from fivesafes.protocol.errors import (
    ErrorBody,
    FivesafesError,
    InvalidRequest,
    MalformedRequest,
    PayloadTooLarge,
    error_body,
    kind_for_status,
    public_error,
)
from fivesafes.protocol.validation import problems

log = logging.getLogger("fivesafes.http")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "Refused: the error's code and message in words"}
}
"""What a route's refusals look like in the OpenAPI document (every one has this shape; the
status and code come from the catalogue), in place of FastAPI's own validation error."""


def error_response(error: FivesafesError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def _validation_error(exc: RequestValidationError) -> FivesafesError:
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return MalformedRequest("The request body is not valid JSON.")
    return InvalidRequest(details=problems(errors))  # the catalogue's "The request is not valid."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FivesafesError)
    async def _ours(_request: Request, exc: FivesafesError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # routing's own errors (no route, wrong method): never the exception's detail
        kind = kind_for_status(exc.status_code)
        message = "No such route." if exc.status_code == 404 else kind.message
        return JSONResponse(error_body(kind.code, message), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        return error_response(public_error(exc))


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes, declared or streamed, with a 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_large = PayloadTooLarge(f"The request body is larger than {self.limit} bytes.")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await error_response(too_large)(scope, receive, send)
            return
        seen = 0

        async def limited() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise too_large
            return message

        try:
            await self.app(scope, limited, send)
        except PayloadTooLarge as exc:
            await error_response(exc)(scope, receive, send)
