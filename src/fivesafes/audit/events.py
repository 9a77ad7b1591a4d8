"""The closed set of audit event types. Stored values never change without a migration."""

from __future__ import annotations

from enum import StrEnum


class AuditEventType(StrEnum):
    # hub
    ENROLMENT_TOKEN_ISSUED = "enrolment_token_issued"  # noqa: S105
    NODE_ENROLLED = "node_enrolled"
    USER_CREATED = "user_created"
    TOKEN_ISSUED = "token_issued"  # noqa: S105
    PROJECT_CREATED = "project_created"
    APPROVAL_REPORTED = "approval_reported"
    TASK_CREATED = "task_created"
    RUN_LEASED = "run_leased"
    RUN_LEASE_EXPIRED = "run_lease_expired"
    RUN_FINISHED = "run_finished"
    RUN_TIMED_OUT = "run_timed_out"
    TASK_ROUND_STARTED = "task_round_started"
    TASK_COMPLETED = "task_completed"
    TASK_RECORD_EXPORTED = "task_record_exported"  # a Five Safes RO-Crate of a task
    # node
    HUB_TRUSTED = "hub_trusted"
    PROJECT_APPROVED = "project_approved"
    PROJECT_REVOKED = "project_revoked"
    RUN_RECEIVED = "run_received"
    RUN_REFUSED = "run_refused"
    RUN_EXECUTED = "run_executed"
    RESULT_SUBMITTED = "result_submitted"
    OPT_OUTS_REPLACED = "opt_outs_replaced"
    PATIENT_ACCOUNT_VIEWED = "patient_account_viewed"  # who looked; never whom, in clear
    IMAGING_INDEXED = "imaging_indexed"  # an operator indexed DICOM files: paths and counts
    IMAGING_DEIDENTIFIED = "imaging_deidentified"  # an operator de-identified files: counts
    SLIDES_REGISTERED = "slides_registered"  # an operator registered slides: counts only
    SLIDE_PREDICTIONS_IMPORTED = "slide_predictions_imported"  # a model's output: model, counts
    SLIDE_COPIED = "slide_copied"  # a de-identified copy of a slide written: its id, levels
    SLIDE_RELEASE_APPROVED = "slide_release_approved"  # a custodian's: project, slide, release
    SLIDE_RELEASE_PUSHED = "slide_release_pushed"  # its pack sent to the hub: bytes, tiles
    SLIDE_RELEASE_WITHDRAWN = "slide_release_withdrawn"  # by a custodian or TRE admin, and why
    # hub: the review store (pathology)
    SLIDE_REVIEW_RECEIVED = "slide_review_received"  # a node's pack arrived whole: release, size
    SLIDE_REVIEW_DELETED = "slide_review_deleted"  # withdrawn by its node, or its project ended
    SLIDE_VIEWED = "slide_viewed"  # a reader's viewport trail: slide, level, region, tiles
    # hub: review studies (pathology.study); never an answer, only which items and counts
    STUDY_CREATED = "study_created"  # a study team's design: version 1 and its digest
    STUDY_EDITED = "study_edited"  # a new version: its digest, and the state it left
    STUDY_PROPOSED = "study_proposed"  # put to the participating nodes' custodians
    STUDY_APPROVED = "study_approved"  # a node's custodian approved one version (its digest)
    STUDY_CASES_ADDED = "study_cases_added"  # slides released for it: counts per node
    STUDY_READS_ALLOCATED = "study_reads_allocated"  # who reads what: counts per reader
    STUDY_READS_REASSIGNED = "study_reads_reassigned"  # a reader dropped out: counts moved
    STUDY_CASE_OPENED = "study_case_opened"  # a reader opened a case: read, state
    STUDY_READ_SAVED = "study_read_saved"  # a draft: phase, item ids, prediction count
    STUDY_FIRST_READ_LOCKED = "study_first_read_locked"  # the unaided read, never to change
    STUDY_AI_REVEALED = "study_ai_revealed"  # the AI's predictions shown for one read
    STUDY_READ_SUBMITTED = "study_read_submitted"  # a read final
    STUDY_LOCKED = "study_locked"  # no read changes; answers visible to the study team
    LINKAGE_TOKENS_RECEIVED = "linkage_tokens_received"  # a node's upload complete: counts
    LINKAGE_RUN_COMPLETED = "linkage_run_completed"  # matched: records, linked per pair, links
    LINKAGE_RUN_FAILED = "linkage_run_failed"  # the hub's run failed: nothing linked, dropped
    LINKAGE_MAPPING_DELIVERED = "linkage_mapping_delivered"  # a node kept its link ids
    LINKAGE_PUSHED = "linkage_pushed"  # at a node: a run's records sent for a project
    LINKAGE_LINKS_KEPT = "linkage_links_kept"  # at a node: link ids kept for a project
    IDENTITIES_LOADED = "identities_loaded"  # the identity store replaced: counts and file hash
    LINKAGE_SECRET_MADE = "linkage_secret_made"  # noqa: S105 - an event name; never the secret
    POOL_REQUESTED = "pool_requested"  # at the hub: a pool's terms made and signed (digest)
    POOL_REPORTED = "pool_reported"  # at the hub: a node's or the pool's event under the terms
    POOL_APPROVED = "pool_approved"  # at a node: its custodian approved the terms' digest
    POOL_SENT = "pool_sent"  # at a node: its extract sent to the pool (persons, digest)
    POOL_REVOKED = "pool_revoked"  # at a node: its custodian withdrew; the pool destroys
    POOL_EXTRACT_RECEIVED = "pool_extract_received"  # at the pool: a node's extract (counts)
    POOL_MERGED = "pool_merged"  # at the pool: every extract merged (counts)
    POOL_DESTROYED = "pool_destroyed"  # at the pool: data deleted; the certificate's digest
    EXTRACTION_APPROVED = "extraction_approved"  # a custodian's: the profile and option names
    EXTRACTION_REVOKED = "extraction_revoked"  # the option names revoked, and why
    EXTRACT_HELD = "extract_held"  # built, held for review: task, counts, option names
    EXTRACT_RELEASED = "extract_released"  # an output checker's: task and counts, never a path
    EXTRACT_WITHDRAWN = "extract_withdrawn"  # rejected or withdrawn: task, and why
    # both
    AUDIT_CHECKPOINT = "audit_checkpoint"  # the chain's head, signed with the service key
    # safe people: accounts at the hub and at each node (the same account code on both)
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    ACCREDITATION_SET = "accreditation_set"
    PASSWORD_SET = "password_set"  # noqa: S105 - an event name, not a password
    TOTP_ENROLLED = "totp_enrolled"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    ACCOUNT_LOCKED = "account_locked"
    SESSION_ENDED = "session_ended"
    USER_DISABLED = "user_disabled"
    ORGANISATION_SET = "organisation_set"  # a person moved to another organisation
    # safe people and projects at the hub
    ORGANISATION_CREATED = "organisation_created"
    TOKEN_REVOKED = "token_revoked"  # noqa: S105
    PROJECT_EDITED = "project_edited"
    # safe projects at a node
    PROJECT_REJECTED = "project_rejected"
    # the airlock: release requests at a node or at the hub (fivesafes.airlock)
    AIRLOCK_REQUEST_CREATED = "airlock_request_created"
    AIRLOCK_FILES_CHANGED = "airlock_files_changed"  # a draft's files: names and sha256 only
    AIRLOCK_REQUEST_SUBMITTED = "airlock_request_submitted"
    AIRLOCK_REVIEW_STARTED = "airlock_review_started"
    AIRLOCK_VOTED = "airlock_voted"  # which file, never the vote or comment (blinding)
    AIRLOCK_CONSOLIDATION_STARTED = "airlock_consolidation_started"
    AIRLOCK_RECONSIDERED = "airlock_reconsidered"  # a vote in consolidation
    AIRLOCK_DECIDED = "airlock_decided"  # outcome: approved | changes_requested | rejected
    AIRLOCK_REQUEST_REVISED = "airlock_request_revised"
    AIRLOCK_REQUEST_WITHDRAWN = "airlock_request_withdrawn"
    AIRLOCK_RELEASED = "airlock_released"
    AIRLOCK_RELEASE_REFUSED = "airlock_release_refused"  # a file changed since approval
    AIRLOCK_BUNDLE_DOWNLOADED = "airlock_bundle_downloaded"  # a released bundle, again
