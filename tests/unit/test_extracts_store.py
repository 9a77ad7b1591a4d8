"""One suite for every extracts store: in memory, SQLite and PostgreSQL (the node's database,
migrated), on the domain-module kit's harness (``tests/store_suite.py``). Each test drives a
custodian's extraction approval (``fivesafes.extracts``, ADR 0028 point 3) through its actions
and reads back what was kept: every decision as its own row, the policy's verdict on an
extract's options, and exactly one audit event per decision in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from fivesafes.audit.chain import verify_chain
from fivesafes.extracts.policy import ExtractionRefused
from fivesafes.extracts.schema import EXTRACTS_SCHEMA
from fivesafes.extracts.service import Extracts, sql_unit
from fivesafes.extracts.store import ExtractionState, MemoryExtracts
from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import Grant, Role, node_scope
from fivesafes.imaging.deid.options import Options
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.protocol.runs import ReasonCode
from store_suite import SqlDatabase, store_suite

NODE = "northfield"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TWO = ["retain-modified-dates", "clean-descriptors"]


def actor(name: str, *roles: Role, node: str = NODE) -> Actor:
    grants = frozenset(Grant(role, node_scope(node)) for role in roles)
    return Actor(Account(id=len(name), username=name, display_name=name, grants=grants))


CUSTODIAN = actor("dr-custodian", Role.CUSTODIAN)
ADMIN = actor("tre-admin", Role.TRE_ADMIN)
CHECKER = actor("carol", Role.OUTPUT_CHECKER)
ELSEWHERE = actor("dr-other", Role.CUSTODIAN, node="lakeside")  # a custodian of another node


@dataclass
class Backend:
    extracts: Extracts
    events: Callable[[], list[tuple[str, str | None, str | None, dict]]]  # type, project, node
    project: Callable[[str, str | None], None]  # the node's own approval: its state
    rows: Callable[[], int]  # decisions kept
    chain_ok: Callable[[], bool]


def _memory() -> Backend:
    store = MemoryExtracts(clock=lambda: NOW)
    return Backend(
        Extracts(node=NODE, unit=store.transaction),
        lambda: [(e.type.value, e.project_id, e.node, e.details) for e in store.events],
        store.set_project_state,
        lambda: len(store._records.decisions),
        lambda: True,
    )


def _sql(db: SqlDatabase) -> Backend:
    from fivesafes.node.db import AUDIT, EXTRACTS, Approval

    def events():
        e = AUDIT.events.c
        rows = db.unit(
            lambda s: s.execute(
                select(e.event_type, e.project_id, e.node, e.details).order_by(e.seq)
            ).all()
        )
        return [(r.event_type, r.project_id, r.node, r.details) for r in rows]

    def project(project_id: str, state: str | None) -> None:
        def work(s) -> None:
            found = s.get(Approval, project_id)
            if state is None:
                if found is not None:
                    s.delete(found)
                return
            if found is None:
                found = Approval(
                    project_id=project_id, version=1, title="Lung imaging", members=["alice"],
                    analyses=["count@1"], start_date=date.today(),
                    end_date=date.today() + timedelta(days=365), decided_at=NOW,
                    decided_by="dr-custodian", record_signature="x" * 16,
                )  # fmt: skip
                s.add(found)
            found.state = state

        db.unit(work)

    def rows() -> int:
        return len(db.unit(lambda s: s.execute(select(EXTRACTS.approvals)).all()))

    unit = sql_unit(db.unit, EXTRACTS, AUDIT, projects=Approval.__table__, clock=lambda: NOW)
    return Backend(
        Extracts(node=NODE, unit=unit),
        events,
        project,
        rows,
        lambda: db.unit(lambda s: verify_chain(s, AUDIT).ok),
    )


backend = store_suite(_memory, _sql, schema="fivesafes.node:migrations")


def refusal(backend: Backend, project_id: str, options: Options) -> ReasonCode | None:
    try:
        backend.extracts.check(project_id, options)
    except ExtractionRefused as refused:
        return refused.reason
    return None


def test_an_approval_allows_its_options_or_fewer_and_refuses_more(backend):
    backend.project("p_1", "approved")
    made = backend.extracts.approve("p_1", TWO, by=CUSTODIAN)
    assert made.state is ExtractionState.APPROVED and made.profile == "basic"
    assert made.options == ("retain-modified-dates", "clean-descriptors")
    assert made.decided_by == "dr-custodian" and made.decided_at == NOW

    assert refusal(backend, "p_1", Options(retain_modified_dates=True)) is None  # fewer
    assert backend.extracts.allows("p_1", Options(clean_descriptors=True))
    assert refusal(backend, "p_1", Options()) is None  # the Basic Profile alone
    both = Options(retain_modified_dates=True, clean_descriptors=True)
    assert refusal(backend, "p_1", both) is None
    more = Options(retain_modified_dates=True, clean_pixel_data=True)
    assert refusal(backend, "p_1", more) is ReasonCode.EXTRACTION_OPTIONS_NOT_ALLOWED


def test_a_project_without_an_extraction_approval_is_refused(backend):
    backend.project("p_1", "approved")
    backend.project("p_2", "approved")
    backend.extracts.approve("p_1", TWO, by=CUSTODIAN)
    assert refusal(backend, "p_2", Options()) is ReasonCode.EXTRACTION_NOT_APPROVED
    assert refusal(backend, "p_9", Options()) is ReasonCode.PROJECT_NOT_APPROVED


def test_revoking_refuses_every_extract_and_keeps_the_history(backend):
    backend.project("p_1", "approved")
    backend.extracts.approve("p_1", ["clean-descriptors"], by=CUSTODIAN)
    backend.extracts.approve("p_1", TWO, by=CUSTODIAN)  # a wider maximum, a new decision
    revoked = backend.extracts.revoke("p_1", "  scanner list under review ", by=ADMIN)
    assert (
        revoked.state is ExtractionState.REVOKED and revoked.reason == "scanner list under review"
    )
    assert refusal(backend, "p_1", Options()) is ReasonCode.EXTRACTION_NOT_APPROVED

    history = backend.extracts.history("p_1", by=CUSTODIAN)
    assert [(d.seq, d.state.value, d.options, d.decided_by) for d in history] == [
        (1, "approved", ("clean-descriptors",), "dr-custodian"),
        (2, "approved", ("retain-modified-dates", "clean-descriptors"), "dr-custodian"),
        (3, "revoked", (), "tre-admin"),
    ]
    [current] = backend.extracts.decisions(by=CUSTODIAN)
    assert (current.project_id, current.seq, current.state) == ("p_1", 3, ExtractionState.REVOKED)

    again = backend.extracts.approve("p_1", [], by=CUSTODIAN)  # approved again: Basic only
    assert again.seq == 4 and again.options == ()
    assert refusal(backend, "p_1", Options()) is None
    assert refusal(backend, "p_1", Options(clean_descriptors=True)) is (
        ReasonCode.EXTRACTION_OPTIONS_NOT_ALLOWED
    )


def test_the_node_s_own_approval_of_the_project_must_stand(backend):
    backend.project("p_1", "approved")
    backend.extracts.approve("p_1", TWO, by=CUSTODIAN)
    backend.project("p_1", "revoked")  # the custodian revoked the project itself
    assert refusal(backend, "p_1", Options()) is ReasonCode.PROJECT_NOT_APPROVED
    assert not backend.extracts.allows("p_1", Options())  # the policy's can_ twin


@pytest.mark.parametrize("state", [None, "rejected", "revoked"])
def test_approving_for_a_project_the_node_has_not_approved_is_refused(backend, state):
    backend.project("p_1", state)
    with pytest.raises(InvalidRequest, match="has not approved the project") as refused:
        backend.extracts.approve("p_1", TWO, by=CUSTODIAN)
    assert "p_1" not in str(refused.value)
    assert backend.rows() == 0 and backend.events() == []


@pytest.mark.parametrize("who", [CHECKER, ADMIN, ELSEWHERE], ids=["checker", "admin", "other"])
def test_only_a_custodian_of_the_node_approves_and_nothing_changes_otherwise(backend, who):
    backend.project("p_1", "approved")
    with pytest.raises(NotPermitted, match="Only a custodian of northfield"):
        backend.extracts.approve("p_1", TWO, by=who)
    assert backend.rows() == 0 and backend.events() == []
    assert refusal(backend, "p_1", Options()) is ReasonCode.EXTRACTION_NOT_APPROVED


@pytest.mark.parametrize("who", [CHECKER, ELSEWHERE], ids=["checker", "other"])
def test_only_a_custodian_or_tre_admin_revokes_and_nothing_changes_otherwise(backend, who):
    backend.project("p_1", "approved")
    backend.extracts.approve("p_1", TWO, by=CUSTODIAN)
    with pytest.raises(NotPermitted):
        backend.extracts.revoke("p_1", "why not", by=who)
    with pytest.raises(NotPermitted):
        backend.extracts.decisions(by=who)
    assert backend.rows() == 1 and len(backend.events()) == 1
    assert refusal(backend, "p_1", Options(clean_descriptors=True)) is None


def test_an_unknown_option_is_refused_in_words_without_the_value(backend):
    backend.project("p_1", "approved")
    with pytest.raises(InvalidRequest, match="Unknown de-identification option") as refused:
        backend.extracts.approve(
            "p_1", ["clean-descriptors", "retain-uids-PATIENT-42"], by=CUSTODIAN
        )
    assert "PATIENT-42" not in str(refused.value) and "retain-uids" not in str(refused.value)
    assert backend.rows() == 0 and backend.events() == []


def test_a_revocation_needs_an_approval_and_a_reason(backend):
    backend.project("p_1", "approved")
    with pytest.raises(InvalidRequest, match="not approved"):
        backend.extracts.revoke("p_1", "why", by=CUSTODIAN)
    backend.extracts.approve("p_1", [], by=CUSTODIAN)
    with pytest.raises(InvalidRequest, match="Say why"):
        backend.extracts.revoke("p_1", "   ", by=CUSTODIAN)
    backend.extracts.revoke("p_1", "done", by=CUSTODIAN)
    with pytest.raises(InvalidRequest, match="nothing to revoke"):
        backend.extracts.revoke("p_1", "again", by=CUSTODIAN)
    assert backend.rows() == 2 and len(backend.events()) == 2


def test_each_decision_writes_exactly_one_audit_event_with_its_options(backend):
    backend.project("p_1", "approved")
    backend.extracts.approve("p_1", ["clean-descriptors", "retain-modified-dates"], by=CUSTODIAN)
    assert backend.events() == [
        (
            "extraction_approved",
            "p_1",
            NODE,
            {"profile": "basic", "options": ["retain-modified-dates", "clean-descriptors"]},
        )
    ]
    backend.extracts.revoke("p_1", "scanner list under review", by=CUSTODIAN)
    events = backend.events()
    assert len(events) == 2
    assert events[1] == (
        "extraction_revoked",
        "p_1",
        NODE,
        {
            "options": ["retain-modified-dates", "clean-descriptors"],
            "reason": "scanner list under review",
        },
    )
    assert backend.chain_ok()


def test_the_schema_step_makes_the_tables_the_module_defines(state_db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import MetaData, inspect

    from fivesafes.storage.engine import make_engine

    engine = make_engine(state_db_url)
    try:
        with engine.begin() as connection:
            op = Operations(MigrationContext.configure(connection))
            EXTRACTS_SCHEMA.step(1).upgrade(op)
            metadata = MetaData()
            EXTRACTS_SCHEMA.define(metadata)
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert list(compare_metadata(context, metadata)) == []
            EXTRACTS_SCHEMA.step(1).downgrade(op)
            assert inspect(connection).get_table_names() == []
    finally:
        engine.dispose()
