"""The airlock's rules: files accepted and refused, the pre-screen, two blinded reviews, the
decision they make, consolidation, and a signed bundle that refuses files changed since
approval."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest

from fivesafes.airlock.bundle import ChangedSinceApproval, verify_bundle
from fivesafes.airlock.files import FileRefused, FileType, RequestFile, check_files, pre_screen
from fivesafes.airlock.request import ReleaseRequest
from fivesafes.airlock.review import ReviewError, Vote
from fivesafes.airlock.states import InvalidTransition, RequestState
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import Grant, Role, node_scope
from fivesafes.protocol.errors import Forbidden, NotFoundOrNoPermission
from fivesafes.protocol.signing import generate_key, public_key_text

NODE = node_scope("northfield")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
TABLE = b"region,count\nnorth,120\nsouth,7\n"


def actor(name: str, *roles: Role) -> Actor:
    grants = frozenset(Grant(role, NODE) for role in roles)
    return Actor(Account(id=hash(name) % 1000, username=name, display_name=name, grants=grants))


ALICE = actor("alice", Role.RESEARCHER, Role.OUTPUT_CHECKER)  # also a checker: never her own
C1, C2, C3 = (actor(n, Role.OUTPUT_CHECKER) for n in ("carol", "dev", "erin"))
BOB = actor("bob", Role.RESEARCHER)


def request(*files: RequestFile) -> ReleaseRequest:
    made = ReleaseRequest(id="r1", scope=NODE, author="alice", title="Smoking by region")
    made.set_files(
        list(files or (RequestFile("table.csv", TABLE), RequestFile("fig.png", PNG))), by=ALICE
    )
    made.submit(by=ALICE, threshold=10)
    return made


REFUSED = [
    (RequestFile("data.parquet", b"PAR1"), "cannot leave"),
    (RequestFile("script.py", b"print(1)"), "cannot leave"),
    (RequestFile("fig.png", b"GIF89a"), "not a PNG"),
    (RequestFile("report.pdf", b"<html>"), "not a PDF"),
    (RequestFile("rows.csv", b"a\n" + b"1\n" * 10_001), "more than 10,000 rows"),
    (RequestFile("bad.json", b"{nope"), "not valid JSON"),
    (RequestFile("../etc.csv", TABLE), "not a plain file name"),
    (RequestFile("latin.txt", "caf\xe9".encode("latin-1")), "not UTF-8"),
    (RequestFile("empty.txt", b""), "is empty"),
]


@pytest.mark.parametrize(("file", "why"), REFUSED, ids=[f.name for f, _ in REFUSED])
def test_files_the_airlock_refuses_at_submission_name_the_reason(file, why):
    with pytest.raises(FileRefused, match=why):
        check_files([file])


def test_the_pre_screen_flags_small_counts_and_reads_gate_records():
    screened = pre_screen(RequestFile("t.csv", TABLE), threshold=10)
    assert screened.verdict == "review"
    assert screened.findings == ["row 2, column 'count': a count under 10"]
    assert pre_screen(RequestFile("t.csv", b"a,n\nx,12\ny,0\n"), 10).verdict == "pass"
    gated = json.dumps(
        {"count": {"value": None}, "gate": {"verdict": "fail", "rules": ["threshold"]}}
    )
    assert pre_screen(RequestFile("o.json", gated.encode()), 10).findings == [
        "gate rules: threshold"
    ]
    assert pre_screen(RequestFile("f.png", PNG), 10).verdict == "not checked"


def test_two_blinded_reviews_approve_and_the_bundle_is_signed():
    req = request()
    req.vote("table.csv", Vote.APPROVE, "fine once rounded", by=C1)
    assert req.state is RequestState.UNDER_REVIEW
    assert [v.checker for v in req.visible_votes(C1)] == ["carol"]
    assert req.visible_votes(C2) == [] and req.visible_votes(ALICE) == []  # blinded
    req.vote("fig.png", Vote.APPROVE, by=C1)
    req.vote("table.csv", Vote.APPROVE, by=C2)
    with pytest.raises(ReviewError, match="Two output checkers"):
        req.vote("fig.png", Vote.REJECT, by=C3)
    req.vote("fig.png", Vote.APPROVE, by=C2)
    assert req.state is RequestState.APPROVED
    assert len(req.visible_votes(C2)) == 4
    key = generate_key()
    made = req.release(by=ALICE, key=key, now=NOW, service="northfield")
    assert req.state is RequestState.RELEASED
    manifest = verify_bundle(made.archive, public_key_text(key))
    assert [f["name"] for f in manifest["files"]] == ["table.csv", "fig.png"]
    assert {d["checker"] for d in manifest["decisions"]} == {"carol", "dev"}


def test_nobody_reviews_their_own_request_and_outsiders_see_nothing():
    req = request()
    with pytest.raises(Forbidden, match="own"):
        req.vote("table.csv", Vote.APPROVE, by=ALICE)
    with pytest.raises(NotFoundOrNoPermission):
        req.vote("table.csv", Vote.APPROVE, by=BOB)
    with pytest.raises(NotFoundOrNoPermission):
        req.withdraw(by=BOB)
    with pytest.raises(Forbidden):
        req.withdraw(by=C1)  # a checker sees it, but only the author withdraws


def test_a_disagreement_is_settled_by_the_two_checkers_voting_again():
    req = request()
    for checker, vote in ((C1, Vote.APPROVE), (C2, Vote.REJECT)):
        req.vote("table.csv", vote, "south has 7", by=checker)
        req.vote("fig.png", Vote.APPROVE, by=checker)
    assert req.state is RequestState.UNDER_REVIEW  # they disagree on table.csv
    with pytest.raises(ReviewError, match="agree on this file"):
        req.vote("fig.png", Vote.REJECT, "second thoughts", by=C1)
    with pytest.raises(ReviewError, match="says why"):
        req.vote("table.csv", Vote.REQUEST_CHANGES, by=C1)
    req.vote("table.csv", Vote.REQUEST_CHANGES, "south has 7 persons: merge it", by=C1)
    req.vote("table.csv", Vote.REQUEST_CHANGES, "agreed: merge south", by=C2)
    assert req.state is RequestState.PARTLY_APPROVED  # fig.png approved, table.csv returned
    assert req.outcomes == {"table.csv": Vote.REQUEST_CHANGES, "fig.png": Vote.APPROVE}
    assert [e.action for e in req.events].count("reconsidered") == 2


def test_a_revised_request_is_a_new_version_reviewed_afresh_and_history_is_kept():
    req = request()
    for checker in (C1, C2):
        req.vote("table.csv", Vote.REQUEST_CHANGES, "merge south", by=checker)
        req.vote("fig.png", Vote.REQUEST_CHANGES, "label the axes", by=checker)
    assert req.state is RequestState.CHANGES_REQUESTED
    req.revise([RequestFile("table.csv", b"region,count\nall,127\n")], by=ALICE)
    assert (req.state, req.version, req.votes) == (RequestState.DRAFT, 2, [])
    req.submit(by=ALICE, threshold=10)
    for checker in (C3, C1):  # any two checkers, again never the author
        req.vote("table.csv", Vote.APPROVE, by=checker)
    assert req.state is RequestState.APPROVED
    assert [v.outcome for v in req.history] == [
        RequestState.CHANGES_REQUESTED,
        RequestState.APPROVED,
    ]


def test_a_vote_that_does_not_approve_says_why():
    req = request()
    for vote in (Vote.REQUEST_CHANGES, Vote.REJECT):
        with pytest.raises(ReviewError, match="says why"):
            req.vote("table.csv", vote, "  ", by=C1)
    assert req.votes == [] and req.state is RequestState.SUBMITTED
    req.vote("table.csv", Vote.APPROVE, by=C1)  # an approval needs no comment


def test_a_file_changed_after_approval_cannot_be_released():
    req = request(RequestFile("table.csv", TABLE, FileType.OUTPUT, "counts by region"))
    for checker in (C1, C2):
        req.vote("table.csv", Vote.APPROVE, by=checker)
    req.files = [RequestFile("table.csv", TABLE.replace(b"7", b"3"))]  # bytes changed in storage
    with pytest.raises(ChangedSinceApproval, match=r"table\.csv"):
        req.release(by=ALICE, key=generate_key(), now=NOW, service="hub")
    assert req.state is RequestState.APPROVED


def test_a_tampered_bundle_fails_verification():
    req = request()
    for checker in (C1, C2):
        for name in req.file_names:
            req.vote(name, Vote.APPROVE, by=checker)
    key = generate_key()
    made = req.release(by=ALICE, key=key, now=NOW, service="hub")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(made.archive)) as src, zipfile.ZipFile(buffer, "w") as out:
        for item in src.namelist():
            data = src.read(item)
            out.writestr(item, data.replace(b"120", b"121") if item.endswith(".csv") else data)
    with pytest.raises(ChangedSinceApproval):
        verify_bundle(buffer.getvalue(), public_key_text(key))


def test_transitions_the_state_machine_does_not_have_are_refused():
    req = request()
    with pytest.raises(InvalidTransition):
        req.release(by=ALICE, key=generate_key(), now=NOW, service="hub")
    req.withdraw(by=ALICE)
    with pytest.raises(InvalidTransition):
        req.withdraw(by=ALICE)
