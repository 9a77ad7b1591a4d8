"""The patient data account lookup: a custodian enters a person's identifier and sees the
projects, purposes and dates in which that person's record contributed to an output this node
released (``node.patient_account``: from the released person sets, audited).

The identifier is posted (never in a URL or an access log), never shown back, stored or logged;
the answer page is not cached. A failure to read the node's data is reported by its kind only:
an error from the data layer could carry a pseudonym in its text.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from fivesafes.governance.permissions import check_look_up_patient_account
from fivesafes.node.patient_account import patient_account
from fivesafes.node.portal.pages import Service, actor, page
from fivesafes.protocol.errors import FivesafesError, ServiceUnavailable
from fivesafes.web.signin import Posting, SignedIn

router = APIRouter(include_in_schema=False)
log = logging.getLogger("fivesafes.node.portal")

MAX_IDENTIFIER = 200


@router.get("/patient-account", response_class=HTMLResponse)
def lookup_form(request: Request, web: SignedIn, service: Service) -> Response:
    check_look_up_patient_account(actor(web), service.name)
    return page(request, service, web, "node/patient_account.html", title="Patient data account")


@router.post("/patient-account", response_class=HTMLResponse)
def look_up(
    request: Request,
    web: Posting,
    service: Service,
    identifier: Annotated[str, Form(max_length=MAX_IDENTIFIER)] = "",
) -> Response:
    check_look_up_patient_account(actor(web), service.name)
    if not identifier.strip():
        return page(
            request, service, web, "node/patient_account.html", status_code=422,
            title="Patient data account", error="Enter the person's identifier.",
        )  # fmt: skip
    try:
        account = patient_account(service, by=web.account.username, identifier=identifier)
    except FivesafesError as exc:  # written not to carry the identifier (node.pseudonyms)
        return page(
            request, service, web, "node/patient_account.html", status_code=exc.status,
            title="Patient data account", error=exc.message,
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - the data layer's text is never shown or logged
        log.error("patient data account lookup failed: %s", type(exc).__name__)
        raise ServiceUnavailable(
            "The node's data could not be read for this lookup; the lookup was audited."
        ) from None
    return page(
        request, service, web, "node/patient_account.html",
        title="Patient data account", account=account,
    )  # fmt: skip
