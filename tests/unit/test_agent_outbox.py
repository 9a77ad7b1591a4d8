"""The node agent's outbox: a result is stored before it is sent, a failed delivery is retried on
the next step, and a step reads the outbox only when a delivery may be waiting in it."""

from __future__ import annotations

from typing import Any

import pytest

from fivesafes.node import runs
from fivesafes.node.agent import Agent
from fivesafes.node.db import NodeRun
from fivesafes.node.outcome import Outcome
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runners import ThreadRunner
from fivesafes.node.transport import HubUnreachable
from fivesafes.protocol.models import Lease, SignedResult, SubmitAck
from fivesafes.protocol.runs import RunState
from fivesafes.protocol.signing import generate_key, public_key_text
from fivesafes.sdc.profiles import DEFAULT
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade
from fivesafes.storage.types import utcnow


class Hub:
    """A transport that fails the first ``failures`` submissions and has no work to give."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[str] = []

    def next_run(self, wait: float) -> Lease | None:
        return None

    def submit(self, result: SignedResult) -> SubmitAck:
        if self.failures:
            self.failures -= 1
            raise HubUnreachable("down")
        self.received.append(result.payload["run_id"])
        return SubmitAck(run_id=result.payload["run_id"], state=RunState.SUCCEEDED, accepted=True)

    def get_project(self, project_id: str) -> Any:
        raise NotImplementedError

    def report_approval(self, report: Any) -> None:
        raise NotImplementedError


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    upgrade(engine, "fivesafes.node:migrations")
    yield make_sessionmaker(engine)
    engine.dispose()


def test_undelivered_result_is_retried_and_the_outbox_then_left_unread(sessions):
    key = generate_key()
    outbox_reads = 0

    def unit(work):
        nonlocal outbox_reads
        outbox_reads += work is runs.outbox
        with transaction(sessions) as s:
            return work(s)

    unit(
        lambda s: runs.record_outcome(
            s,
            run_id="r1",
            task_id="t1",
            task=None,
            outcome=Outcome("refused"),
            node="north",
            key=key,
            now=utcnow(),
        )
    )
    hub = Hub(failures=1)
    agent = Agent(
        name="north",
        key=key,
        hub_public_key=public_key_text(generate_key()),
        unit=unit,
        transport=hub,
        runner=ThreadRunner(
            lambda: pytest.fail("no data needed"), InMemoryPersonSetStore(), DEFAULT
        ),
    )
    with pytest.raises(HubUnreachable):
        agent.step()  # the hub is down: the result stays in the outbox
    assert hub.received == [] and outbox_reads == 1
    assert agent.step() is False  # delivered on the next step; no work came
    assert hub.received == ["r1"] and outbox_reads == 2
    with transaction(sessions) as s:
        assert s.get(NodeRun, "r1").submitted_at is not None
    agent.step()
    agent.step()
    assert outbox_reads == 2  # nothing can be waiting: the outbox is not read again
