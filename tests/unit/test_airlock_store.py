"""One suite for every airlock store: in memory, SQLite and PostgreSQL (the node's database,
migrated), on the domain-module kit's harness (``tests/store_suite.py``). Each test drives the
airlock's actions and reads back what was kept: requests with versions and history, files and
their bytes, pre-screens, blinded votes, consolidation, decisions, bundles, and an audit event
for every change in the same transaction."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from fivesafes.airlock.bundle import ChangedSinceApproval, verify_bundle
from fivesafes.airlock.files import FileRefused, FileType, RequestFile
from fivesafes.airlock.review import ReviewError, Vote
from fivesafes.airlock.service import Airlock, sql_unit
from fivesafes.airlock.states import InvalidTransition, RequestState
from fivesafes.airlock.store import MemoryAirlockStore
from fivesafes.audit.chain import verify_chain
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import Grant, Role, node_scope
from fivesafes.protocol.errors import Forbidden, NotFoundOrNoPermission
from fivesafes.protocol.signing import generate_key, public_key_text
from fivesafes.sdc.profiles import get_profile
from store_suite import SqlDatabase, store_suite

NODE = node_scope("northfield")
KEY = generate_key()
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TABLE = b"region,count\nnorth,120\nsouth,7\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def actor(name: str, *roles: Role) -> Actor:
    grants = frozenset(Grant(role, NODE) for role in roles)
    return Actor(Account(id=len(name), username=name, display_name=name, grants=grants))


ALICE = actor("alice", Role.OUTPUT_CHECKER)  # the author, and a checker: never of her own
CAROL, DEV = actor("carol", Role.OUTPUT_CHECKER), actor("dev", Role.OUTPUT_CHECKER)
BOB = actor("bob", Role.CUSTODIAN)  # no output checker


@dataclass
class Backend:
    airlock: Airlock
    events: Callable[[], list[tuple[str, str, dict]]]  # (type, outcome, details)
    tamper: Callable[[str, str, bytes], None]  # request id, file name, new bytes
    chain_ok: Callable[[], bool]


def _airlock(unit) -> Airlock:
    return Airlock(
        scope=NODE,
        unit=unit,
        key=KEY,
        service="node:northfield",
        profile=get_profile("default"),
        clock=lambda: NOW,
    )


def _memory() -> Backend:
    store = MemoryAirlockStore(clock=lambda: NOW)

    def tamper(request_id: str, name: str, content: bytes) -> None:
        kept = store._records.requests[request_id]
        kept.files = [
            RequestFile(f.name, content, f.type, f.description) if f.name == name else f
            for f in kept.files
        ]

    return Backend(
        _airlock(store.transaction),
        lambda: [(e.type.value, e.outcome, e.details) for e in store.events],
        tamper,
        lambda: True,
    )


def _sql(db: SqlDatabase) -> Backend:
    from fivesafes.node.db import AIRLOCK, AUDIT

    def events():
        e = AUDIT.events.c
        rows = db.unit(
            lambda s: s.execute(select(e.event_type, e.outcome, e.details).order_by(e.seq)).all()
        )
        return [(r.event_type, r.outcome, r.details) for r in rows]

    def tamper(request_id: str, name: str, content: bytes) -> None:
        f = AIRLOCK.files.c
        db.unit(
            lambda s: s.execute(
                update(AIRLOCK.files)
                .where(f.request_id == request_id, f.name == name)
                .values(content=content)
            )
        )

    def chain_ok() -> bool:
        return db.unit(lambda s: verify_chain(s, AUDIT).ok)

    return Backend(_airlock(sql_unit(db.unit, AIRLOCK, AUDIT)), events, tamper, chain_ok)


backend = store_suite(_memory, _sql, schema="fivesafes.node:migrations")


def submitted(airlock: Airlock, *files: RequestFile) -> str:
    made = airlock.create(title="Smoking by region", project_id="p_1", by=ALICE)
    for file in files or (
        RequestFile("table.csv", TABLE, FileType.OUTPUT, "counts by region, all adults"),
        RequestFile("fig.png", PNG, FileType.SUPPORTING, "the same as a bar chart"),
    ):
        airlock.add_file(made.id, file, by=ALICE)
    airlock.submit(made.id, by=ALICE)
    return made.id


def both_approve(airlock: Airlock, request_id: str) -> None:
    for checker in (CAROL, DEV):
        for file in airlock.show(request_id, by=checker).files:
            airlock.vote(request_id, str(file["name"]), Vote.APPROVE, "fine", by=checker)


def test_a_request_is_kept_through_review_and_release_with_its_bundle(backend):
    airlock = backend.airlock
    rid = submitted(airlock)
    view = airlock.show(rid, by=CAROL)
    assert (view.state, view.version, view.project_id) == (RequestState.SUBMITTED, 1, "p_1")
    assert [f["name"] for f in view.files] == ["table.csv", "fig.png"]
    table = view.files[0]
    assert (table["type"], table["description"], table["bytes"]) == (
        "output",
        "counts by region, all adults",
        len(TABLE),
    )
    assert table["pre_screen"]["verdict"] == "fail"  # south: 7 < threshold 10
    assert table["pre_screen"]["headline"] == "unsuppressed small cells: 1 count below 10"
    assert table["pre_screen"]["summary"] == [
        "judged under this service's profile 'default'",
        "threshold: 1 cell with fewer than 10 persons (rows 2; column 'count')",
        "rounding: 1 cell not a multiple of 10 (rows 2; column 'count')",
    ]
    assert table["pre_screen"]["findings"] == [
        "row 2, column 'count': threshold: fewer than 10 distinct persons",
        "row 2, column 'count': rounding: not a multiple of 10",  # the default profile's base
    ]
    assert airlock.file(rid, "table.csv", by=CAROL) == TABLE
    both_approve(airlock, rid)
    assert airlock.show(rid, by=ALICE).state is RequestState.APPROVED
    bundle = airlock.release(rid, by=ALICE)
    manifest = verify_bundle(bundle.archive, public_key_text(KEY))
    assert manifest["request_id"] == rid and manifest["released_by"] == "node:northfield"
    assert {(d["checker"], d["vote"]) for d in manifest["decisions"]} == {
        ("carol", "approve"),
        ("dev", "approve"),
    }
    with zipfile.ZipFile(io.BytesIO(bundle.archive)) as opened:
        assert opened.read("files/table.csv") == TABLE
    again = airlock.release(rid, by=ALICE)  # released already: the same bundle
    assert again.signature == bundle.signature
    view = airlock.show(rid, by=ALICE)
    assert view.state is RequestState.RELEASED
    assert [v.outcome for v in view.history] == [RequestState.APPROVED]
    kinds = [kind for kind, _, _ in backend.events()]
    assert kinds == [
        "airlock_request_created",
        "airlock_files_changed",
        "airlock_files_changed",
        "airlock_request_submitted",
        "airlock_review_started",
        *["airlock_voted"] * 4,
        "airlock_decided",
        "airlock_released",
        "airlock_bundle_downloaded",
    ]
    assert backend.chain_ok()


def test_votes_are_blinded_until_both_reviews_are_in(backend):
    airlock = backend.airlock
    rid = submitted(airlock, RequestFile("table.csv", TABLE))
    airlock.vote(rid, "table.csv", Vote.REQUEST_CHANGES, "south is 7: merge it", by=CAROL)
    assert [(v.checker, v.comment) for v in airlock.show(rid, by=CAROL).votes] == [
        ("carol", "south is 7: merge it")
    ]
    assert airlock.show(rid, by=DEV).votes == [] and airlock.show(rid, by=ALICE).votes == []
    voted = [d for kind, _, d in backend.events() if kind == "airlock_voted"]
    assert voted == [{"request_id": rid, "version": 1, "file": "table.csv"}]  # no vote, no text
    airlock.vote(rid, "table.csv", Vote.REQUEST_CHANGES, "agreed", by=DEV)
    assert {v.checker for v in airlock.show(rid, by=DEV).votes} == {"carol", "dev"}
    assert airlock.show(rid, by=ALICE).state is RequestState.CHANGES_REQUESTED
    assert len(airlock.show(rid, by=ALICE).votes) == 2  # decided: the author sees why


def test_the_author_never_votes_and_a_non_checker_cannot_see_the_request(backend):
    airlock = backend.airlock
    rid = submitted(airlock)
    before = backend.events()
    with pytest.raises(Forbidden, match="own"):
        airlock.vote(rid, "table.csv", Vote.APPROVE, by=ALICE)
    with pytest.raises(NotFoundOrNoPermission):
        airlock.vote(rid, "table.csv", Vote.APPROVE, by=BOB)
    with pytest.raises(NotFoundOrNoPermission):
        airlock.show(rid, by=BOB)
    with pytest.raises(NotFoundOrNoPermission):
        airlock.show("ar_nothere", by=CAROL)
    with pytest.raises(Forbidden):
        airlock.withdraw(rid, by=CAROL)
    assert backend.events() == before  # nothing was written
    assert airlock.show(rid, by=ALICE).state is RequestState.SUBMITTED
    assert [i.summary.id for i in airlock.queue(by=CAROL)] == [rid]
    assert airlock.queue(by=ALICE) == [] and airlock.requests(by=BOB) == []


def test_a_disagreement_is_consolidated_and_recorded(backend):
    airlock = backend.airlock
    rid = submitted(airlock, RequestFile("table.csv", TABLE))
    airlock.vote(rid, "table.csv", Vote.APPROVE, by=CAROL)
    airlock.vote(rid, "table.csv", Vote.REJECT, "south has 7", by=DEV)
    view = airlock.show(rid, by=CAROL)
    assert view.consolidating == ["table.csv"] and len(view.votes) == 2
    assert [i.waiting_for for i in airlock.queue(by=CAROL)] == ["consolidation"]
    with pytest.raises(ReviewError, match="why"):
        airlock.consolidate(rid, "table.csv", Vote.REQUEST_CHANGES, " ", by=CAROL)
    airlock.consolidate(rid, "table.csv", Vote.REQUEST_CHANGES, "merge south", by=CAROL)
    airlock.consolidate(rid, "table.csv", Vote.REQUEST_CHANGES, "agreed", by=DEV)
    view = airlock.show(rid, by=ALICE)
    assert view.state is RequestState.CHANGES_REQUESTED
    kinds = [(kind, outcome) for kind, outcome, _ in backend.events()]
    assert ("airlock_consolidation_started", "ok") in kinds
    assert kinds.count(("airlock_reconsidered", "ok")) == 2
    assert kinds[-1] == ("airlock_decided", "changes_requested")


def test_a_revision_is_a_new_version_and_every_earlier_one_stays_in_history(backend):
    airlock = backend.airlock
    rid = submitted(airlock)
    for checker in (CAROL, DEV):
        airlock.vote(rid, "table.csv", Vote.REQUEST_CHANGES, "merge south", by=checker)
        airlock.vote(rid, "fig.png", Vote.REQUEST_CHANGES, "label the axes", by=checker)
    with pytest.raises(InvalidTransition, match="revise"):
        airlock.release(rid, by=ALICE)
    airlock.revise(rid, by=ALICE)
    merged = b"region,count\nall,130\n"
    airlock.add_file(rid, RequestFile("table.csv", merged, description="all regions"), by=ALICE)
    airlock.remove_file(rid, "fig.png", by=ALICE)
    view = airlock.show(rid, by=ALICE)
    assert (view.state, view.version, view.votes) == (RequestState.DRAFT, 2, [])
    assert [(f["name"], f["bytes"]) for f in view.files] == [("table.csv", len(merged))]
    airlock.submit(rid, by=ALICE)
    both_approve(airlock, rid)
    view = airlock.show(rid, by=ALICE)
    assert [(v.number, v.outcome) for v in view.history] == [
        (1, RequestState.CHANGES_REQUESTED),
        (2, RequestState.APPROVED),
    ]
    first = view.history[0]
    assert set(first.files) == {"table.csv", "fig.png"} and len(first.votes) == 4
    assert airlock.show(rid, by=CAROL).files[0]["pre_screen"]["verdict"] == "pass"


def test_approved_files_are_released_and_the_others_revised_each_version_its_bundle(backend):
    airlock = backend.airlock
    rid = submitted(airlock)
    for checker in (CAROL, DEV):
        airlock.vote(rid, "table.csv", Vote.REQUEST_CHANGES, "merge south", by=checker)
        airlock.vote(rid, "fig.png", Vote.APPROVE, by=checker)
    assert airlock.show(rid, by=ALICE).state is RequestState.PARTLY_APPROVED
    first = airlock.release(rid, by=ALICE)
    assert [f["name"] for f in first.manifest["files"]] == ["fig.png"]
    view = airlock.show(rid, by=ALICE)
    assert view.state is RequestState.CHANGES_REQUESTED
    assert view.outcomes == {"table.csv": Vote.REQUEST_CHANGES, "fig.png": Vote.APPROVE}
    assert [(f["name"], f["outcome"], f["released"]) for f in view.files] == [
        ("table.csv", "returned for changes", False),
        ("fig.png", "approved", True),
    ]
    assert airlock.release(rid, by=ALICE).signature == first.signature  # the bundle again
    airlock.revise(rid, by=ALICE)  # carries table.csv only: fig.png has left
    assert [f["name"] for f in airlock.show(rid, by=ALICE).files] == ["table.csv"]
    merged = b"region,count\nall,130\n"
    airlock.add_file(rid, RequestFile("table.csv", merged), by=ALICE)
    airlock.submit(rid, by=ALICE)
    both_approve(airlock, rid)
    second = airlock.release(rid, by=ALICE)
    assert (second.version, [f["name"] for f in second.manifest["files"]]) == (2, ["table.csv"])
    view = airlock.show(rid, by=ALICE)
    assert view.state is RequestState.RELEASED
    assert [(v.number, v.outcome, v.released) for v in view.history] == [
        (1, RequestState.PARTLY_APPROVED, ("fig.png",)),
        (2, RequestState.APPROVED, ("table.csv",)),
    ]
    released = [d for kind, _, d in backend.events() if kind == "airlock_released"]
    assert [(d["files"], d.get("returned")) for d in released] == [
        (["fig.png"], ["table.csv"]),
        (["table.csv"], None),
    ]
    assert backend.chain_ok()


def test_a_request_returned_by_one_checker_keeps_who_and_why(backend):
    airlock = backend.airlock
    rid = submitted(airlock)
    airlock.vote(rid, "fig.png", Vote.APPROVE, by=CAROL)
    airlock.return_request(rid, "table.csv looks like row-level data", by=DEV)
    view = airlock.show(rid, by=ALICE)
    assert view.state is RequestState.CHANGES_REQUESTED and view.outcomes == {}
    assert view.returned is not None
    assert (view.returned.returned_by, view.returned.message) == (
        "dev",
        "table.csv looks like row-level data",
    )
    assert [(v.number, v.outcome) for v in view.history] == [(1, RequestState.CHANGES_REQUESTED)]
    kind, outcome, details = backend.events()[-1]
    assert (kind, outcome) == ("airlock_decided", "changes_requested")
    assert "row-level" not in str(details)  # the message is the author's to read, not audited
    airlock.revise(rid, by=ALICE)
    assert [f["name"] for f in airlock.show(rid, by=ALICE).files] == ["table.csv", "fig.png"]
    assert airlock.show(rid, by=ALICE).history[0].message == "table.csv looks like row-level data"


def test_a_file_changed_after_approval_is_refused_and_the_refusal_audited(backend):
    airlock = backend.airlock
    rid = submitted(airlock)
    both_approve(airlock, rid)
    backend.tamper(rid, "table.csv", TABLE.replace(b"7", b"70"))
    with pytest.raises(ChangedSinceApproval, match=r"table\.csv"):
        airlock.release(rid, by=ALICE)
    assert airlock.show(rid, by=ALICE).state is RequestState.APPROVED
    kind, outcome, details = backend.events()[-1]
    assert (kind, outcome) == ("airlock_release_refused", "refused")
    assert "table.csv" in details["why"]
    assert backend.chain_ok()


def test_blocked_files_are_refused_and_change_nothing(backend):
    airlock = backend.airlock
    made = airlock.create(title="t", project_id=None, by=ALICE)
    before = backend.events()
    with pytest.raises(FileRefused, match="cannot leave"):
        airlock.add_file(made.id, RequestFile("rows.parquet", b"PAR1"), by=ALICE)
    with pytest.raises(FileRefused, match="at least one file"):
        airlock.submit(made.id, by=ALICE)
    assert backend.events() == before
    assert airlock.show(made.id, by=ALICE).files == []
