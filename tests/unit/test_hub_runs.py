"""The run state machine at the hub, on SQLite and PostgreSQL (one suite, both stores)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from fivesafes.analyses.glm import IRLS, Rows, node_round
from fivesafes.analyses.registry import REGISTRY
from fivesafes.hub import runs
from fivesafes.hub.db import Run, Task
from fivesafes.hub.enrolment import enrol_node, issue_enrolment_token
from fivesafes.hub.people import create_user
from fivesafes.hub.projects import create_project
from fivesafes.hub.tasks import create_task
from fivesafes.protocol.errors import NotFoundOrNoPermission, Unauthenticated
from fivesafes.protocol.models import Instruction, ResultPayload, SignedResult
from fivesafes.protocol.signing import generate_key, public_key_text, sign, verify
from fivesafes.sdc.profiles import DEFAULT
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade
from fivesafes.storage.types import utcnow

PROFILE = DEFAULT
LEASE = timedelta(seconds=30)
COHORT = {"name": "c", "criteria": [{"domain": "condition", "concepts": [443388]}]}


class World:
    def __init__(self, url):
        self.engine = make_engine(url)
        upgrade(self.engine, "fivesafes.hub:migrations")
        self.sessions = make_sessionmaker(self.engine)
        self.hub_key = generate_key()
        self.node_keys = {"north": generate_key(), "south": generate_key()}
        with transaction(self.sessions) as s:
            for name, key in self.node_keys.items():
                token = issue_enrolment_token(
                    s, node_name=name, lifetime=timedelta(hours=1), by="a"
                )
                enrol_node(s, token=token, node_name=name, public_key=public_key_text(key))
            self.alice = create_user(
                s,
                username="alice",
                display_name="A",
                role="researcher",
                accredited_until=date.today() + timedelta(days=30),
                by="a",
            )
            self.project = create_project(
                s,
                title="P",
                members=["alice"],
                nodes=["north", "south"],
                start_date=date.today(),
                end_date=date.today() + timedelta(days=1),
                by="a",
            )

    def unit(self, work):
        with transaction(self.sessions) as s:
            return work(s)

    def node(self, s, name):
        from sqlalchemy import select

        from fivesafes.hub.db import Node

        return s.scalar(select(Node).where(Node.name == name))

    def task(self, timeout=60):
        request = REGISTRY.task_request.model_validate(
            {
                "project_id": self.project.id,
                "analysis": "count",
                "parameters": {"cohort": COHORT},
                "timeout_seconds": timeout,
            }
        )
        return self.unit(lambda s: create_task(s, request, by=self.alice, key=self.hub_key)[0])

    def lease(self, name, now=None):
        return self.unit(
            lambda s: runs.lease_next_run(s, self.node(s, name), now or utcnow(), LEASE)
        )

    def result(self, lease, name, status="succeeded", value=120, key=None, **extra):
        payload = ResultPayload(
            run_id=lease.run_id,
            task_id=lease.task.payload["task_id"],
            node=name,
            status=status,
            output={
                "count": {"value": value, "suppressed": False, "rule": "r"},
                "gate": {"verdict": "pass", "profile": "default", "rules": []},
            }
            if status == "succeeded"
            else None,
            finished_at=utcnow(),
            **extra,
        ).model_dump(mode="json")
        return SignedResult(payload=payload, signature=sign(payload, key or self.node_keys[name]))

    def submit(self, name, result, now=None):
        return self.unit(
            lambda s: runs.submit_result(
                s, self.node(s, name), result, PROFILE, now or utcnow(), self.hub_key
            )
        )

    def run_state(self, run_id):
        return self.unit(lambda s: s.get(Run, run_id).state)


@pytest.fixture
def world(state_db_url):
    w = World(state_db_url)
    yield w
    w.engine.dispose()


def test_each_node_leases_only_its_own_run_once(world):
    world.task()
    north = world.lease("north")
    assert north is not None and north.task.payload["targets"] == ["north", "south"]
    assert world.lease("north") is None
    assert world.lease("south") is not None
    assert world.run_state(north.run_id) == "leased"


def test_expired_lease_returns_the_run_to_the_queue(world):
    world.task()
    first = world.lease("north")
    later = utcnow() + LEASE + timedelta(seconds=1)
    world.unit(lambda s: runs.sweep(s, PROFILE, later, world.hub_key))
    assert world.run_state(first.run_id) == "queued"
    again = world.lease("north", later)
    assert again.run_id == first.run_id
    assert world.unit(lambda s: s.get(Run, first.run_id).leases) == 2


def test_a_heartbeat_keeps_only_the_working_nodes_own_lease(world):
    world.task()
    north = world.lease("north")
    south = world.lease("south")
    later = utcnow() + LEASE * 0.8

    def extend(name, run_id):
        return world.unit(lambda s: runs.extend_lease(s, world.node(s, name), run_id, later, LEASE))

    assert extend("north", north.run_id)
    assert not extend("north", south.run_id)  # another node's run: left as it is
    swept = later + LEASE * 0.5  # past the first lease, within the extended one
    world.unit(lambda s: runs.sweep(s, PROFILE, swept, world.hub_key))
    assert world.run_state(north.run_id) == "leased"  # still working: not leased twice
    assert world.run_state(south.run_id) == "queued"


def test_submission_is_idempotent_by_run_id(world):
    world.task()
    lease = world.lease("north")
    first = world.submit("north", world.result(lease, "north", value=120))
    assert first.ack.accepted and first.ack.state == "succeeded"
    second = world.submit("north", world.result(lease, "north", value=990))
    assert not second.ack.accepted and second.ack.state == "succeeded"
    output = world.unit(lambda s: s.get(Run, lease.run_id).output)
    assert output["count"]["value"] == 120


def smoker_table(counts: dict[str, int | None]) -> dict:
    """A node's smoker table: each level's released count, or None where it was suppressed."""
    cells = [
        {"row": level, "column": "", "count": {"value": n, "suppressed": n is None,
                                                "rule": "rounded" if n else "threshold"}}
        for level, n in counts.items()
    ]  # fmt: skip
    failed = any(n is None for n in counts.values())
    gate = {"verdict": "fail" if failed else "pass", "profile": "default",
            "rules": ["threshold"] if failed else []}  # fmt: skip
    return {"rows": "smoker", "columns": None, "cells": cells, "gate": gate}


def test_a_node_whose_whole_table_was_withheld_is_named_not_summed_as_nothing(world):
    """Issue 13: two nodes' whole tables failed and the combined table showed the third's
    cells with no node missing. A node that released nothing is named with those left out."""
    request = REGISTRY.task_request.model_validate(
        {"project_id": world.project.id, "analysis": "crosstab",
         "parameters": {"cohort": COHORT, "rows": "smoker"}}
    )  # fmt: skip
    world.unit(lambda s: create_task(s, request, by=world.alice, key=world.hub_key))
    tables = {"north": {"never": 120, "former": 60, "current": 30},
              "south": {"never": None, "former": None, "current": None}}  # fmt: skip
    for name, counts in tables.items():
        lease = world.lease(name)
        payload = ResultPayload(run_id=lease.run_id, task_id=lease.task.payload["task_id"],
                                node=name, status="succeeded", output=smoker_table(counts),
                                finished_at=utcnow()).model_dump(mode="json")  # fmt: skip
        world.submit(
            name, SignedResult(payload=payload, signature=sign(payload, world.node_keys[name]))
        )
    task = world.unit(lambda s: s.query(Task).one())
    assert task.state == "complete"
    assert task.combined["nodes_contributing"] == ["north"]
    assert task.combined["nodes_missing"] == ["south"]
    south = world.unit(lambda s: s.query(Run).filter(Run.output.is_not(None)).all())
    messages = {r.output["cells"][0]["count"]["value"]: r.message for r in south}
    assert messages[None] == "its whole output was withheld by its disclosure gate (threshold)"
    assert messages[120] is None


@pytest.mark.parametrize(
    ("analysis", "output", "withheld"),
    [
        ("crosstab", smoker_table({"never": None, "former": 60}), False),  # a part released
        ("crosstab", smoker_table({"never": None, "former": None}), True),
        ("count", {"count": {"value": None, "suppressed": True, "rule": "threshold"},
                   "gate": {"verdict": "fail", "profile": "default", "rules": []}}, False),
        ("km", {"gate": {"verdict": "fail", "profile": "default", "rules": ["events"]}}, True),
        ("attrition", {"gate": {"verdict": "fail", "profile": "default", "rules": []}}, True),
        ("characterise", {"gate": {"verdict": "pass", "profile": "default", "rules": []}}, False),
        ("summary", {"groups": [{"gate": {"verdict": "fail", "rules": []}}] * 2}, True),
        ("summary", {"groups": [{"gate": {"verdict": "fail", "rules": []}},
                                {"gate": {"verdict": "pass", "rules": []}}]}, False),
    ],
)  # fmt: skip
def test_what_counts_as_a_whole_output_withheld(analysis, output, withheld):
    assert (REGISTRY[analysis].withheld(output) is not None) is withheld


def test_result_must_be_signed_by_the_runs_node(world):
    world.task()
    lease = world.lease("north")
    forged = world.result(lease, "north", key=world.node_keys["south"])
    with pytest.raises(Unauthenticated):
        world.submit("north", forged)
    with pytest.raises(NotFoundOrNoPermission):  # south cannot answer north's run
        world.submit("south", world.result(lease, "south"))
    assert world.run_state(lease.run_id) == "leased"


def test_task_completes_and_combines_released_values(world):
    task = world.task()
    for name, value in (("north", 120), ("south", 40)):
        lease = world.lease(name)
        world.submit(name, world.result(lease, name, value=value))
    combined = world.unit(lambda s: s.get(Task, task.id).combined)
    assert combined["total"] == {"value": 160, "suppressed": False, "rule": "rounded to 10"}
    assert combined["nodes_contributing"] == ["north", "south"]


def test_deadline_ends_unanswered_runs_while_others_stand(world):
    task = world.task(timeout=5)
    lease = world.lease("north")
    world.submit("north", world.result(lease, "north", value=120))
    world.unit(lambda s: runs.sweep(s, PROFILE, utcnow() + timedelta(seconds=6), world.hub_key))
    view = world.unit(lambda s: s.get(Task, task.id))
    assert view.state == "complete"
    assert view.combined["nodes_missing"] == ["south"]
    assert view.combined["total"]["value"] == 120
    south = world.unit(
        lambda s: next(r for r in s.query(Run).filter_by(task_id=task.id) if r.id != lease.run_id)
    )
    assert (south.state, south.reason) == ("failed", "node_unavailable")
    # a late answer from the node that timed out changes nothing
    assert world.lease("south", utcnow() + timedelta(seconds=6)) is None


def test_a_differencing_refusal_names_the_projects_own_earlier_tasks_only(world):
    earlier = world.task()
    earlier_lease = world.lease("north")
    world.submit("north", world.result(earlier_lease, "north"))
    other_project = world.unit(
        lambda s: create_project(
            s,
            title="Other",
            members=["alice"],
            nodes=["north"],
            start_date=date.today(),
            end_date=date.today() + timedelta(days=1),
            by="a",
        )
    )
    elsewhere = world.unit(
        lambda s: create_task(
            s,
            REGISTRY.task_request.model_validate(
                {
                    "project_id": other_project.id,
                    "analysis": "count",
                    "parameters": {"cohort": COHORT},
                }
            ),
            by=world.alice,
            key=world.hub_key,
        )[0]
    )
    elsewhere_run = world.lease("north").run_id  # another project's run, left unanswered
    assert world.unit(lambda s: s.get(Run, elsewhere_run).task_id) == elsewhere.id
    world.task()
    lease = world.lease("north")
    refusal = world.result(
        lease,
        "north",
        status="refused",
        reason="differencing_risk",
        colliding_runs=[earlier_lease.run_id, elsewhere_run, "no-such-run"],
    )
    world.submit("north", refusal)
    message = world.unit(lambda s: s.get(Run, lease.run_id).message)
    assert f"task {earlier.id} (count, {earlier.created_at:%Y-%m-%d})" in message
    assert elsewhere.id not in message and "no-such-run" not in message
    assert "Change the cohort" in message


def test_success_without_a_gated_output_is_recorded_as_a_gate_failure(world):
    world.task()
    lease = world.lease("north")
    payload = world.result(lease, "north").payload
    payload["output"] = {"count": 123}
    world.submit(
        "north", SignedResult(payload=payload, signature=sign(payload, world.node_keys["north"]))
    )
    run = world.unit(lambda s: s.get(Run, lease.run_id))
    assert (run.state, run.reason, run.output) == ("failed", "gate_error", None)


def test_hub_regates_node_values_with_its_own_profile(world):
    world.task()
    lease = world.lease("north")
    strict = DEFAULT.tightened(threshold=50)
    world.unit(
        lambda s: runs.submit_result(
            s,
            world.node(s, "north"),
            world.result(lease, "north", value=40),
            strict,
            utcnow(),
            world.hub_key,
        )
    )
    output = world.unit(lambda s: s.get(Run, lease.run_id).output)
    assert output["count"]["suppressed"] and output["count"]["value"] is None


# ---- rounds of an iterative analysis (a GLM) --------------------------------------------------

GLM = {
    "cohort": COHORT,
    "formula": "lung_cancer ~ age",
    "family": "binomial",
}


def glm_task(world):
    request = REGISTRY.task_request.model_validate(
        {"project_id": world.project.id, "analysis": "glm", "parameters": GLM}
    )
    return world.unit(lambda s: create_task(s, request, by=world.alice, key=world.hub_key)[0])


def node_rows(seed):
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(300), rng.normal(60, 10, 300)])
    y = (rng.random(300) < 1 / (1 + np.exp(-(x @ [-3.0, 0.04])))).astype(float)
    return Rows.of(x, y)


def round_result(world, lease, name, rows, *, round_=None):
    instruction = Instruction.model_validate(lease.instruction.payload)
    sums = node_round(rows, "binomial", instruction.step, beta=tuple(instruction.beta))
    output = {
        "round": instruction.round,
        "step": instruction.step,
        "n": sums.n,
        "missing": 0,
        "deviance": sums.deviance,
        "xtwx": sums.xtwx.tolist(),
        "xtwz": sums.xtwz.tolist(),
        "pearson": sums.pearson,
        "loglike": sums.loglike,
        "gate": {"verdict": "pass", "profile": "default", "rules": []},
    }
    payload = ResultPayload(
        run_id=lease.run_id,
        task_id=lease.task.payload["task_id"],
        node=name,
        status="succeeded",
        output=output,
        round=instruction.round if round_ is None else round_,
        finished_at=utcnow(),
    ).model_dump(mode="json")
    return SignedResult(payload=payload, signature=sign(payload, world.node_keys[name]))


def test_a_glm_round_is_leased_with_an_instruction_the_hub_signed(world):
    task = glm_task(world)
    lease = world.lease("north")
    assert lease.instruction is not None
    verify(lease.instruction.payload, lease.instruction.signature, public_key_text(world.hub_key))
    assert lease.instruction.payload["task_id"] == task.id
    assert (lease.instruction.payload["round"], lease.instruction.payload["step"]) == (0, "start")


def test_rounds_advance_on_pooled_sums_and_an_old_rounds_result_changes_nothing(world):
    glm_task(world)
    parts = {"north": node_rows(1), "south": node_rows(2)}
    leases = {name: world.lease(name) for name in parts}
    first = {name: round_result(world, leases[name], name, parts[name]) for name in parts}
    for name in parts:
        assert world.submit(name, first[name]).ack.accepted
    following = {name: world.lease(name) for name in parts}
    assert all(f.run_id == leases[n].run_id for n, f in following.items())  # the same runs
    step = Instruction.model_validate(following["north"].instruction.payload)
    assert (step.round, step.step) == (1, "step")
    irls = IRLS("binomial", ("Intercept", "age"))
    pooled = node_round(parts["north"], "binomial", "start") + node_round(
        parts["south"], "binomial", "start"
    )
    irls.advance("start", pooled)
    np.testing.assert_allclose(step.beta, irls.beta, rtol=1e-12)
    again = world.submit("north", first["north"])  # round 0's result, replayed
    assert not again.ack.accepted
    assert world.run_state(following["north"].run_id) == "leased"


def test_a_node_dropping_out_mid_fit_ends_the_task_with_an_error(world):
    task = glm_task(world)
    parts = {"north": node_rows(1), "south": node_rows(2)}
    leases = {name: world.lease(name) for name in parts}
    for name in parts:
        world.submit(name, round_result(world, leases[name], name, parts[name]))
    following = world.lease("north")
    world.submit("north", round_result(world, following, "north", parts["north"]))
    south = world.lease("south")
    failed = world.result(south, "south", status="failed", reason="internal_error", round=1)
    world.submit("south", failed)
    done = world.unit(lambda s: s.get(Task, task.id))
    assert done.state == "complete"
    assert "south" in done.combined["error"] and done.combined["fit"] is None


def test_a_node_accepts_only_instructions_signed_for_its_task(world):
    from fivesafes.node.policy import Refusal, verified_instruction
    from fivesafes.protocol.models import SignedInstruction, TaskPayload

    glm_task(world)
    lease = world.lease("north")
    task = TaskPayload.model_validate(lease.task.payload)
    hub = public_key_text(world.hub_key)
    assert verified_instruction(lease.instruction, task, hub).round == 0
    forged = SignedInstruction(
        payload={**lease.instruction.payload, "beta": [100.0, 1.0], "step": "step"},
        signature=lease.instruction.signature,
    )
    other_task = {**lease.instruction.payload, "task_id": "t_other"}
    elsewhere = SignedInstruction(payload=other_task, signature=sign(other_task, world.hub_key))
    for bad in (forged, elsewhere):
        with pytest.raises(Refusal) as refused:
            verified_instruction(bad, task, hub)
        assert refused.value.reason.value == "bad_signature"


def test_hub_migrations_match_the_models(world):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from fivesafes.hub.db import Base

    with world.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
