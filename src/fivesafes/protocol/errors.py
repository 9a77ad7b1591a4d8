"""One small exception tree for everything a client may be told.

Each public error carries a stable ``code`` and an HTTP ``status``; the message is written for
the person reading it and never carries patient data. Internal errors never reach a client as
text: the boundary turns them into ``internal_error``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class ErrorDetail(BaseModel):
    """One problem with one field of a request."""

    model_config = ConfigDict(extra="forbid")
    field: str
    problem: str


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorBody(BaseModel):
    """The one JSON shape of every error response: ``{"error": {code, message, details}}``."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorInfo


class FivesafesError(Exception):
    """Base of every error the platform raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        info = ErrorInfo(code=self.code, message=self.message, details=self.details)
        return ErrorBody(error=info).model_dump()


class InvalidRequest(FivesafesError):
    code = "invalid_request"
    status = 422


class MalformedRequest(FivesafesError):
    code = "malformed_request"
    status = 400


class PayloadTooLarge(FivesafesError):
    code = "payload_too_large"
    status = 413


class Unauthenticated(FivesafesError):
    """A missing, invalid or expired token, or a bad request signature."""

    code = "unauthenticated"
    status = 401


class NotFoundOrNoPermission(FivesafesError):
    """One answer for 'does not exist' and 'not yours': outsiders cannot tell them apart."""

    code = "not_found"
    status = 404

    def __init__(self, what: str = "resource") -> None:
        super().__init__(f"The {what} does not exist or you do not have permission to see it.")


class Forbidden(FivesafesError):
    """The caller can see the resource but may not perform this action on it."""

    code = "forbidden"
    status = 403


class Conflict(FivesafesError):
    code = "conflict"
    status = 409


class ServiceUnavailable(FivesafesError):
    code = "unavailable"
    status = 503


class ConfigError(FivesafesError):
    """A configuration file is missing, unreadable or invalid (raised at the edge, not HTTP)."""

    code = "config_error"
    status = 500


class BadSignature(FivesafesError):
    code = "bad_signature"
    status = 401
