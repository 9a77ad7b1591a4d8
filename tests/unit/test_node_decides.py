"""The node agent decides by its own approval record, end to end in one process (the hub is a
fake transport): an expired requester and an ended project are refused whatever the hub
signed, and an approval with the airlock option holds every output it would have released."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from fivesafes.node import runners as runners_module
from fivesafes.node.agent import Agent
from fivesafes.node.db import Approval, NodeRun
from fivesafes.node.outcome import Outcome, Release
from fivesafes.node.person_set_db import PersonSetRow
from fivesafes.node.person_sets import SqlPersonSetStore
from fivesafes.node.runners import ThreadRunner
from fivesafes.protocol.models import Lease, SignedResult, SignedTask, SubmitAck, TaskPayload
from fivesafes.protocol.runs import RunState
from fivesafes.protocol.signing import generate_key, public_key_text, sign
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.profiles import DEFAULT
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HUB_KEY = generate_key()
COHORT = {"cohort": {"name": "c", "criteria": [{"domain": "condition", "concepts": [443388]}]}}


class OneLease:
    def __init__(self, lease: Lease) -> None:
        self.lease: Lease | None = lease
        self.results: list[SignedResult] = []

    def next_run(self, wait: float) -> Lease | None:
        lease, self.lease = self.lease, None
        return lease

    def submit(self, result: SignedResult) -> SubmitAck:
        self.results.append(result)
        return SubmitAck(run_id=result.payload["run_id"], state=RunState.REFUSED, accepted=True)

    def get_project(self, project_id):  # pragma: no cover - not used here
        raise NotImplementedError

    def report_approval(self, report):  # pragma: no cover - not used here
        raise NotImplementedError


def lease(**changes) -> Lease:
    payload = TaskPayload(
        **{
            "task_id": "t_1",
            "project_id": "p_1",
            "project_version": 1,
            "requester": "alice",
            "analysis": "count",
            "analysis_version": 1,
            "requester_accredited_until": date(2026, 12, 31),
            "parameters": COHORT,
            "targets": ["north"],
            "issued_at": NOW - timedelta(seconds=5),
            "expires_at": NOW + timedelta(minutes=5),
            **changes,
        }
    ).model_dump(mode="json")
    task = SignedTask(payload=payload, signature=sign(payload, HUB_KEY))
    return Lease(run_id="r_1", lease_expires_at=NOW + timedelta(minutes=1), task=task)


class NoData:
    """A data source no test here reads (the pipeline is replaced where a run gets that far)."""

    def limit_statements(self, seconds: float) -> None: ...

    def interrupt(self) -> None: ...


@pytest.fixture
def node(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    upgrade(engine, "fivesafes.node:migrations")
    sessions = make_sessionmaker(engine)

    def unit(work):
        with transaction(sessions) as s:
            return work(s)

    def approve(**changes):
        values = {
            "project_id": "p_1",
            "version": 1,
            "title": "t",
            "members": ["alice"],
            "analyses": ["count@1"],
            "start_date": date(2026, 1, 1),
            "end_date": date(2026, 12, 31),
            "state": "approved",
            "decided_at": NOW,
            "decided_by": "cora",
            "record_signature": "s",
            "outputs_to_airlock": False,
            **changes,
        }
        unit(lambda s: s.merge(Approval(**values)))

    def run(the_lease: Lease, clock: datetime = NOW) -> tuple[str, str | None]:
        transport = OneLease(the_lease)
        agent = Agent(
            name="north",
            key=generate_key(),
            hub_public_key=public_key_text(HUB_KEY),
            unit=unit,
            transport=transport,
            runner=ThreadRunner(NoData, SqlPersonSetStore(sessions), DEFAULT),
            clock=lambda: clock,
        )
        assert agent.step()
        [result] = transport.results
        return result.payload["status"], result.payload["reason"]

    yield approve, run, unit
    engine.dispose()


def test_a_requester_whose_accreditation_expired_is_refused_whatever_the_hub_signed(node):
    approve, run, unit = node
    approve()
    expired = lease(requester_accredited_until=date(2026, 5, 31))
    assert run(expired) == ("refused", "requester_not_accredited")
    assert unit(lambda s: s.get(NodeRun, "r_1").requester_accredited_until) == date(2026, 5, 31)


def test_an_ended_project_stops_at_the_node_by_its_own_dates(node):
    approve, run, _ = node
    approve(end_date=date(2026, 6, 1))
    after_the_end = datetime(2026, 6, 2, 0, 0, 1, tzinfo=UTC)
    signed_before = lease(expires_at=after_the_end + timedelta(minutes=5))
    assert run(signed_before, clock=after_the_end) == ("refused", "project_not_active")


def test_the_airlock_option_holds_every_output_and_releases_nothing(node, monkeypatch):
    approve, run, unit = node
    approve(outputs_to_airlock=True)
    released = Outcome(
        "succeeded",
        output={"count": {"value": 120}},
        release=Release("k", person_set(range(1, 121))),
    )
    monkeypatch.setattr(runners_module, "run_task", lambda *args, **kwargs: released)
    assert run(lease()) == ("refused", "held_for_review")
    assert unit(lambda s: s.scalar(select(func.count()).select_from(PersonSetRow))) == 0
