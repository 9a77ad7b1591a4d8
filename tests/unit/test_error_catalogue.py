"""The one catalogue of error codes (ADR 0024): every error the platform raises on purpose has
its code there, and takes its HTTP status and the command line's exit code from it; anything
else is told as ``internal_error`` with the catalogue's message and nothing of its own text."""

from __future__ import annotations

import pytest

import fivesafes.airlock.bundle
import fivesafes.airlock.files
import fivesafes.airlock.review
import fivesafes.airlock.states
import fivesafes.governance.errors
import fivesafes.node.person_sets
import fivesafes.node.transport  # noqa: F401 - these define errors of the tree
from fivesafes.protocol.errors import (
    CATALOGUE,
    EXIT_FAILED,
    EXIT_REFUSED,
    FivesafesError,
    InternalError,
    InvalidRequest,
    NotFoundOrNoPermission,
    Unauthenticated,
    kind_for_status,
    kind_of,
    public_error,
)

SENTINEL = "PATIENT-SENTINEL-4242"


def every_error_class() -> list[type[FivesafesError]]:
    found, todo = [], [FivesafesError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("fivesafes."):  # not the ones these tests define
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_raised_on_purpose_is_catalogued_with_its_status_and_exit_code():
    classes = every_error_class()
    assert len(classes) > 20  # the tree of protocol, governance, airlock and node
    for cls in classes:
        kind = CATALOGUE.get(cls.code)
        assert kind is not None, f"{cls.__module__}.{cls.__name__}: {cls.code!r} not catalogued"
        assert (cls.status, cls.exit_code) == (kind.status, kind.exit_code), cls


def test_exit_codes_keep_their_meaning():
    """A refusal exits 2 (as it always has); only an internal error exits 1."""
    assert {code for code, kind in CATALOGUE.items() if kind.exit_code == EXIT_FAILED} == {
        "internal_error"
    }
    assert all(k.exit_code in (EXIT_FAILED, EXIT_REFUSED) for k in CATALOGUE.values())
    assert all(k.message.endswith(".") and k.code == c for c, k in CATALOGUE.items())


def test_a_subclass_takes_status_from_the_catalogue_and_cannot_contradict_it():
    class Denied(Unauthenticated):
        code = "login_failed"

    assert (Denied.status, Denied.exit_code) == (401, EXIT_REFUSED)
    with pytest.raises(TypeError, match="catalogue"):

        class Wrong(FivesafesError):
            code = "not_found"
            status = 410


def test_an_uncatalogued_code_keeps_its_parents_status_and_is_a_refusal():
    class Newer(InvalidRequest):
        code = "something_newer"

    assert (Newer.status, Newer.exit_code) == (422, EXIT_REFUSED)
    assert Newer("Said.").kind.exit_code == EXIT_REFUSED
    relayed = kind_of("from_a_newer_hub", 409)
    assert (relayed.status, relayed.exit_code) == (409, EXIT_REFUSED)


def test_the_catalogue_message_is_the_default_and_the_body_has_one_shape():
    assert InvalidRequest().message == CATALOGUE["invalid_request"].message
    assert NotFoundOrNoPermission("task").body() == {
        "error": {
            "code": "not_found",
            "message": "The task does not exist or you do not have permission to see it.",
            "details": [],
        }
    }


def test_anything_not_raised_on_purpose_is_an_internal_error_without_its_text():
    error = public_error(KeyError(SENTINEL))
    assert isinstance(error, InternalError)
    assert (error.code, error.status, error.exit_code) == ("internal_error", 500, EXIT_FAILED)
    assert error.message == CATALOGUE["internal_error"].message
    assert SENTINEL not in str(error.body())
    refused = InvalidRequest("No.")
    assert public_error(refused) is refused


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "malformed_request"),
        (401, "unauthenticated"),
        (403, "forbidden"),
        (404, "not_found"),
        (405, "method_not_allowed"),
        (413, "payload_too_large"),
        (415, "unsupported_media_type"),
        (418, "http_error"),
    ],
)
def test_a_bare_http_status_has_one_code(status, code):
    kind = kind_for_status(status)
    assert (kind.code, kind.status) == (code, status)
    assert kind.message
