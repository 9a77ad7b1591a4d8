"""A review study's actions on every store (in memory, SQLite and PostgreSQL, the hub's
database migrated: ``tests/store_suite.py``): who may act, what each state allows, and that
every change writes its audit event in the same transaction (a refusal: neither)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from fivesafes.audit.events import AuditEventType as E
from fivesafes.kit.actions import act
from fivesafes.kit.store import AuditRecord, SqlUnit, Unit
from fivesafes.pathology.study import actions
from fivesafes.pathology.study.design import (
    Allocating,
    FormRef,
    StudyConflict,
    StudyDesign,
    StudyReader,
    StudyState,
)
from fivesafes.pathology.study.forms import FormError, shipped_form
from fivesafes.pathology.study.reads import ReadConflict, ReadState
from fivesafes.pathology.study.sql_store import SqlStudies
from fivesafes.pathology.study.store import MemoryStudies, StudyStore
from fivesafes.protocol.errors import Forbidden, InvalidRequest, NotFoundOrNoPermission
from store_suite import SqlDatabase, store_suite

FORM = shipped_form()
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
READERS = (("ann", "north"), ("bea", "north"), ("cal", "lake"), ("dev", "lake"))
ANSWERS = {
    "adequacy": "adequate",
    "tumour_present": "no",
    "confidence": "4",
    "comment": "PLANTED-COMMENT",
}


@dataclass
class Backend:
    """A store of each kind, each call one transaction (as a service's unit)."""

    unit: Unit[StudyStore]
    audit: Callable[[], list[AuditRecord]]

    def do(self, action, *args, **kwargs):
        return self.unit(lambda s: action(s, *args, **kwargs))

    def events(self) -> list[AuditRecord]:
        return self.audit()

    def reads(self, study_id, reader=None):
        return self.unit(lambda s: s.reads(study_id, reader))

    def assigned(self, read_id):
        return self.unit(lambda s: s.assigned(read_id))


def _memory() -> Backend:
    store = MemoryStudies()
    return Backend(store.transaction, lambda: store.events)


def _sql(db: SqlDatabase) -> Backend:
    from fivesafes.hub.db import AUDIT, STUDIES

    def audit() -> list[AuditRecord]:
        rows = db.unit(lambda s: s.execute(select(AUDIT.events).order_by(AUDIT.events.c.seq)).all())
        return [
            AuditRecord(E(r.event_type), r.actor, r.details, r.outcome, r.project_id) for r in rows
        ]

    return Backend(SqlUnit(db.unit, lambda s: SqlStudies(s, STUDIES, AUDIT)), audit)


backend = store_suite(_memory, _sql, schema="fivesafes.hub:migrations")


def design(**changes) -> StudyDesign:
    base = {
        "title": "Lung biopsies read across two hospitals",
        "purpose": "Agreement on histological type, and the AI's quality per hospital.",
        "nodes": ("north", "lake"),
        "model": "demo-tumour",
        "readers": tuple(StudyReader(username=u, site=s) for u, s in READERS),
        "allocation": Allocating(
            reads_per_case=2, exclude_own_site=True, reread_fraction=0.25, washout_days=14
        ),
        "form": FormRef(form_id=FORM.form_id, version=FORM.version),
    }
    return StudyDesign(**(base | changes))


def open_study(store: Backend, cases: int = 8, **changes):
    study = store.do(actions.create_study, "proj", design(**changes), by="lead", now=NOW)
    store.do(actions.propose_study, study.study_id, by="lead")
    for node in ("north", "lake"):
        study = store.do(
            actions.approve_study,
            study.study_id,
            node,
            study.design.digest,
            by=f"custodian-{node}",
            now=NOW,
        )
    released = [(f"rel-{i}", "north" if i % 2 else "lake") for i in range(cases)]
    store.do(actions.add_cases, study.study_id, released, by="lead")
    store.do(actions.allocate_reads, study.study_id, by="lead")
    return study


def test_a_study_from_design_to_lock_with_its_audit_trail(backend):
    store = backend
    study = store.do(actions.create_study, "proj", design(), by="lead", now=NOW)
    assert study.state == StudyState.DRAFT
    store.do(actions.propose_study, study.study_id, by="lead")
    study = store.do(
        actions.approve_study, study.study_id, "north", study.design.digest, by="cn", now=NOW
    )
    assert study.state == StudyState.AWAITING  # one node of two
    study = store.do(
        actions.approve_study, study.study_id, "lake", study.design.digest, by="cl", now=NOW
    )
    assert study.state == StudyState.OPEN
    cases = store.do(
        actions.add_cases,
        study.study_id,
        [(f"rel-{i}", "north" if i % 2 else "lake") for i in range(8)],
        by="lead",
    )
    assert all(c.case.startswith("C-") and "rel" not in c.case for c in cases)
    made = store.do(actions.allocate_reads, study.study_id, by="lead")
    first = [a for a in made if not a.read.reread]
    assert Counter(a.read.case for a in first) == {c.case: 2 for c in cases}
    site = {c.case: c.site for c in cases}
    reader_site = dict(READERS)
    assert all(site[a.read.case] != reader_site[a.read.reader] for a in made)  # own site excluded

    mine = store.do(actions.worklist, study.study_id, by="ann")
    assert {a.read.reader for a in mine} == {"ann"} and [a.position for a in mine] == list(
        range(1, len(mine) + 1)
    )
    read_id = mine[0].read.read_id
    store.do(actions.open_read, read_id, by="ann", now=NOW)
    store.do(actions.save_read, read_id, FORM, ANSWERS, phase="unaided", by="ann")
    store.do(actions.lock_read, read_id, FORM, by="ann", now=NOW)
    store.do(actions.reveal_ai, read_id, by="ann", now=NOW)
    read = store.do(actions.submit_read, read_id, FORM, by="ann", now=NOW)
    assert read.state == ReadState.SUBMITTED and read.unaided == ANSWERS
    store.do(actions.lock_study, study.study_id, by="lead", now=NOW)

    kinds = [e.type for e in store.events()]
    assert kinds == [
        E.STUDY_CREATED,
        E.STUDY_PROPOSED,
        E.STUDY_APPROVED,
        E.STUDY_APPROVED,
        E.STUDY_CASES_ADDED,
        E.STUDY_READS_ALLOCATED,
        E.STUDY_CASE_OPENED,
        E.STUDY_READ_SAVED,
        E.STUDY_FIRST_READ_LOCKED,
        E.STUDY_AI_REVEALED,
        E.STUDY_READ_SUBMITTED,
        E.STUDY_LOCKED,
    ]
    trail = json.dumps([e.details for e in store.events()])
    assert "PLANTED-COMMENT" not in trail and "adequate" not in trail  # never an answer
    assert "rel-" not in trail  # nor a release id: cases are counted per node
    assert all(e.project_id == "proj" for e in store.events())


def test_outsiders_and_other_readers_are_told_nothing_exists(backend):
    store = backend
    study = open_study(store)
    with pytest.raises(NotFoundOrNoPermission):
        store.do(actions.worklist, study.study_id, by="mallory")
    with pytest.raises(NotFoundOrNoPermission):
        store.do(actions.worklist, "st_missing", by="ann")
    bea_read = store.do(actions.worklist, study.study_id, by="bea")[0].read.read_id
    with pytest.raises(NotFoundOrNoPermission, match="case"):
        store.do(actions.open_read, bea_read, by="ann", now=NOW)
    with pytest.raises(Forbidden, match="lead"):
        store.do(actions.lock_study, study.study_id, by="ann", now=NOW)


def test_an_edit_after_the_start_waits_for_every_custodian_again(backend):
    store = backend
    study = open_study(store)
    read_id = store.do(actions.worklist, study.study_id, by="ann")[0].read.read_id
    old = study.design.digest
    edited = store.do(
        actions.edit_study, study.study_id, design(title="Lung biopsies, revised"), by="lead"
    )
    assert (edited.state, edited.version) == (StudyState.AWAITING, 2)
    with pytest.raises(StudyConflict, match="approve its current version"):
        store.do(actions.open_read, read_id, by="ann", now=NOW)
    with pytest.raises(StudyConflict, match="earlier version"):
        store.do(actions.approve_study, study.study_id, "north", old, by="cn", now=NOW)
    with pytest.raises(StudyConflict, match="cannot change once reads are allocated"):
        store.do(
            actions.edit_study, study.study_id, design(readers=design().readers[:3]), by="lead"
        )
    for node in ("north", "lake"):
        edited = store.do(
            actions.approve_study, study.study_id, node, edited.design.digest, by="c", now=NOW
        )
    assert edited.state == StudyState.OPEN
    store.do(actions.open_read, read_id, by="ann", now=NOW)


def test_a_refused_action_changes_nothing_and_writes_no_event(backend):
    store = backend
    study = open_study(store)
    read_id = store.do(actions.worklist, study.study_id, by="ann")[0].read.read_id
    store.do(actions.open_read, read_id, by="ann", now=NOW)
    before = (store.assigned(read_id), len(store.events()))
    for refused, error in [
        (lambda s: actions.reveal_ai(s, read_id, by="ann", now=NOW), ReadConflict),
        (lambda s: actions.lock_read(s, read_id, FORM, by="ann", now=NOW), FormError),
        (
            lambda s: actions.save_read(
                s, read_id, FORM, {"adequacy": "superb"}, phase="unaided", by="ann"
            ),
            FormError,
        ),
    ]:
        with pytest.raises(error):
            act(store.unit, refused)
        assert (store.assigned(read_id), len(store.events())) == before


def test_a_reader_drops_out_and_their_open_reads_move_to_others(backend):
    store = backend
    study = open_study(store, cases=12)  # two readers per hospital, own site excluded
    before = (store.reads(study.study_id), len(store.events()))
    with pytest.raises(InvalidRequest, match="no other eligible reader"):
        act(
            store.unit,
            lambda s: actions.reassign_reader(s, study.study_id, "ann", by="lead"),
        )
    assert (store.reads(study.study_id), len(store.events())) == before

    store = backend
    anyone = Allocating(reads_per_case=2, exclude_own_site=False, reread_fraction=0.25)
    study = open_study(store, cases=12, allocation=anyone)
    anns = store.do(actions.worklist, study.study_id, by="ann")
    done = anns[0].read.read_id
    store.do(actions.open_read, done, by="ann", now=NOW)
    store.do(actions.save_read, done, FORM, ANSWERS, phase="unaided", by="ann")
    store.do(actions.lock_read, done, FORM, by="ann", now=NOW)
    store.do(actions.reassign_reader, study.study_id, "ann", by="lead")
    left = store.do(actions.worklist, study.study_id, by="ann")
    assert [a.read.read_id for a in left] == [done]  # the locked read stays, and counts
    live = [a for a in store.reads(study.study_id) if a.read.state != ReadState.WITHDRAWN]
    firsts = Counter(a.read.case for a in live if not a.read.reread)
    assert set(firsts.values()) == {2}  # every case still read twice
    assert store.events()[-1].type == E.STUDY_READS_REASSIGNED


def submit_first(store, study_id, reader, case, now):
    first = next(
        a for a in store.reads(study_id, reader) if a.read.case == case and not a.read.reread
    )
    rid = first.read.read_id
    store.do(actions.open_read, rid, by=reader, now=now)
    store.do(actions.save_read, rid, FORM, ANSWERS, phase="unaided", by=reader)
    store.do(actions.lock_read, rid, FORM, by=reader, now=now)
    store.do(actions.reveal_ai, rid, by=reader, now=now)
    store.do(actions.submit_read, rid, FORM, by=reader, now=now)


def test_a_reread_opens_only_after_the_washout(backend):
    store = backend
    study = open_study(store, cases=16)
    reread = next(a.read for a in store.reads(study.study_id, "cal") if a.read.reread)
    with pytest.raises(ReadConflict, match="after your first read of it is submitted"):
        store.do(actions.open_read, reread.read_id, by="cal", now=NOW)
    submit_first(store, study.study_id, "cal", reread.case, NOW)
    with pytest.raises(ReadConflict, match="opens on 21 December 2026"):
        store.do(actions.open_read, reread.read_id, by="cal", now=NOW + timedelta(days=13))
    opened = store.do(actions.open_read, reread.read_id, by="cal", now=NOW + timedelta(days=14))
    assert opened.state == ReadState.OPENED


def test_a_crossover_study_balances_unaided_and_aided_reads_per_reader(backend):
    store = backend
    study = open_study(store, cases=16, design="crossover")
    for reader, _ in READERS:
        mine = [a.read for a in store.reads(study.study_id, reader)]
        firsts = Counter(r.condition for r in mine if not r.reread)
        assert abs(firsts["unaided"] - firsts["aided"]) <= 1 and "sequential" not in firsts
        for again in (r for r in mine if r.reread):
            first = next(r for r in mine if r.case == again.case and not r.reread)
            assert {first.condition, again.condition} == {"unaided", "aided"}
