"""The states of a run and the reason codes a node or the hub gives for a final state.

A run is one node's share of a task::

    queued ──lease──▶ leased ──result──▶ succeeded | refused | failed
       ▲                 │
       └──lease expired──┘                 (queued|leased ──deadline──▶ failed: node_unavailable)
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    REFUSED = "refused"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({RunState.SUCCEEDED, RunState.REFUSED, RunState.FAILED})


class ReasonCode(StrEnum):
    """Why a run ended other than in success. Codes are stable; texts are for people."""

    # refusals: the node decided, by its own records, not to run the task
    BAD_SIGNATURE = "bad_signature"
    NOT_A_TARGET = "not_a_target"
    TASK_EXPIRED = "task_expired"
    PROJECT_NOT_APPROVED = "project_not_approved"
    PROJECT_VERSION_NOT_APPROVED = "project_version_not_approved"
    PROJECT_NOT_ACTIVE = "project_not_active"
    REQUESTER_NOT_MEMBER = "requester_not_member"
    REQUESTER_NOT_ACCREDITED = "requester_not_accredited"
    ANALYSIS_NOT_ALLOWED = "analysis_not_allowed"
    DOMAIN_NOT_APPROVED = "domain_not_approved"
    CALENDAR_DATE_AT_POOL = "calendar_date_at_pool"
    UNKNOWN_CONCEPT = "unknown_concept"
    UNSUPPORTED_COHORT = "unsupported_cohort"
    INVALID_PARAMETERS = "invalid_parameters"
    DIFFERENCING_RISK = "differencing_risk"
    HELD_FOR_REVIEW = "held_for_review"
    MODEL_REFUSED = "model_refused"
    EXTRACTION_NOT_APPROVED = "extraction_not_approved"
    EXTRACTION_OPTIONS_NOT_ALLOWED = "extraction_options_not_allowed"
    NOT_LINKED = "not_linked"
    # failures: the node tried and could not, or never answered
    DATA_SOURCE_UNAVAILABLE = "data_source_unavailable"
    GATE_ERROR = "gate_error"
    RESOURCE_LIMIT = "resource_limit"
    INTERNAL_ERROR = "internal_error"
    NODE_UNAVAILABLE = "node_unavailable"


REASON_TEXT: dict[ReasonCode, str] = {
    ReasonCode.BAD_SIGNATURE: (
        "The task's signature did not verify against the hub key this node trusts."
    ),
    ReasonCode.NOT_A_TARGET: "The task was not addressed to this node.",
    ReasonCode.TASK_EXPIRED: "The task expired before the node could run it.",
    ReasonCode.PROJECT_NOT_APPROVED: "This node's custodian has not approved the project.",
    ReasonCode.PROJECT_VERSION_NOT_APPROVED: (
        "This node's custodian approved a different version of the project."
    ),
    ReasonCode.PROJECT_NOT_ACTIVE: "The project is outside its approved dates at this node.",
    ReasonCode.REQUESTER_NOT_MEMBER: (
        "The requester is not a member of the project as approved at this node."
    ),
    ReasonCode.REQUESTER_NOT_ACCREDITED: (
        "The requester's safe-researcher accreditation has expired (or was not sent), so this "
        "node does not run their analyses."
    ),
    ReasonCode.ANALYSIS_NOT_ALLOWED: (
        "This analysis, at this version, is not allowed for the project at this node."
    ),
    ReasonCode.DOMAIN_NOT_APPROVED: (
        "The analysis reads a data domain (e.g. imaging) this node's custodian has not approved "
        "for the project."
    ),
    ReasonCode.CALENDAR_DATE_AT_POOL: (
        "This node is a pool, where each person's dates are shifted by their own amount: a "
        "calendar date in the cohort means a different day for each person. Define the cohort "
        "by persons' own events instead (their first event as the index, days from the index)."
    ),
    ReasonCode.UNKNOWN_CONCEPT: (
        "The cohort uses concept ids that are not in this node's vocabulary."
    ),
    ReasonCode.UNSUPPORTED_COHORT: (
        "The cohort definition uses a construct this node cannot run (its operator's log names it)."
    ),
    ReasonCode.INVALID_PARAMETERS: "The analysis parameters are not valid.",
    ReasonCode.DIFFERENCING_RISK: (
        "Combined with results this project was given earlier, this result would give away "
        "the count of a group of fewer persons than the threshold, so it was withheld."
    ),
    ReasonCode.HELD_FOR_REVIEW: (
        "An output checker must look at this result before anything is released (the node's "
        "disclosure profile, or its custodian's approval, asks for it), so nothing was "
        "released automatically."
    ),
    ReasonCode.MODEL_REFUSED: (
        "The model failed a disclosure check at this node: too few persons for its parameters "
        "or residual degrees of freedom, a level of a binary variable held by too few persons, "
        "or perfect separation."
    ),
    ReasonCode.EXTRACTION_NOT_APPROVED: (
        "This node's custodian has not approved extraction for the project (or revoked it), "
        "so no extract is built here."
    ),
    ReasonCode.EXTRACTION_OPTIONS_NOT_ALLOWED: (
        "The extract asks for de-identification options this node's custodian has not "
        "allowed for the project; ask for the options allowed, or fewer."
    ),
    ReasonCode.NOT_LINKED: (
        "This node holds no linked persons for the project: its linkage has not been run, or "
        "its link ids not fetched ('fivesafes node linkage pull'), here."
    ),
    ReasonCode.DATA_SOURCE_UNAVAILABLE: "The node could not reach its data source.",
    ReasonCode.GATE_ERROR: "The disclosure gate could not check the result, so it was withheld.",
    ReasonCode.RESOURCE_LIMIT: (
        "The analysis ran past this node's time limit for one run (or its memory limit) and "
        "was stopped: ask a smaller question (a simpler cohort, fewer variables), or ask the "
        "node's operator about its limits."
    ),
    ReasonCode.INTERNAL_ERROR: "The node hit an internal error; its operator can see the log.",
    ReasonCode.NODE_UNAVAILABLE: "The node did not answer before the task's deadline.",
}

REFUSALS = frozenset(
    {
        ReasonCode.BAD_SIGNATURE,
        ReasonCode.NOT_A_TARGET,
        ReasonCode.TASK_EXPIRED,
        ReasonCode.PROJECT_NOT_APPROVED,
        ReasonCode.PROJECT_VERSION_NOT_APPROVED,
        ReasonCode.PROJECT_NOT_ACTIVE,
        ReasonCode.REQUESTER_NOT_MEMBER,
        ReasonCode.REQUESTER_NOT_ACCREDITED,
        ReasonCode.UNSUPPORTED_COHORT,
        ReasonCode.ANALYSIS_NOT_ALLOWED,
        ReasonCode.DOMAIN_NOT_APPROVED,
        ReasonCode.CALENDAR_DATE_AT_POOL,
        ReasonCode.UNKNOWN_CONCEPT,
        ReasonCode.INVALID_PARAMETERS,
        ReasonCode.DIFFERENCING_RISK,
        ReasonCode.HELD_FOR_REVIEW,
        ReasonCode.MODEL_REFUSED,
        ReasonCode.EXTRACTION_NOT_APPROVED,
        ReasonCode.EXTRACTION_OPTIONS_NOT_ALLOWED,
        ReasonCode.NOT_LINKED,
    }
)
