"""Every review-study action: one function each, taking the transaction's store and ``by=``
(the username acting), checking who may act and what the study's state allows, and writing
the change and its audit event through that one store (``kit.actions.act`` runs it in one
transaction: a refusal changes nothing).

| action          | who                    | refused when                    | audit event        |
| --------------- | ---------------------- | ------------------------------- | ------------------ |
| create_study    | a project member, who  | the design breaks its rules     | study_created      |
|                 | becomes its lead       |                                 |                    |
| edit_study      | the lead               | locked or closed; readers or    | study_edited       |
|                 |                        | allocation after allocating     |                    |
| propose_study   | the lead               | not a draft                     | study_proposed     |
| approve_study   | a node's custodian     | not a participating node; an    | study_approved     |
|                 | (through the node)     | earlier version; not proposed   |                    |
| add_cases       | the lead               | not open; allocated; a case     | study_cases_added  |
|                 |                        | from another node               |                    |
| allocate_reads  | the lead               | not open; allocated already;    | study_reads_       |
|                 |                        | the design cannot be allocated  | allocated          |
| reassign_reader | the lead               | not open; no reads to move      | study_reads_       |
|                 |                        |                                 | reassigned         |
| open_read,      | the read's own reader  | not open; the read's state      | study_case_opened, |
| save_read,      |                        | (``reads``); a re-read before   | study_read_saved,  |
| lock_read,      |                        | its washout                     | study_first_read_  |
| reveal_ai,      |                        |                                 | locked, study_ai_  |
| submit_read     |                        |                                 | revealed, study_   |
|                 |                        |                                 | read_submitted     |
| lock_study      | the lead               | not open                        | study_locked       |

Anyone who is neither the study's lead nor one of its readers is told the study does not
exist; a reader acting on another reader's read is told the case does not exist. Audit events
carry ids, counts and item names, never an answer. Roles and accreditation (a reader is a
pathologist with a current accreditation) are checked where requests arrive, as for every
other page.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from fivesafes.audit.events import AuditEventType
from fivesafes.kit.store import AuditRecord
from fivesafes.pathology.study import reads as steps
from fivesafes.pathology.study.allocation import (
    Allocation,
    AllocationError,
    Assignment,
    Case,
    Reader,
    Rules,
    allocate,
    reassign,
    reread_available,
    reread_opens_at,
)
from fivesafes.pathology.study.design import (
    StudyConflict,
    StudyDesign,
    StudyState,
    after_approval,
    after_edit,
    check_lock,
    check_reading,
)
from fivesafes.pathology.study.forms import Form
from fivesafes.pathology.study.reads import Condition, Read, ReadConflict, ReadState
from fivesafes.pathology.study.store import Approval, Assigned, Study, StudyCase, StudyStore
from fivesafes.protocol.errors import Forbidden, InvalidRequest, NotFoundOrNoPermission


def _audit(store: StudyStore, of: Study, kind: AuditEventType, by: str, **details: Any) -> None:
    """The study's event: its id, then ``details`` (ids, counts, item names; no answer)."""
    details = {"study": of.study_id, **details}
    store.audit(AuditRecord(type=kind, by=by, project_id=of.project_id, details=details))


def study_for(store: StudyStore, study_id: str, *, by: str) -> Study:
    """The study, to its lead or one of its readers; one answer for absent and not yours."""
    study = store.study(study_id)
    if study is None or (by != study.created_by and by not in _readers(study)):
        raise NotFoundOrNoPermission("study")
    return study


def _lead(store: StudyStore, study_id: str, by: str, doing: str) -> Study:
    study = study_for(store, study_id, by=by)
    if by != study.created_by:
        raise Forbidden(f"Only the study's lead may {doing}.")
    return study


def _readers(study: Study) -> set[str]:
    return {r.username for r in study.design.readers}


def create_study(
    store: StudyStore,
    project_id: str,
    design: StudyDesign,
    *,
    by: str,
    now: datetime,
    study_id: str | None = None,
) -> Study:
    """A new study, a draft: its pseudonym key and allocation seed chosen here, never given."""
    study = Study(
        study_id=study_id or f"st_{secrets.token_hex(8)}",
        project_id=project_id,
        design=design,
        version=1,
        state=StudyState.DRAFT,
        key=secrets.token_bytes(32),
        seed=secrets.randbelow(2**31),
        created_by=by,
        created_at=now,
    )
    store.add_study(study)
    _audit(store, study, AuditEventType.STUDY_CREATED, by, version=1, digest=design.digest)
    return study


def edit_study(store: StudyStore, study_id: str, design: StudyDesign, *, by: str) -> Study:
    """A new version of the design: an open study waits for its custodians again."""
    study = _lead(store, study_id, by, "change the study")
    if design.digest == study.design.digest:
        return study  # nothing changed: no new version, nothing to approve again
    if store.reads(study_id) and _allocation_changed(study.design, design):
        raise StudyConflict(
            "The readers, the nodes or the allocation cannot change once reads are allocated; "
            "reassign a reader who drops out instead."
        )
    study = replace(study, design=design, version=study.version + 1, state=after_edit(study.state))
    store.save_study(study)
    _audit(
        store,
        study,
        AuditEventType.STUDY_EDITED,
        by,
        version=study.version,
        digest=design.digest,
        state=study.state.value,
    )
    return study


def _allocation_changed(old: StudyDesign, new: StudyDesign) -> bool:
    return (old.readers, old.nodes, old.allocation, old.design) != (
        new.readers,
        new.nodes,
        new.allocation,
        new.design,
    )


def propose_study(store: StudyStore, study_id: str, *, by: str) -> Study:
    study = _lead(store, study_id, by, "propose the study")
    if study.state != StudyState.DRAFT:
        raise StudyConflict(
            "Only a draft is proposed; an edited study is proposed again by itself."
        )
    study = replace(study, state=StudyState.AWAITING)
    store.save_study(study)
    _audit(
        store,
        study,
        AuditEventType.STUDY_PROPOSED,
        by,
        version=study.version,
        nodes=list(study.design.nodes),
    )
    return study


def approve_study(
    store: StudyStore, study_id: str, node: str, digest: str, *, by: str, now: datetime
) -> Study:
    """A node's custodian approved one version (as their node reports it)."""
    study = store.study(study_id)
    if study is None or node not in study.design.nodes:
        raise NotFoundOrNoPermission("study")
    if study.state in (StudyState.LOCKED, StudyState.CLOSED, StudyState.DRAFT):
        raise StudyConflict("Only a proposed or open study is approved.")
    if digest != study.design.digest:
        raise StudyConflict(
            "That approval is of an earlier version of the study; approve the current one."
        )
    store.approve(Approval(study_id, node, digest, by, now))
    approved = {n: a.digest for n, a in store.approvals(study_id).items()}
    study = replace(study, state=after_approval(study.state, study.design.nodes, approved, digest))
    store.save_study(study)
    _audit(store, study, AuditEventType.STUDY_APPROVED, by, node=node,
           version=study.version, state=study.state.value)  # fmt: skip
    return study


def add_cases(
    store: StudyStore, study_id: str, released: list[tuple[str, str]], *, by: str
) -> list[StudyCase]:
    """Cases for the study: ``released`` pairs of a review store slide and its node."""
    study = _lead(store, study_id, by, "add cases")
    check_reading(study.state)
    if store.reads(study_id):
        raise StudyConflict("Cases are added before reads are allocated.")
    if any(node not in study.design.nodes for _, node in released):
        raise InvalidRequest("A case came from a node that does not take part in the study.")
    cases = [
        StudyCase(study_id, steps.case_pseudonym(study.key, review_id), review_id, node)
        for review_id, node in released
    ]
    store.add_cases(cases)
    per_node = Counter(c.site for c in cases)
    _audit(store, study, AuditEventType.STUDY_CASES_ADDED, by, cases=dict(sorted(per_node.items())))
    return cases


def _rules(design: StudyDesign) -> Rules:
    a = design.allocation
    return Rules(a.reads_per_case, a.exclude_own_site, a.reread_fraction, a.washout_days)


def _readers_of(design: StudyDesign) -> list[Reader]:
    return [Reader(r.username, r.site) for r in design.readers]


def allocate_reads(store: StudyStore, study_id: str, *, by: str) -> list[Assigned]:
    """Who reads what (``allocation``), with the study's own seed."""
    study = _lead(store, study_id, by, "allocate the reads")
    check_reading(study.state)
    if store.reads(study_id):
        raise StudyConflict("The reads are allocated already.")
    cases = [Case(c.case, c.site) for c in store.cases(study_id)]
    if not cases:
        raise StudyConflict("The study has no cases yet.")
    try:
        allocation = allocate(
            cases, _readers_of(study.design), _rules(study.design), seed=study.seed
        )
    except AllocationError as exc:
        raise InvalidRequest(str(exc)) from None
    made = _assigned(study, allocation.assignments)
    store.add_reads(made)
    loads = Counter(a.read.reader for a in made)
    _audit(
        store,
        study,
        AuditEventType.STUDY_READS_ALLOCATED,
        by,
        reads=len(made),
        per_reader=dict(sorted(loads.items())),
    )
    return made


def _assigned(study: Study, assignments: tuple[Assignment, ...]) -> list[Assigned]:
    """Reads for assignments; in a crossover study a reader's first reads alternate unaided
    and aided in their worklist's random order, and a re-read takes the other condition."""
    made: list[Assigned] = []
    first: dict[tuple[str, str], Condition] = {}
    for a in sorted(assignments, key=lambda a: (a.reader, a.position)):
        condition: Condition = "sequential"
        if study.design.design == "crossover":
            if a.reread:
                condition = "aided" if first[(a.reader, a.case_id)] == "unaided" else "unaided"
            else:
                condition = "unaided" if a.position % 2 else "aided"
                first[(a.reader, a.case_id)] = condition
        read = Read(f"rd_{secrets.token_hex(8)}", a.reader, a.case_id, condition, a.reread)
        made.append(Assigned(study.study_id, a.position, read))
    return made


def reassign_reader(store: StudyStore, study_id: str, dropped: str, *, by: str) -> list[Assigned]:
    """A reader drops out: their reads not yet locked or submitted go to the others."""
    study = _lead(store, study_id, by, "reassign reads")
    check_reading(study.state)
    current = [a for a in store.reads(study_id) if a.read.state != ReadState.WITHDRAWN]
    if not any(a.read.reader == dropped for a in current):
        raise InvalidRequest("That reader has no reads in this study.")
    done = {
        (a.read.reader, a.read.case)
        for a in current
        if not a.read.reread and a.read.state not in (ReadState.ASSIGNED, ReadState.OPENED)
    }
    before = Allocation(tuple(_assignment(a) for a in current))
    cases = [Case(c.case, c.site) for c in store.cases(study_id)]
    try:
        after = reassign(before, cases, _readers_of(study.design), _rules(study.design),
                         dropped=dropped, done=done, seed=study.seed)  # fmt: skip
    except AllocationError as exc:
        raise InvalidRequest(str(exc)) from None
    kept = {(x.reader, x.case_id, x.reread) for x in after.assignments}
    moved = 0
    for a in current:
        if (a.read.reader, a.read.case, a.read.reread) not in kept:
            read, _ = steps.withdraw(a.read)
            store.save_read(study_id, read)
            moved += 1
    existing = {(a.read.reader, a.read.case, a.read.reread) for a in current}
    new = [x for x in after.assignments if (x.reader, x.case_id, x.reread) not in existing]
    made = _assigned(study, tuple(new))
    store.add_reads(made)
    _audit(
        store,
        study,
        AuditEventType.STUDY_READS_REASSIGNED,
        by,
        reader=dropped,
        withdrawn=moved,
        added=len(made),
    )
    return made


def _assignment(a: Assigned) -> Assignment:
    return Assignment(a.read.reader, a.read.case, a.position, a.read.reread)


# ---- a reader's actions ------------------------------------------------------------------


def _own_read(store: StudyStore, read_id: str, by: str) -> tuple[Study, Assigned]:
    assigned = store.assigned(read_id)
    study = store.study(assigned.study_id) if assigned is not None else None
    if assigned is None or study is None or assigned.read.reader != by:
        raise NotFoundOrNoPermission("case")
    check_reading(study.state)
    return study, assigned


def worklist(store: StudyStore, study_id: str, *, by: str) -> list[Assigned]:
    """The reader's own reads, in their order; nothing of any other reader's."""
    study_for(store, study_id, by=by)
    return [a for a in store.reads(study_id, by) if a.read.state != ReadState.WITHDRAWN]


def open_read(store: StudyStore, read_id: str, *, by: str, now: datetime) -> Read:
    study, assigned = _own_read(store, read_id, by)
    if assigned.read.reread and assigned.read.state == ReadState.ASSIGNED:
        _check_washout(store, study, assigned.read, now)
    read, step = steps.open_case(assigned.read, now=now)
    return _record(store, study, read, step, AuditEventType.STUDY_CASE_OPENED, by)


def _check_washout(store: StudyStore, study: Study, reread: Read, now: datetime) -> None:
    first = next(
        (
            a.read
            for a in store.reads(study.study_id, reread.reader)
            if a.read.case == reread.case and not a.read.reread
        ),
        None,
    )
    days = study.design.allocation.washout_days
    if first is None or first.submitted_at is None:
        raise ReadConflict("This case is read again only after your first read of it is submitted.")
    if not reread_available(first.submitted_at, days, now):
        opens = reread_opens_at(first.submitted_at, days)
        raise ReadConflict(
            f"This case is read again after a washout: it opens on {opens:%d %B %Y}."
        )


def save_read(
    store: StudyStore,
    read_id: str,
    form: Form,
    answers: dict[str, Any],
    *,
    phase: steps.Phase,
    by: str,
    feedback: dict[str, dict[str, Any]] | None = None,
    predictions: frozenset[str] = frozenset(),
) -> Read:
    study, assigned = _own_read(store, read_id, by)
    read, step = steps.save(
        assigned.read, form, answers, phase=phase, feedback=feedback, predictions=predictions
    )
    return _record(store, study, read, step, AuditEventType.STUDY_READ_SAVED, by)


def lock_read(store: StudyStore, read_id: str, form: Form, *, by: str, now: datetime) -> Read:
    study, assigned = _own_read(store, read_id, by)
    read, step = steps.lock(assigned.read, form, now=now)
    return _record(store, study, read, step, AuditEventType.STUDY_FIRST_READ_LOCKED, by)


def reveal_ai(store: StudyStore, read_id: str, *, by: str, now: datetime) -> Read:
    study, assigned = _own_read(store, read_id, by)
    read, step = steps.reveal(assigned.read, now=now)
    return _record(store, study, read, step, AuditEventType.STUDY_AI_REVEALED, by)


def submit_read(
    store: StudyStore,
    read_id: str,
    form: Form,
    *,
    by: str,
    now: datetime,
    predictions: frozenset[str] = frozenset(),
) -> Read:
    study, assigned = _own_read(store, read_id, by)
    read, step = steps.submit(assigned.read, form, now=now, predictions=predictions)
    return _record(store, study, read, step, AuditEventType.STUDY_READ_SUBMITTED, by)


def _record(
    store: StudyStore,
    study: Study,
    read: Read,
    step: steps.Step,
    kind: AuditEventType,
    by: str,
) -> Read:
    store.save_read(study.study_id, read)
    _audit(store, study, kind, by, read=step.read_id, **step.details)
    return read


def add_time(store: StudyStore, read_id: str, seconds: int, *, by: str) -> Read:
    """Seconds the reader's page had the case open (a heartbeat, bounded): kept on the read,
    not audited (it changes no state; the viewport trail records what was looked at)."""
    study, assigned = _own_read(store, read_id, by)
    read = steps.time_on_case(assigned.read, seconds)
    store.save_read(study.study_id, read)
    return read


def lock_study(store: StudyStore, study_id: str, *, by: str, now: datetime) -> Study:
    """No read changes after this; the study team may see every answer."""
    study = _lead(store, study_id, by, "lock the study")
    check_lock(study.state)
    study = replace(study, state=StudyState.LOCKED, locked_at=now)
    store.save_study(study)
    states = Counter(a.read.state.value for a in store.reads(study_id))
    _audit(store, study, AuditEventType.STUDY_LOCKED, by, reads=dict(sorted(states.items())))
    return study
