"""Random walks through the airlock: any sequence of actions by anyone (the author, checkers,
a checker who is also the author, an outsider), each either done or refused, and after every
step the airlock's promises hold:

- no path releases a file without two approvals, by two different checkers, neither the author,
  on exactly the bytes released (a partly approved version releases its approved files only);
- no released or rejected file is carried into a revision;
- no path lets an author vote on their own request, or a third checker vote on a version;
- a refused action changes nothing.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fivesafes.airlock.files import RequestFile
from fivesafes.airlock.request import ReleaseRequest
from fivesafes.airlock.review import Vote, latest
from fivesafes.airlock.states import RequestState
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import Grant, Role, node_scope
from fivesafes.protocol.errors import FivesafesError
from fivesafes.protocol.signing import generate_key

SCOPE = node_scope("n1")
KEY = generate_key()


def actor(name: str, *roles: Role) -> Actor:
    grants = frozenset(Grant(r, SCOPE) for r in roles)
    return Actor(Account(id=len(name), username=name, display_name=name, grants=grants))


AUTHOR = actor("alice", Role.RESEARCHER, Role.OUTPUT_CHECKER)
PEOPLE = [
    AUTHOR,
    actor("carol", Role.OUTPUT_CHECKER),
    actor("dev", Role.OUTPUT_CHECKER),
    actor("erin", Role.OUTPUT_CHECKER),
    actor("bob", Role.RESEARCHER),
]
FILES = [
    RequestFile("a.csv", b"x,n\nq,40\n"),
    RequestFile("b.txt", b"notes"),
    RequestFile("c.png", b"\x89PNG\r\n\x1a\nDATA"),
]

people = st.sampled_from(PEOPLE)
checkers = st.sampled_from(PEOPLE[1:4])  # the three checkers who are not the author
names = st.sampled_from([f.name for f in FILES] + ["ghost.csv"])
subsets = st.lists(st.sampled_from(FILES), min_size=1, max_size=3, unique_by=lambda f: f.name)


class Airlock(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.request = ReleaseRequest(id="r", scope=SCOPE, author="alice", title="t")
        self.released: list[dict[str, object]] = []

    def attempt(self, action) -> None:
        before = copy.deepcopy(self.request)
        try:
            action()
        except FivesafesError:
            assert self.request == before, "a refused action changed the request"

    @rule(by=people, files=subsets)
    def set_files(self, by, files):
        self.attempt(lambda: self.request.set_files(list(files), by=by))

    @rule(by=people)
    def submit(self, by):
        self.attempt(lambda: self.request.submit(by=by, threshold=10))

    @rule(by=people, name=names, vote=st.sampled_from(list(Vote)), why=st.sampled_from(["", "why"]))
    def vote(self, by, name, vote, why):
        self.attempt(lambda: self.request.vote(name, vote, why, by=by))

    @rule(by=checkers, vote=st.sampled_from(list(Vote)))
    def review_every_file(self, by, vote):
        """A checker goes through every file of the request in one sitting."""
        for name in self.request.file_names:
            self.attempt(lambda name=name: self.request.vote(name, vote, "why", by=by))

    @rule(by=people, why=st.sampled_from(["", "aggregate it"]))
    def return_to_author(self, by, why):
        self.attempt(lambda: self.request.return_to_author(why, by=by))

    @rule()
    def author_revises_what_was_returned(self):
        """The author revises with the files the request carries forward, as the airlock's
        action does."""
        carried = self.request.carried_forward()
        decided = self.request.history[-1] if self.request.history else None
        if decided is not None and decided.number == self.request.version:
            agreed = decided.outcomes
            for f in carried:
                assert f.name not in decided.released and agreed.get(f.name) is not Vote.REJECT
        self.attempt(lambda: self.request.revise(carried, by=AUTHOR))

    @rule(files=subsets)
    def author_submits(self, files):
        """The author composes (or revises) and submits, the usual way in."""
        if self.request.state in (RequestState.CHANGES_REQUESTED, RequestState.PARTLY_APPROVED):
            self.attempt(lambda: self.request.revise(list(files), by=AUTHOR))
        elif self.request.state is RequestState.DRAFT:
            self.attempt(lambda: self.request.set_files(list(files), by=AUTHOR))
        self.attempt(lambda: self.request.submit(by=AUTHOR, threshold=10))

    @rule(by=people, files=subsets)
    def revise(self, by, files):
        self.attempt(lambda: self.request.revise(list(files), by=by))

    @rule(by=people)
    def withdraw(self, by):
        self.attempt(lambda: self.request.withdraw(by=by))

    @rule(outcomes=st.lists(st.sampled_from(list(Vote)), min_size=3, max_size=3))
    def two_checkers_agree_file_by_file(self, outcomes):
        """Two checkers review every file and agree, file by file (so some files may be
        approved and others not)."""
        for by in PEOPLE[1:3]:
            for name, vote in zip(self.request.file_names, outcomes, strict=False):
                self.attempt(lambda n=name, v=vote, b=by: self.request.vote(n, v, "why", by=b))

    @rule()
    def author_releases(self):
        self.release(AUTHOR, tamper=False)

    @rule(by=people, tamper=st.booleans())
    def release(self, by, tamper):
        if tamper and self.request.files:
            first = self.request.files[0]
            self.request.files[0] = RequestFile(first.name, first.content + b"!")
        before = self.request.state

        def act() -> None:
            made = self.request.release(
                by=by, key=KEY, now=datetime(2026, 1, 1, tzinfo=UTC), service="n1"
            )
            self.released.append(made.manifest)

        try:
            act()
        except FivesafesError:
            assert self.request.state is before

    @invariant()
    def nobody_votes_on_their_own_request_and_at_most_two_checkers(self):
        for version in [*self.request.history, None]:
            votes = version.votes if version else self.request.votes
            voters = {v.checker for v in votes}
            assert "alice" not in voters and "bob" not in voters
            assert len(voters) <= 2

    @invariant()
    def every_release_had_two_approvals_of_the_released_bytes(self):
        versions = {v.number: v for v in self.request.history}
        assert len({m["version"] for m in self.released}) == len(self.released)  # one each
        for manifest in self.released:
            decided = versions[manifest["version"]]
            assert decided.outcome in (RequestState.APPROVED, RequestState.PARTLY_APPROVED)
            last = latest(decided.votes)
            assert [e["name"] for e in manifest["files"]] == list(decided.released)
            for entry in manifest["files"]:
                approvals = {
                    c for (c, f), v in last.items() if f == entry["name"] and v.vote is Vote.APPROVE
                }
                assert len(approvals) == 2 and "alice" not in approvals
                assert decided.files[entry["name"]] == entry["sha256"]


Airlock.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestAirlock = Airlock.TestCase
