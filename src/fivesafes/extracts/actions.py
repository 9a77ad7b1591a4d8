"""Every extraction-approval action: one function each, taking the transaction's store and
``by=`` (who acts) and ``node=`` (where), writing the decision and its audit event through
that one store, so both commit together or neither does.

Each action checks who may act first (``permissions``), then what the records allow.

| action  | who                       | refused when                  | audit event             |
| ------- | ------------------------- | ----------------------------- | ----------------------- |
| approve | the node's custodians     | the node has not approved the | ``extraction_approved`` |
|         |                           | project; an unknown option    | (profile, options)      |
| revoke  | its custodians and TRE    | extraction is not approved;   | ``extraction_revoked``  |
|         | admins                    | no reason given               | (options, reason)       |

An approval names the de-identification options allowed (``imaging.deid.options``: all off is
the Basic Profile alone, the most protective); a later approval replaces it, and every
decision is kept (``store.history``). The refusals' words name no value given.
"""

from __future__ import annotations

from collections.abc import Iterable

from fivesafes.audit.events import AuditEventType
from fivesafes.extracts.permissions import (
    check_approve_extraction,
    check_revoke_extraction,
    check_see_extractions,
)
from fivesafes.extracts.policy import option_names
from fivesafes.extracts.store import Decision, ExtractionState, ExtractsStore
from fivesafes.governance.people import Actor
from fivesafes.imaging.deid.options import options_of
from fivesafes.kit.store import AuditRecord
from fivesafes.protocol.errors import InvalidRequest

REASON_LIMIT = 1000


def approve_extraction(
    store: ExtractsStore, project_id: str, options: Iterable[str], *, by: Actor, node: str
) -> Decision:
    """Allow extracts of the project at this node under the Basic Profile with ``options``
    (names of ``OPTION_NAMES``; none: the Basic Profile alone), the most a request may ask."""
    check_approve_extraction(by, node)
    if store.project_state(project_id) != "approved":
        raise InvalidRequest(
            "This node has not approved the project (or its approval was revoked); approve "
            "the project first (fivesafes node approve)."
        )
    allowed = option_names(options_of(options))  # refuses an unknown name, in words
    decision = store.decide(project_id, ExtractionState.APPROVED, allowed, by=by.username)
    store.audit(
        AuditRecord(
            type=AuditEventType.EXTRACTION_APPROVED,
            by=by.username,
            project_id=project_id,
            node=node,
            details={"profile": decision.profile, "options": list(decision.options)},
        )
    )
    return decision


def revoke_extraction(
    store: ExtractsStore, project_id: str, reason: str, *, by: Actor, node: str
) -> Decision:
    """Revoke extraction for the project at this node, saying why: no extract is built from
    now on (one already built stays where it is, the TRE's business: ADR 0028)."""
    check_revoke_extraction(by, node)
    latest = store.latest(project_id)
    if latest is None or latest.state is not ExtractionState.APPROVED:
        raise InvalidRequest("Extraction is not approved for the project: nothing to revoke.")
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Say why extraction is revoked (--reason).")
    if len(reason) > REASON_LIMIT:
        raise InvalidRequest(f"A revocation's reason has at most {REASON_LIMIT} characters.")
    decision = store.decide(project_id, ExtractionState.REVOKED, (), by=by.username, reason=reason)
    store.audit(
        AuditRecord(
            type=AuditEventType.EXTRACTION_REVOKED,
            by=by.username,
            project_id=project_id,
            node=node,
            details={"options": list(latest.options), "reason": reason},
        )
    )
    return decision


def decisions(store: ExtractsStore, *, by: Actor, node: str) -> list[Decision]:
    """The current decision of every project decided at this node, by project id."""
    check_see_extractions(by, node)
    return store.current()


def history(store: ExtractsStore, project_id: str, *, by: Actor, node: str) -> list[Decision]:
    """Every decision on the project at this node, oldest first."""
    check_see_extractions(by, node)
    return store.history(project_id)
