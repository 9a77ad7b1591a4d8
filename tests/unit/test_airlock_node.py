"""The airlock at a node: an output held for review (here by the approval's airlock option)
is kept at the node, never sent, and its requester turns it into a draft release request with
one JSON file whose pre-screen shows why it was held; only the requester may, once; the node's
own output checkers review it; a researcher is known here as a member of an approved project."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from pyroaring import BitMap

from fivesafes.airlock.review import Vote
from fivesafes.airlock.service import Airlock
from fivesafes.airlock.states import RequestState
from fivesafes.governance.roles import node_scope
from fivesafes.node.accounts import create_node_user
from fivesafes.node.airlock import (
    airlock_actor,
    airlock_unit,
    check_author,
    held_file,
    request_from_run,
)
from fivesafes.node.db import Approval, NodeRun
from fivesafes.node.outcome import Outcome, Release
from fivesafes.node.person_sets import SqlPersonSetStore
from fivesafes.node.policy import held_by_approval
from fivesafes.node.release import release
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.runs import ReasonCode
from fivesafes.protocol.signing import generate_key
from fivesafes.sdc.profiles import get_profile
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade

NOW = datetime(2026, 12, 2, tzinfo=UTC)
PERSONS = BitMap(range(100, 220))  # the 120 persons behind the held count
OUTPUT = {"count": 120, "gate": {"verdict": "pass", "profile": "default", "rules": []}}


@pytest.fixture
def node(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    upgrade(engine, "fivesafes.node:migrations")
    sessions = make_sessionmaker(engine)

    def unit(work):
        with transaction(sessions) as session:
            return work(session)

    approval = Approval(
        project_id="p_1",
        version=1,
        title="Smoking",
        members=["alice", "bob"],
        analyses=["count@1"],
        start_date=date(2026, 1, 1),
        end_date=date(2027, 12, 31),
        state="approved",
        decided_at=NOW,
        decided_by="cust",
        record_signature="sig",
        outputs_to_airlock=True,
    )
    computed = Outcome("succeeded", output=OUTPUT, release=Release("key", PERSONS))
    held = held_by_approval(computed, approval)
    assert (held.status, held.reason, held.output) == ("refused", ReasonCode.HELD_FOR_REVIEW, None)
    run = NodeRun(
        run_id="r_1",
        task_id="t_1",
        project_id="p_1",
        requester="alice",
        analysis="count",
        received_at=NOW,
        state="refused",
        reason="held_for_review",
        result_payload={},
        result_signature="s",
        held_output=held.held,
    )

    def setup(s):
        s.add_all([approval, run])
        for checker in ("carol", "dev"):
            create_node_user(
                s,
                node="northfield",
                username=checker,
                display_name=checker,
                roles=["output_checker"],
                by="tre-admin",
            )

    unit(setup)
    airlock = Airlock(
        scope=node_scope("northfield"),
        unit=airlock_unit(unit),
        key=generate_key(),
        service="node:northfield",
        profile=get_profile("default"),
    )
    yield unit, airlock, SqlPersonSetStore(sessions)
    engine.dispose()


def test_a_held_output_becomes_a_request_its_requester_submits(node):
    unit, airlock, _ = node
    alice, bob, carol, dev = (
        unit(lambda s, n=n: airlock_actor(s, n)) for n in ("alice", "bob", "carol", "dev")
    )
    assert alice.account.grants == frozenset()  # a project member, no role at the node
    with pytest.raises(NotFoundOrNoPermission):
        request_from_run(unit, airlock, "r_1", by=bob)  # not the run's requester
    made = request_from_run(unit, airlock, "r_1", by=alice)
    with pytest.raises(InvalidRequest, match="already"):
        request_from_run(unit, airlock, "r_1", by=alice)
    [file] = made.files
    assert file.name == "count-r_1.json"
    document = json.loads(file.content)
    assert document["output"] == OUTPUT and document["held_because"] == "outputs_to_airlock"
    assert "persons" not in document and "persons" not in file.description  # never in the file
    airlock.submit(made.id, by=alice)
    screen = airlock.show(made.id, by=carol).files[0]["pre_screen"]
    assert screen == {
        "verdict": "pass",
        "headline": "the gate's own verdict: pass (rules: none)",
        "summary": [],
        "findings": ["gate rules: none"],
    }
    for checker in (carol, dev):
        airlock.vote(made.id, file.name, Vote.APPROVE, by=checker)
    assert airlock.show(made.id, by=alice).state is RequestState.APPROVED
    assert airlock.release(made.id, by=alice).manifest["files"][0]["name"] == file.name


def test_who_acts_at_a_node(node):
    unit, _, _ = node
    with pytest.raises(InvalidRequest, match="mallory"):
        unit(lambda s: airlock_actor(s, "mallory"))
    carol = unit(lambda s: airlock_actor(s, "carol"))
    with pytest.raises(NotFoundOrNoPermission):
        unit(lambda s: check_author(s, carol, "p_1"))  # a checker, not a project member
    with pytest.raises(InvalidRequest, match="--project"):
        unit(lambda s: check_author(s, carol, None))


def test_the_held_file_says_where_it_came_from():
    run = NodeRun(
        run_id="r_2/3",
        task_id="t_2",
        project_id="p_1",
        analysis="glm",
        held_output={
            "held_because": "gate_review",
            "output": {"gate": {"verdict": "review", "rules": ["dominance"]}},
        },
    )
    file = held_file(run)
    assert file.name == "glm-r_2-3.json" and "the gate's verdict was review" in file.description
    assert json.loads(file.content)["gate"]["rules"] == ["dominance"]


def test_a_released_held_output_counts_as_released_for_differencing_and_the_account(node):
    """Released through the airlock, the held run's persons join the node's released person
    sets in the release's transaction: a later output differing from it by a few persons is
    refused, and the persons behind it see the project in their patient data account."""
    unit, airlock, person_sets = node
    alice, carol, dev = (
        unit(lambda s, n=n: airlock_actor(s, n)) for n in ("alice", "carol", "dev")
    )
    made = request_from_run(unit, airlock, "r_1", by=alice)
    airlock.submit(made.id, by=alice)
    profile = get_profile("default")
    nearly = BitMap(PERSONS)
    nearly.remove(100)  # the same population less one person: differencing, once released
    assert release("p_1", "k2", nearly, OUTPUT, True, profile, person_sets).status == "succeeded"
    for checker in (carol, dev):
        airlock.vote(made.id, made.files[0].name, Vote.APPROVE, by=checker)
    assert person_sets.released_sets("p_1") == []  # approved is not released
    airlock.release(made.id, by=alice)

    [kept] = person_sets.released_sets("p_1")
    assert (kept.output_key, kept.run_id, set(kept.persons)) == (
        f"airlock:{made.id}", "r_1", set(PERSONS),
    )  # fmt: skip
    later = release("p_1", "k2", nearly, OUTPUT, True, profile, person_sets)
    assert (later.status, later.reason) == ("refused", ReasonCode.DIFFERENCING_RISK)
    assert [r.project_id for r in person_sets.releases_for_person(100)] == ["p_1"]
    assert person_sets.releases_for_person(99) == []
    airlock.release(made.id, by=alice)  # the bundle again: nothing recorded twice
    assert len(person_sets.released_sets("p_1")) == 1


def test_a_gate_review_keeps_the_persons_behind_the_held_value(monkeypatch):
    from fivesafes.analyses import gating
    from fivesafes.analyses.registry import REGISTRY
    from fivesafes.node.outcome import held_persons
    from fivesafes.node.person_sets import InMemoryPersonSetStore
    from fivesafes.node.runner import Computed, gate
    from fivesafes.sdc.gate import CountEvidence, Verdict, judge

    profile = get_profile("default")
    computed = Computed(BitMap(range(40)), CountEvidence(40))
    judgement = replace(judge(CountEvidence(40), profile), verdict=Verdict.REVIEW)
    monkeypatch.setattr(gating, "judge", lambda evidence, profile: judgement)
    outcome = gate("p", "k", REGISTRY["count"], computed, profile, InMemoryPersonSetStore())
    kept = outcome.held
    assert kept is not None and kept["output"]["count"]["value"] == 40
    assert held_persons(kept) == [BitMap(range(40))]
