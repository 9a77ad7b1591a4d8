"""One suite for every extracts store: in memory, SQLite and PostgreSQL (the node's database,
migrated), on the domain-module kit's harness (``tests/store_suite.py``). Each test drives a
custodian's extraction approval (``fivesafes.extracts``, ADR 0028 point 3), or an extract the
node built (held, then released or withdrawn: point 5), through its actions and reads back
what was kept: every decision as its own row, the policy's verdict on an extract's options,
an extract's state and who decided it, and exactly one audit event per action in the same
transaction, in counts and names only."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from fivesafes.audit.chain import verify_chain
from fivesafes.extracts.policy import ExtractionRefused
from fivesafes.extracts.schema import EXTRACTS_SCHEMA
from fivesafes.extracts.service import Extracts, sql_unit
from fivesafes.extracts.store import (
    Extract,
    ExtractionState,
    ExtractsStore,
    ExtractState,
    MemoryExtracts,
)
from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import Grant, Role, node_scope
from fivesafes.imaging.deid.options import Options
from fivesafes.kit.store import Unit
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
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
ALICE = actor("alice")  # a researcher: no role at the node
BOB = actor("bob")  # another researcher
STRANGER = actor("mallory")
CHECKER_ELSEWHERE = actor("olga", Role.OUTPUT_CHECKER, node="lakeside")


@dataclass
class Backend:
    extracts: Extracts
    events: Callable[[], list[tuple[str, str | None, str | None, dict]]]  # type, project, node
    project: Callable[[str, str | None], None]  # the node's own approval: its state
    rows: Callable[[], int]  # decisions kept
    chain_ok: Callable[[], bool]
    extract_rows: Callable[[], int]  # extracts kept
    unit: Unit[ExtractsStore]  # a transaction on the store itself


def _memory() -> Backend:
    store = MemoryExtracts(clock=lambda: NOW)
    return Backend(
        Extracts(node=NODE, unit=store.transaction),
        lambda: [(e.type.value, e.project_id, e.node, e.details) for e in store.events],
        store.set_project_state,
        lambda: len(store._records.decisions),
        lambda: True,
        lambda: len(store._records.extracts),
        store.transaction,
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

    def extract_rows() -> int:
        return len(db.unit(lambda s: s.execute(select(EXTRACTS.extracts)).all()))

    unit = sql_unit(db.unit, EXTRACTS, AUDIT, projects=Approval.__table__, clock=lambda: NOW)
    return Backend(
        Extracts(node=NODE, unit=unit),
        events,
        project,
        rows,
        lambda: db.unit(lambda s: verify_chain(s, AUDIT).ok),
        extract_rows,
        unit,
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
            for step in EXTRACTS_SCHEMA.steps:
                step.upgrade(op)
            assert sorted(inspect(connection).get_table_names()) == [
                "extraction_approvals",
                "extracts",
            ]
            metadata = MetaData()
            EXTRACTS_SCHEMA.define(metadata)
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert list(compare_metadata(context, metadata)) == []
            EXTRACTS_SCHEMA.step(2).downgrade(op)
            assert inspect(connection).get_table_names() == ["extraction_approvals"]
            EXTRACTS_SCHEMA.step(1).downgrade(op)
            assert inspect(connection).get_table_names() == []
    finally:
        engine.dispose()


# --- extracts: held, then released or withdrawn (ADR 0028, point 5) ------------------------

BUILT_AT = NOW - timedelta(days=1)  # built a day before anyone decides (the clock says NOW)
PSEUDONYMS = ("PSN-7f3a9c", "PSN-0b12de")
REPORT = {
    "files": 14,
    "written": 11,
    "rejected": {"secondary_capture": 2},
    "failed_verification": {"name_in_pixels": 1},
    "persons": 2,
}


def built(
    task_id: str = "t_1", *, project_id: str = "p_1", requester: str = "alice", **changes
) -> Extract:
    """An extract as the node's build hands it over: held, in its staging folder."""
    extract = Extract(
        extract_id=task_id,
        project_id=project_id,
        task_id=task_id,
        requester=requester,
        state=ExtractState.HELD,
        options=("clean-descriptors", "retain-modified-dates"),
        folder=f"{project_id}/{task_id}.staging",
        report=REPORT,
        persons=PSEUDONYMS,
        created_at=BUILT_AT,
    )
    return replace(extract, **changes)


def state_of(backend: Backend, extract_id: str) -> ExtractState | None:
    found = backend.unit(lambda s: s.extract(extract_id))
    return found.state if found is not None else None


def no_secret_in(events) -> None:
    """No folder, path or pseudonym reaches the audit log: counts and names only."""
    written = json.dumps([details for *_, details in events])
    for secret in (*PSEUDONYMS, ".staging", "p_1/"):
        assert secret not in written


def test_a_held_extract_is_kept_as_built_and_read_back(backend):
    kept = backend.extracts.hold(built())
    # the options as Decision.options are: known names, in their order
    assert kept == built(options=("retain-modified-dates", "clean-descriptors"))
    assert backend.extracts.extract("t_1", by=CHECKER) == kept
    assert backend.unit(lambda s: s.extract("t_1")) == kept
    assert kept.decided_by is None and kept.decided_at is None and kept.reason is None
    assert backend.unit(lambda s: s.extract("t_9")) is None
    assert backend.extract_rows() == 1


def test_extracts_are_listed_newest_first_then_by_id_and_by_project(backend):
    backend.extracts.hold(built("t_b"))
    backend.extracts.hold(built("t_a"))
    backend.extracts.hold(built("t_c", created_at=BUILT_AT + timedelta(hours=1)))
    backend.extracts.hold(built("t_0", project_id="p_2", created_at=BUILT_AT - timedelta(hours=1)))
    everything = backend.unit(lambda s: s.extracts())
    assert [e.extract_id for e in everything] == ["t_c", "t_a", "t_b", "t_0"]
    assert [e.extract_id for e in backend.extracts.extracts(by=CHECKER)] == [
        "t_c", "t_a", "t_b", "t_0",
    ]  # fmt: skip
    assert [e.extract_id for e in backend.extracts.extracts(by=CHECKER, project_id="p_1")] == [
        "t_c", "t_a", "t_b",
    ]  # fmt: skip
    assert [e.extract_id for e in backend.extracts.extracts(by=CHECKER, project_id="p_2")] == [
        "t_0"
    ]
    assert backend.extracts.extracts(by=CHECKER, project_id="p_9") == []


def test_a_second_extract_of_the_same_task_is_refused_and_the_first_kept(backend):
    backend.extracts.hold(built())
    with pytest.raises(InvalidRequest, match="already recorded") as refused:
        backend.extracts.hold(built(folder="p_1/elsewhere", report={"written": 1}))
    assert "t_1" not in str(refused.value)
    assert backend.extract_rows() == 1 and len(backend.events()) == 1
    assert backend.unit(lambda s: s.extract("t_1")).report == REPORT


def test_holding_writes_one_audit_event_in_counts_and_names_only(backend):
    backend.extracts.hold(built())
    assert backend.events() == [
        (
            "extract_held",
            "p_1",
            NODE,
            {
                "task_id": "t_1",
                "files": 11,
                "persons": 2,
                "options": ["retain-modified-dates", "clean-descriptors"],
            },
        )
    ]
    backend.extracts.hold(built("t_2", report={"rejected": {"secondary_capture": 3}}))
    assert backend.events()[-1][3]["files"] is None  # the report does not say: no count
    no_secret_in(backend.events())
    assert backend.chain_ok()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"state": ExtractState.RELEASED}, "recorded held"),
        ({"extract_id": "t_other"}, "its task's id"),
        ({"folder": "/srv/extracts/p_1/t_1.staging"}, "below the node's extracts root"),
        ({"folder": "p_1/../../etc"}, "below the node's extracts root"),
        ({"folder": ""}, "below the node's extracts root"),
        ({"report": {"written": 3, "first": "PATIENT-42"}}, "counts only"),
        ({"report": {"rejected": {"odd": -1}}}, "counts only"),
        ({"options": ("clean-descriptors", "retain-PATIENT-42")}, "Unknown de-identification"),
    ],
    ids=["released", "id", "absolute", "upwards", "root", "words", "negative", "option"],
)
def test_a_malformed_extract_is_refused_in_words_and_nothing_kept(backend, changes, words):
    with pytest.raises(InvalidRequest, match=words) as refused:
        backend.extracts.hold(built(**changes))
    for value in ("PATIENT-42", "/srv", "etc", "t_other"):
        assert value not in str(refused.value)
    assert backend.extract_rows() == 0 and backend.events() == []


def test_an_output_checker_releases_a_held_extract(backend):
    backend.extracts.hold(built())
    released = backend.extracts.release("t_1", by=CHECKER)
    assert released.state is ExtractState.RELEASED
    assert (released.decided_by, released.decided_at, released.reason) == ("carol", NOW, None)
    assert released.created_at == BUILT_AT
    assert backend.extracts.extract("t_1", by=ALICE) == released
    assert backend.events()[-1] == (
        "extract_released",
        "p_1",
        NODE,
        {"task_id": "t_1", "files": 11, "persons": 2},
    )
    assert len(backend.events()) == 2
    no_secret_in(backend.events())
    assert backend.chain_ok()


@pytest.mark.parametrize("who", [CHECKER, ALICE], ids=["checker", "requester"])
def test_an_output_checker_or_the_requester_withdraws_a_held_extract_saying_why(backend, who):
    backend.extracts.hold(built())
    withdrawn = backend.extracts.withdraw("t_1", "  a name burned into two frames ", by=who)
    assert withdrawn.state is ExtractState.WITHDRAWN
    assert (withdrawn.decided_by, withdrawn.decided_at) == (who.username, NOW)
    assert withdrawn.reason == "a name burned into two frames"
    assert backend.unit(lambda s: s.extract("t_1")) == withdrawn
    assert backend.events()[-1] == (
        "extract_withdrawn",
        "p_1",
        NODE,
        {"task_id": "t_1", "reason": "a name burned into two frames"},
    )
    assert len(backend.events()) == 2
    no_secret_in(backend.events())
    assert backend.chain_ok()


def _refused_and_unchanged(backend: Backend, error, words: str, act) -> None:
    before = backend.events()
    with pytest.raises(error, match=words):
        act()
    assert state_of(backend, "t_1") is ExtractState.HELD
    assert backend.unit(lambda s: s.extract("t_1")).decided_by is None
    assert backend.events() == before and backend.extract_rows() == 1


@pytest.mark.parametrize(
    ("who", "error", "words"),
    [
        (CUSTODIAN, NotPermitted, "Only an output checker of northfield releases"),
        (ADMIN, NotPermitted, "Only an output checker of northfield releases"),
        (ALICE, NotPermitted, "Only an output checker of northfield releases"),  # the requester
        (BOB, NotFoundOrNoPermission, "does not exist or you do not have permission"),
        (STRANGER, NotFoundOrNoPermission, "does not exist or you do not have permission"),
        (CHECKER_ELSEWHERE, NotFoundOrNoPermission, "does not exist or you do not have"),
    ],
    ids=["custodian", "admin", "requester", "researcher", "stranger", "checker-elsewhere"],
)
def test_only_an_output_checker_of_the_node_releases(backend, who, error, words):
    backend.extracts.hold(built())
    _refused_and_unchanged(backend, error, words, lambda: backend.extracts.release("t_1", by=who))


def test_an_output_checker_never_releases_an_extract_they_asked_for(backend):
    backend.extracts.hold(built(requester="carol"))
    _refused_and_unchanged(
        backend,
        NotPermitted,
        "Nobody releases an extract they asked for",
        lambda: backend.extracts.release("t_1", by=CHECKER),
    )
    other = actor("dave", Role.OUTPUT_CHECKER)
    assert backend.extracts.release("t_1", by=other).decided_by == "dave"


@pytest.mark.parametrize(
    ("who", "error"),
    [
        (CUSTODIAN, NotPermitted),
        (ADMIN, NotPermitted),
        (BOB, NotFoundOrNoPermission),
        (STRANGER, NotFoundOrNoPermission),
        (CHECKER_ELSEWHERE, NotFoundOrNoPermission),
    ],
    ids=["custodian", "admin", "researcher", "stranger", "checker-elsewhere"],
)
def test_only_an_output_checker_or_the_requester_withdraws(backend, who, error):
    backend.extracts.hold(built())
    words = "or the researcher who asked" if error is NotPermitted else "does not exist"
    _refused_and_unchanged(
        backend, error, words, lambda: backend.extracts.withdraw("t_1", "no", by=who)
    )


@pytest.mark.parametrize(
    ("reason", "words"),
    [("   ", "Say why"), ("x" * 1001, "at most 1000 characters")],
    ids=["blank", "too-long"],
)
def test_a_withdrawal_needs_a_reason_of_bounded_length(backend, reason, words):
    backend.extracts.hold(built())
    _refused_and_unchanged(
        backend,
        InvalidRequest,
        words,
        lambda: backend.extracts.withdraw("t_1", reason, by=CHECKER),
    )


def test_only_a_held_extract_is_released_or_withdrawn(backend):
    backend.extracts.hold(built("t_1"))
    backend.extracts.hold(built("t_2"))
    backend.extracts.withdraw("t_1", "not needed", by=ALICE)
    backend.extracts.release("t_2", by=CHECKER)
    events = len(backend.events())

    with pytest.raises(InvalidRequest, match="The extract is withdrawn"):
        backend.extracts.release("t_1", by=CHECKER)
    with pytest.raises(InvalidRequest, match="The extract is withdrawn"):
        backend.extracts.withdraw("t_1", "again", by=CHECKER)
    with pytest.raises(InvalidRequest, match="The extract is released"):
        backend.extracts.withdraw("t_2", "too late", by=CHECKER)
    with pytest.raises(InvalidRequest, match="The extract is released"):
        backend.extracts.release("t_2", by=CHECKER)

    first, second = (
        backend.extracts.extract("t_1", by=CHECKER),
        backend.extracts.extract("t_2", by=CHECKER),
    )
    assert (first.state, first.decided_by, first.reason) == (
        ExtractState.WITHDRAWN, "alice", "not needed",
    )  # fmt: skip
    assert (second.state, second.decided_by, second.reason) == (
        ExtractState.RELEASED, "carol", None,
    )  # fmt: skip
    assert len(backend.events()) == events


def test_the_store_itself_refuses_a_move_the_state_machine_does_not_draw(backend):
    backend.extracts.hold(built())
    with pytest.raises(InvalidRequest, match="The extract is held"):
        backend.unit(lambda s: s.set_extract_state("t_1", ExtractState.HELD, by="carol"))
    backend.unit(lambda s: s.set_extract_state("t_1", ExtractState.RELEASED, by="carol"))
    for to in ExtractState:
        with pytest.raises(InvalidRequest, match="The extract is released"):
            backend.unit(lambda s, to=to: s.set_extract_state("t_1", to, by="carol"))
    with pytest.raises(NotFoundOrNoPermission):
        backend.unit(lambda s: s.set_extract_state("t_9", ExtractState.RELEASED, by="carol"))
    kept = backend.unit(lambda s: s.extract("t_1"))
    assert (kept.state, kept.decided_by, kept.decided_at) == (ExtractState.RELEASED, "carol", NOW)


@pytest.mark.parametrize("who", [CHECKER, CUSTODIAN, ADMIN], ids=["checker", "custodian", "admin"])
def test_the_node_s_checkers_custodians_and_admins_see_every_extract(backend, who):
    backend.extracts.hold(built("t_1", requester="alice"))
    backend.extracts.hold(built("t_2", requester="bob"))
    assert [e.extract_id for e in backend.extracts.extracts(by=who)] == ["t_1", "t_2"]
    assert backend.extracts.extract("t_2", by=who).requester == "bob"


def test_a_requester_sees_their_own_extracts_and_no_one_else_s(backend):
    backend.extracts.hold(built("t_1", requester="alice"))
    backend.extracts.hold(built("t_2", requester="bob"))
    assert [e.extract_id for e in backend.extracts.extracts(by=ALICE)] == ["t_1"]
    assert [e.extract_id for e in backend.extracts.extracts(by=BOB)] == ["t_2"]
    assert backend.extracts.extract("t_1", by=ALICE).requester == "alice"
    with pytest.raises(NotFoundOrNoPermission, match="The extract does not exist"):
        backend.extracts.extract("t_2", by=ALICE)


@pytest.mark.parametrize("who", [STRANGER, CHECKER_ELSEWHERE, ELSEWHERE])
def test_anyone_else_sees_no_extract_and_cannot_tell_one_from_none(backend, who):
    backend.extracts.hold(built())
    assert backend.extracts.extracts(by=who) == []
    with pytest.raises(NotFoundOrNoPermission) as seen:
        backend.extracts.extract("t_1", by=who)
    with pytest.raises(NotFoundOrNoPermission) as unknown:
        backend.extracts.extract("t_9", by=who)
    assert (
        str(seen.value)
        == str(unknown.value)
        == ("The extract does not exist or you do not have permission to see it.")
    )
    with pytest.raises(NotFoundOrNoPermission, match="The extract does not exist"):
        backend.extracts.extract("t_9", by=CHECKER)  # unknown, even to a checker
    with pytest.raises(NotFoundOrNoPermission):
        backend.extracts.release("t_9", by=CHECKER)
    assert len(backend.events()) == 1
