"""One small exception tree for everything a client may be told, and its catalogue.

Each public error carries a stable ``code``; the :data:`CATALOGUE` says, for every code the
platform sends, its HTTP status, its public message and the exit code of the ``fivesafes``
command (ADR 0024). The hub's API (``hub.api.errors``), the portals' error pages
(``web.errors``) and the command line (``cli.main``) all read it, so a refusal is told the same
way everywhere. A message is written for the person reading it and never carries patient data
or a submitted value. Internal errors never reach anyone as text: :func:`public_error` turns
them into ``internal_error`` with the catalogue's message.

The catalogue is keyed by the code, a string on the wire, so it lists the codes raised above
this module (governance, airlock, node) without importing them; a subclass names its code and
takes its status and exit code from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

EXIT_FAILED = 1  # an unexpected failure (or, for a command that checks, a failed check)
EXIT_REFUSED = 2  # refused: bad input, not permitted, not found, not configured, unreachable


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


def error_body(code: str, message: str, details: list[ErrorDetail] | None = None) -> dict[str, Any]:
    """``{"error": {"code", "message", "details"}}``, the shape pinned by
    ``tests/integration/test_error_shape.py``."""
    info = ErrorInfo(code=code, message=message, details=details or [])
    return ErrorBody(error=info).model_dump()


@dataclass(frozen=True)
class ErrorKind:
    """What one stable code means wherever it is told."""

    code: str
    status: int  # the HTTP status of the API's answer
    exit_code: int  # the ``fivesafes`` command's exit status
    message: str  # the public message, where nothing more particular is said


_KINDS = (
    # The first kind of each status also names a bare HTTP error of that status (kind_for_status).
    ErrorKind("malformed_request", 400, EXIT_REFUSED, "The request could not be read."),
    ErrorKind("unauthenticated", 401, EXIT_REFUSED, "The request is not authenticated."),
    ErrorKind("bad_signature", 401, EXIT_REFUSED, "The signature does not verify."),
    ErrorKind(
        "login_failed", 401, EXIT_REFUSED, "The username, password or code is not right."
    ),  # governance
    ErrorKind("forbidden", 403, EXIT_REFUSED, "You may not do this."),
    ErrorKind(
        "accreditation_expired",
        403,
        EXIT_REFUSED,
        "The safe-researcher accreditation has expired or is not recorded.",
    ),  # governance
    ErrorKind(
        "insufficient_scope", 403, EXIT_REFUSED, "The API token does not allow this."
    ),  # governance
    ErrorKind(
        "project_not_active", 403, EXIT_REFUSED, "The project has not started or has ended."
    ),  # governance
    ErrorKind(
        "csrf_failed", 403, EXIT_REFUSED, "The form was sent without its token; load it again."
    ),  # governance
    ErrorKind(
        "not_found",
        404,
        EXIT_REFUSED,
        "The resource does not exist or you do not have permission to see it.",
    ),
    ErrorKind("method_not_allowed", 405, EXIT_REFUSED, "This route does not take that method."),
    ErrorKind("conflict", 409, EXIT_REFUSED, "The request conflicts with what is recorded."),
    ErrorKind(
        "linkage_running", 409, EXIT_REFUSED, "The hub is still linking; ask again in a moment."
    ),  # hub linkage
    ErrorKind("payload_too_large", 413, EXIT_REFUSED, "The request body is too large."),
    ErrorKind(
        "unsupported_media_type", 415, EXIT_REFUSED, "The request body's type is not accepted."
    ),
    ErrorKind("invalid_request", 422, EXIT_REFUSED, "The request is not valid."),
    ErrorKind(
        "changed_since_approval",
        422,
        EXIT_REFUSED,
        "A file is not the one the output checkers approved.",
    ),  # airlock
    ErrorKind("internal_error", 500, EXIT_FAILED, "The service hit an internal error."),
    ErrorKind("config_error", 500, EXIT_REFUSED, "The configuration is missing or not valid."),
    ErrorKind("not_configured", 503, EXIT_REFUSED, "This service is not set up for that."),
    ErrorKind("unavailable", 503, EXIT_REFUSED, "The service is unavailable; try again later."),
    ErrorKind("hub_unreachable", 503, EXIT_REFUSED, "The hub cannot be reached."),  # node
    # Any other HTTP status (its own status is sent); also a non-JSON answer relayed by a client.
    ErrorKind("http_error", 400, EXIT_REFUSED, "The request could not be served."),
)

CATALOGUE: MappingProxyType[str, ErrorKind] = MappingProxyType({k.code: k for k in _KINDS})


def kind_of(code: str, status: int = 500) -> ErrorKind:
    """The catalogue's kind of ``code``; a code it does not list (one relayed from a newer
    service) is a refusal with ``status``."""
    found = CATALOGUE.get(code)
    if found is not None:
        return found
    return ErrorKind(code, status, EXIT_REFUSED, CATALOGUE["http_error"].message)


def kind_for_status(status: int) -> ErrorKind:
    """The kind of a bare HTTP error (no route, wrong method): the first listed with that
    status, else ``http_error`` with the status and its standard phrase."""
    for kind in _KINDS:
        if kind.status == status and kind.code != "http_error":
            return kind
    try:
        phrase = f"{HTTPStatus(status).phrase}."
    except ValueError:
        phrase = CATALOGUE["http_error"].message
    return ErrorKind("http_error", status, EXIT_REFUSED, phrase)


class FivesafesError(Exception):
    """Base of every error the platform raises on purpose.

    A subclass names its ``code``; ``status`` and ``exit_code`` come from the catalogue (a
    subclass that declares a status the catalogue contradicts is refused when defined). The
    message defaults to the catalogue's.
    """

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = CATALOGUE["internal_error"].status
    exit_code: ClassVar[int] = CATALOGUE["internal_error"].exit_code

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = CATALOGUE.get(cls.code)
        if kind is None:  # not catalogued (yet): its parent's status and exit code
            return
        declared = cls.__dict__.get("status")
        if declared is not None and declared != kind.status:
            raise TypeError(
                f"{cls.__name__} declares status {declared} but the catalogue gives "
                f"{cls.code!r} status {kind.status}"
            )
        cls.status = kind.status
        cls.exit_code = kind.exit_code

    def __init__(
        self, message: str | None = None, details: list[ErrorDetail] | None = None
    ) -> None:
        message = message or kind_of(self.code, self.status).message
        super().__init__(message)
        self.message = message
        self.details = details or []

    @property
    def kind(self) -> ErrorKind:
        return kind_of(self.code, self.status)

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class InvalidRequest(FivesafesError):
    code = "invalid_request"


class MalformedRequest(FivesafesError):
    code = "malformed_request"


class PayloadTooLarge(FivesafesError):
    code = "payload_too_large"


class Unauthenticated(FivesafesError):
    """A missing, invalid or expired token, or a bad request signature."""

    code = "unauthenticated"


class NotFoundOrNoPermission(FivesafesError):
    """One answer for 'does not exist' and 'not yours': outsiders cannot tell them apart."""

    code = "not_found"

    def __init__(self, what: str = "resource") -> None:
        super().__init__(f"The {what} does not exist or you do not have permission to see it.")


class Forbidden(FivesafesError):
    """The caller can see the resource but may not perform this action on it."""

    code = "forbidden"


class Conflict(FivesafesError):
    code = "conflict"


class ServiceUnavailable(FivesafesError):
    code = "unavailable"


class ConfigError(FivesafesError):
    """A configuration file is missing, unreadable or invalid (raised at the edge, not HTTP)."""

    code = "config_error"


class NotConfigured(FivesafesError):
    """Something the service was asked to do needs a setting or a file its operator has not
    made yet; the message says what to do, never where on the server it was looked for."""

    code = "not_configured"


class BadSignature(FivesafesError):
    code = "bad_signature"


class InternalError(FivesafesError):
    """Anything not raised on purpose, as a boundary tells it: the catalogue's message and
    nothing from the exception (its text may quote data)."""

    code = "internal_error"


def public_error(exc: BaseException) -> FivesafesError:
    """What may be told about ``exc``: itself if it was raised on purpose, else
    ``internal_error`` (the caller logs the exception's type, never its text)."""
    return exc if isinstance(exc, FivesafesError) else InternalError()
