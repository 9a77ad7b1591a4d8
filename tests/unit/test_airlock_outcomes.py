"""Per-file outcomes: each file's outcome is the two checkers' agreed vote, a request with some
files approved releases those and returns the others, one checker can return a request to its
author with a message, and every refusal or outcome names what to do next."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime

import pytest

from fivesafes.airlock import states
from fivesafes.airlock.files import RequestFile
from fivesafes.airlock.request import ReleaseRequest
from fivesafes.airlock.review import FileVote, ReviewError, Vote, decision
from fivesafes.airlock.service import Airlock
from fivesafes.airlock.states import InvalidTransition, RequestState, Transition
from fivesafes.airlock.store import MemoryAirlockStore
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import Grant, Role, node_scope
from fivesafes.protocol.errors import Forbidden
from fivesafes.protocol.signing import generate_key
from fivesafes.sdc.profiles import DEFAULT

NODE = node_scope("northfield")
NOW = datetime(2026, 12, 8, tzinfo=UTC)
A, B = RequestFile("a.csv", b"region,n\nnorth,120\n"), RequestFile("b.csv", b"x,n\ny,7\n")
C = RequestFile("c.txt", b"notes")
V = {"approve": Vote.APPROVE, "changes": Vote.REQUEST_CHANGES, "reject": Vote.REJECT}


def actor(name: str, *roles: Role) -> Actor:
    grants = frozenset(Grant(role, NODE) for role in roles)
    return Actor(Account(id=len(name), username=name, display_name=name, grants=grants))


ALICE = actor("alice", Role.RESEARCHER)
C1, C2, C3 = (actor(n, Role.OUTPUT_CHECKER) for n in ("carol", "dev", "erin"))


# the two checkers' agreed vote on each file -> the request (review.py's table)
DECISIONS = [
    ({"a": "approve", "b": "approve"}, RequestState.APPROVED),
    ({"a": "reject", "b": "reject"}, RequestState.REJECTED),
    ({"a": "approve", "b": "reject"}, RequestState.PARTLY_APPROVED),  # was: rejected whole
    ({"a": "approve", "b": "changes"}, RequestState.PARTLY_APPROVED),
    ({"a": "changes", "b": "reject"}, RequestState.CHANGES_REQUESTED),
    ({"a": "changes", "b": "changes"}, RequestState.CHANGES_REQUESTED),
]


@pytest.mark.parametrize(("agreed", "state"), DECISIONS, ids=[str(d) for d, _ in DECISIONS])
def test_one_files_outcome_no_longer_decides_the_whole_request(agreed, state):
    votes = [
        FileVote(checker, name, V[vote], "why")
        for checker in ("carol", "dev")
        for name, vote in agreed.items()
    ]
    assert decision(votes, list(agreed)) is state


def test_the_state_machines_docstring_table_is_the_machine():
    """Every row of ``states``' table is a move the machine has, and every move is in it."""
    table = {}
    for line in (states.__doc__ or "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[1] not in {t.value for t in Transition}:
            continue
        sources, transition, targets = cells
        for source in sources.split(", "):
            state = RequestState(source.replace(" ", "_"))
            table[(state, Transition(transition))] = frozenset(
                RequestState(t.strip()) for t in targets.split("/")
            )
    assert table == states.moves()


def reviewed(*votes: tuple[str, Vote], files=(A, B)) -> ReleaseRequest:
    req = ReleaseRequest(id="ar_1", scope=NODE, author="alice", title="t")
    req.set_files(list(files), by=ALICE)
    req.submit(by=ALICE)
    for checker in (C1, C2):
        for name, vote in votes:
            req.vote(name, vote, "" if vote is Vote.APPROVE else f"{name}: fix it", by=checker)
    return req


def names_in(archive: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return sorted(n.removeprefix("files/") for n in z.namelist() if n.startswith("files/"))


def test_the_approved_files_are_released_and_the_others_go_back_to_the_author():
    req = reviewed(("a.csv", Vote.APPROVE), ("b.csv", Vote.REQUEST_CHANGES))
    assert req.state is RequestState.PARTLY_APPROVED
    made = req.release(by=ALICE, key=generate_key(), now=NOW, service="node:northfield")
    assert names_in(made.archive) == ["a.csv"]
    assert {d["file"] for d in made.manifest["decisions"]} == {"a.csv"}
    assert req.state is RequestState.CHANGES_REQUESTED
    assert req.history[-1].released == ("a.csv",)
    assert [f.name for f in req.carried_forward()] == ["b.csv"]  # never the released file
    req.revise(req.carried_forward(), by=ALICE)
    assert (req.state, req.version, req.file_names) == (RequestState.DRAFT, 2, ["b.csv"])
    req.submit(by=ALICE)
    for checker in (C3, C1):
        req.vote("b.csv", Vote.APPROVE, by=checker)
    again = req.release(by=ALICE, key=generate_key(), now=NOW, service="node:northfield")
    assert names_in(again.archive) == ["b.csv"] and again.manifest["version"] == 2
    assert req.state is RequestState.RELEASED
    assert [v.outcome for v in req.history] == [
        RequestState.PARTLY_APPROVED,
        RequestState.APPROVED,
    ]


def test_approved_files_are_released_and_a_rejected_one_stays_out_for_good():
    req = reviewed(("a.csv", Vote.APPROVE), ("b.csv", Vote.REJECT))
    made = req.release(by=ALICE, key=generate_key(), now=NOW, service="hub")
    assert names_in(made.archive) == ["a.csv"] and req.state is RequestState.RELEASED
    with pytest.raises(InvalidTransition):
        req.revise([B], by=ALICE)


def test_a_partly_approved_request_may_be_revised_before_release_and_keeps_no_rejected_file():
    req = reviewed(
        ("a.csv", Vote.APPROVE), ("b.csv", Vote.REQUEST_CHANGES), ("c.txt", Vote.REJECT),
        files=(A, B, C),
    )  # fmt: skip
    assert [f.name for f in req.carried_forward()] == ["a.csv", "b.csv"]


def test_a_checker_returns_the_request_to_its_author_with_a_message():
    req = ReleaseRequest(id="ar_1", scope=NODE, author="alice", title="t")
    req.set_files([A, B], by=ALICE)
    req.submit(by=ALICE)
    req.vote("a.csv", Vote.APPROVE, by=C1)
    req.vote("a.csv", Vote.APPROVE, by=C2)
    with pytest.raises(Forbidden):
        req.return_to_author("mine", by=ALICE)
    with pytest.raises(ReviewError, match="what to change"):
        req.return_to_author("   ", by=C1)
    with pytest.raises(ReviewError, match="Two output checkers"):
        req.return_to_author("me too", by=C3)
    assert req.state is RequestState.UNDER_REVIEW and not req.history
    req.return_to_author("b.csv is row-level data: aggregate it by region", by=C1)
    assert req.state is RequestState.CHANGES_REQUESTED
    [returned] = req.history
    assert (returned.returned_by, returned.message) == (
        "carol",
        "b.csv is row-level data: aggregate it by region",
    )
    assert returned.outcomes == {}  # no per-file decision: the whole request went back
    assert [e.action for e in req.events][-1] == "returned"
    assert [f.name for f in req.carried_forward()] == ["a.csv", "b.csv"]
    with pytest.raises(InvalidTransition):
        req.release(by=ALICE, key=generate_key(), now=NOW, service="hub")


@pytest.fixture
def airlock() -> Airlock:
    store = MemoryAirlockStore(clock=lambda: NOW)
    return Airlock(scope=NODE, unit=store.transaction, key=generate_key(),
                   service="node:northfield", profile=DEFAULT, clock=lambda: NOW)  # fmt: skip


def submitted(airlock: Airlock) -> str:
    made = airlock.create(title="t", project_id="p_1", by=ALICE, files=(A, B))
    airlock.submit(made.id, by=ALICE)
    return made.id


def test_every_outcome_names_the_next_step_for_whoever_looks(airlock):
    rid = submitted(airlock)
    [vote, give_back] = airlock.show(rid, by=C1).next
    assert vote.command.startswith(f"fivesafes airlock review vote {rid}")
    assert give_back.command == f"fivesafes airlock review return {rid} --message WHAT"
    for checker in (C1, C2):
        airlock.vote(rid, "a.csv", Vote.APPROVE, by=checker)
        airlock.vote(rid, "b.csv", Vote.REQUEST_CHANGES, "round to 10", by=checker)
    view = airlock.show(rid, by=ALICE)
    assert view.state is RequestState.PARTLY_APPROVED
    assert view.outcome_words == ("1 file approved (a.csv); 1 file returned for changes (b.csv)")
    assert view.reasons("b.csv") == ["round to 10"]  # both checkers, in the same words
    assert [(s.command, s.button) for s in view.next] == [
        (f"fivesafes airlock release {rid} --out BUNDLE.zip", "Release the approved files"),
        (f"fivesafes airlock request revise {rid}", "Revise"),
    ]
    airlock.release(rid, by=ALICE)
    [step] = airlock.show(rid, by=ALICE).next
    assert str(step) == (
        f"1 file returned for changes: revise it and resubmit: "
        f"`fivesafes airlock request revise {rid}`"
    )


REFUSALS = [
    # (what is tried, on what, by whom) -> the next step the refusal names
    ("submit again", "submitted", "nothing to do until they decide"),
    ("release", "changes_requested", "`fivesafes airlock request revise {rid}`"),
    ("vote on an agreed file", "consolidation", "`fivesafes airlock consolidate {rid} FILE"),
    ("vote without a reason", "submitted", "`fivesafes airlock review vote {rid} FILE"),
    ("revise", "submitted", "nothing to do until they decide"),
]


@pytest.mark.parametrize(("tried", "state", "next_step"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refusal_names_what_to_do_next(airlock, tried, state, next_step):
    rid = submitted(airlock)
    if state == "changes_requested":
        airlock.return_request(rid, "aggregate b.csv", by=C1)
    if state == "consolidation":
        for checker, vote in ((C1, Vote.APPROVE), (C2, Vote.REJECT)):
            airlock.vote(rid, "a.csv", Vote.APPROVE, by=checker)
            airlock.vote(
                rid, "b.csv", vote, "small cell" if vote is Vote.REJECT else "", by=checker
            )
    attempts = {
        "submit again": lambda: airlock.submit(rid, by=ALICE),
        "release": lambda: airlock.release(rid, by=ALICE),
        "vote on an agreed file": lambda: airlock.vote(rid, "a.csv", Vote.REJECT, "x", by=C1),
        "vote without a reason": lambda: airlock.vote(rid, "b.csv", Vote.REJECT, "", by=C1),
        "revise": lambda: airlock.revise(rid, by=ALICE),
    }
    with pytest.raises(Exception) as refused:  # noqa: PT011 - each kind of refusal
        attempts[tried]()
    message = refused.value.message
    assert "Next: " in message and next_step.format(rid=rid) in message
    assert not re.search(r"Traceback|\{.*\}", message)


def test_a_return_is_audited_as_a_decision_without_its_message(airlock):
    store = MemoryAirlockStore(clock=lambda: NOW)
    airlock = Airlock(scope=NODE, unit=store.transaction, key=generate_key(), service="n",
                      profile=DEFAULT, clock=lambda: NOW)  # fmt: skip
    rid = submitted(airlock)
    airlock.return_request(rid, "the message stays out of the audit log", by=C2)
    last = store.events[-1]
    assert (last.type.value, last.outcome, last.by) == (
        "airlock_decided",
        "changes_requested",
        "dev",
    )
    assert "message" not in str(last.details)
    view = airlock.show(rid, by=ALICE)
    assert view.returned is not None and view.returned.message.startswith("the message")
