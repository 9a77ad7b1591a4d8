"""Every extracts action: one function each, taking the transaction's store and ``by=`` (who
acts) and ``node=`` (where), writing the record and its audit event through that one store,
so both commit together or neither does.

Each action checks who may act first (``permissions``), then what the records allow.

| action   | who                       | refused when                  | audit event             |
| -------- | ------------------------- | ----------------------------- | ----------------------- |
| approve  | the node's custodians     | the node has not approved the | ``extraction_approved`` |
|          |                           | project; an unknown option    | (profile, options)      |
| revoke   | its custodians and TRE    | extraction is not approved;   | ``extraction_revoked``  |
|          | admins                    | no reason given               | (options, reason)       |
| hold     | the node itself (no one:  | not held; its id is not its   | ``extract_held``        |
|          | ``by`` is the requester)  | task's, or already kept; a    | (task_id, files,        |
|          |                           | folder outside the root; a    | persons, options)       |
|          |                           | report not all counts         |                         |
| release  | the node's output         | not held                      | ``extract_released``    |
|          | checkers, never the       |                               | (task_id, files,        |
|          | requester                 |                               | persons)                |
| withdraw | its output checkers; the  | not held; no reason given     | ``extract_withdrawn``   |
|          | requester                 |                               | (task_id, reason)       |

An approval names the de-identification options allowed (``imaging.deid.options``: all off is
the Basic Profile alone, the most protective); a later approval replaces it, and every
decision is kept (``store.history``). An extract's audit events carry counts and names only
(``files``: the report's ``written``; ``persons``: how many), never its folder or a
pseudonym. The refusals' words name no value given; a state refusal names the extract's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from fivesafes.audit.events import AuditEventType
from fivesafes.extracts.permissions import (
    can_see_extract,
    check_approve_extraction,
    check_release_extract,
    check_revoke_extraction,
    check_see_extract,
    check_see_extractions,
    check_withdraw_extract,
)
from fivesafes.extracts.policy import option_names
from fivesafes.extracts.store import (
    Decision,
    Extract,
    ExtractionState,
    ExtractsStore,
    ExtractState,
    check_extract_transition,
)
from fivesafes.governance.people import Actor
from fivesafes.imaging.deid.options import options_of
from fivesafes.kit.store import AuditRecord
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission

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


def _counts_only(report: Any) -> bool:
    """Whether ``report`` holds nothing but counts: whole numbers, in objects nested by name."""
    if isinstance(report, dict):
        return all(isinstance(k, str) and _counts_only(v) for k, v in report.items())
    return isinstance(report, int) and not isinstance(report, bool) and report >= 0


def _inside_root(folder: str) -> bool:
    """Whether ``folder`` names a folder below the extracts root (relative, never upwards)."""
    path = PurePosixPath(folder)
    return bool(path.parts) and not path.is_absolute() and ".." not in path.parts


def _files(extract: Extract) -> int | None:
    """How many files the extract holds, as its report says (``None``: it does not say)."""
    written = extract.report.get("written")
    return written if isinstance(written, int) else None


def _load(store: ExtractsStore, extract_id: str, by: Actor, node: str) -> Extract:
    """The extract, if ``by`` may see it; otherwise the one answer for both cases."""
    extract = store.extract(extract_id)
    if extract is None:
        raise NotFoundOrNoPermission("extract")
    check_see_extract(by, node, extract.requester)
    return extract


def hold_extract(store: ExtractsStore, extract: Extract, *, node: str) -> Extract:
    """Keep an extract the node has built into its staging folder, held for an output checker.

    No person acts here, so no permission is checked: building is the node's own job, done
    only for a signed task that ``policy.check_extraction`` allowed (ADR 0028, point 4). The
    audit event names the requester as ``by``, the person the extract was built for. The
    options are kept as ``Decision.options`` are (known names, in their order), each person
    once."""
    if extract.state is not ExtractState.HELD:
        raise InvalidRequest("A built extract is recorded held, for an output checker to decide.")
    if extract.extract_id != extract.task_id:
        raise InvalidRequest("An extract's id is its task's id (one extract per task at a node).")
    if not _inside_root(extract.folder):
        raise InvalidRequest("An extract's folder is a folder below the node's extracts root.")
    if not _counts_only(extract.report):
        raise InvalidRequest("An extract's report holds counts only (whole numbers, by name).")
    kept = store.add_extract(  # refuses an extract of the same task, in words
        replace(
            extract,
            options=option_names(options_of(extract.options)),  # refuses an unknown name
            persons=tuple(dict.fromkeys(extract.persons)),
        )
    )
    store.audit(
        AuditRecord(
            type=AuditEventType.EXTRACT_HELD,
            by=kept.requester,
            project_id=kept.project_id,
            node=node,
            details={
                "task_id": kept.task_id,
                "files": _files(kept),
                "persons": len(kept.persons),
                "options": list(kept.options),
            },
        )
    )
    return kept


def release_extract(store: ExtractsStore, extract_id: str, *, by: Actor, node: str) -> Extract:
    """An output checker approves a held extract: it is released into the project's workspace
    (moving its folder is the caller's, after this commits)."""
    extract = _load(store, extract_id, by, node)
    check_release_extract(by, node, extract.requester)
    check_extract_transition(extract.state, ExtractState.RELEASED)
    released = store.set_extract_state(extract_id, ExtractState.RELEASED, by=by.username)
    store.audit(
        AuditRecord(
            type=AuditEventType.EXTRACT_RELEASED,
            by=by.username,
            project_id=released.project_id,
            node=node,
            details={
                "task_id": released.task_id,
                "files": _files(released),
                "persons": len(released.persons),
            },
        )
    )
    return released


def withdraw_extract(
    store: ExtractsStore, extract_id: str, reason: str, *, by: Actor, node: str
) -> Extract:
    """An output checker rejects a held extract, or its requester withdraws it, saying why: it
    is never released (deleting its folder is the caller's, after this commits)."""
    extract = _load(store, extract_id, by, node)
    check_withdraw_extract(by, node, extract.requester)
    check_extract_transition(extract.state, ExtractState.WITHDRAWN)
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Say why the extract is withdrawn.")
    if len(reason) > REASON_LIMIT:
        raise InvalidRequest(f"A withdrawal's reason has at most {REASON_LIMIT} characters.")
    withdrawn = store.set_extract_state(
        extract_id, ExtractState.WITHDRAWN, by=by.username, reason=reason
    )
    store.audit(
        AuditRecord(
            type=AuditEventType.EXTRACT_WITHDRAWN,
            by=by.username,
            project_id=withdrawn.project_id,
            node=node,
            details={"task_id": withdrawn.task_id, "reason": reason},
        )
    )
    return withdrawn


def list_extracts(
    store: ExtractsStore, *, by: Actor, node: str, project_id: str | None = None
) -> list[Extract]:
    """The extracts at this node (or the project's) that ``by`` may see, newest first."""
    kept = store.extracts(project_id)
    return [e for e in kept if can_see_extract(by, node, e.requester)]


def get_extract(store: ExtractsStore, extract_id: str, *, by: Actor, node: str) -> Extract:
    """The extract, if ``by`` may see it (``NotFoundOrNoPermission`` for an unknown one too)."""
    return _load(store, extract_id, by, node)
