"""What a node lets run, decided by its own approval record (table of cases)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from fivesafes.node.db import Approval
from fivesafes.node.outcome import Outcome
from fivesafes.node.policy import Refusal, can_run, check_task, held_by_approval, verified_task
from fivesafes.protocol.models import TaskPayload
from fivesafes.protocol.runs import ReasonCode
from fivesafes.protocol.signing import generate_key, public_key_text, sign

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def task(**changes) -> TaskPayload:
    base = dict(
        task_id="t_1",
        project_id="p_1",
        project_version=2,
        requester="alice",
        analysis="count",
        parameters={},
        targets=["north", "south"],
        issued_at=NOW - timedelta(minutes=1),
        expires_at=NOW + timedelta(minutes=5),
        analysis_version=1,
        requester_accredited_until=date(2026, 12, 31),
    )
    return TaskPayload(**{**base, **changes})


def approval(**changes) -> Approval:
    base = dict(
        project_id="p_1",
        version=2,
        title="t",
        members=["alice"],
        analyses=["count@1"],
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        state="approved",
        decided_at=NOW,
        decided_by="c",
        record_signature="s",
    )
    return Approval(**{**base, **changes})


CONDITION = {"domain": "condition", "concepts": [201820]}
IMAGING_COHORT = {
    "name": "CT chest with contrast, diabetic",
    "criteria": [
        {"domain": "imaging", "modality": ["CT"], "body_part": ["CHEST"], "contrast": ["yes"]},
        CONDITION,
    ],
}

CASES = [
    ("allowed", task(), approval(), None),
    ("not addressed here", task(targets=["south"]), approval(), ReasonCode.NOT_A_TARGET),
    ("expired", task(expires_at=NOW), approval(), ReasonCode.TASK_EXPIRED),
    ("never approved", task(), None, ReasonCode.PROJECT_NOT_APPROVED),
    ("revoked", task(), approval(state="revoked"), ReasonCode.PROJECT_NOT_APPROVED),
    ("other version", task(project_version=3), approval(), ReasonCode.PROJECT_VERSION_NOT_APPROVED),
    ("not started", task(), approval(start_date=date(2026, 7, 1)), ReasonCode.PROJECT_NOT_ACTIVE),
    ("ended", task(), approval(end_date=date(2026, 5, 31)), ReasonCode.PROJECT_NOT_ACTIVE),
    ("not a member", task(requester="mallory"), approval(), ReasonCode.REQUESTER_NOT_MEMBER),
    ("analysis not allowed", task(analysis="glm"), approval(), ReasonCode.ANALYSIS_NOT_ALLOWED),
    (
        "a version not approved",
        task(analysis_version=2),
        approval(),
        ReasonCode.ANALYSIS_NOT_ALLOWED,
    ),
    (
        "a version this node does not run",
        task(analysis_version=2),
        approval(analyses=["count@2"]),
        ReasonCode.ANALYSIS_NOT_ALLOWED,
    ),
    (
        "accredited through today",
        task(requester_accredited_until=NOW.date()),
        approval(),
        None,
    ),
    (
        "accreditation expired",
        task(requester_accredited_until=date(2026, 5, 31)),
        approval(),
        ReasonCode.REQUESTER_NOT_ACCREDITED,
    ),
    (
        "no accreditation sent",
        task(requester_accredited_until=None),
        approval(),
        ReasonCode.REQUESTER_NOT_ACCREDITED,
    ),
    ("rejected here", task(), approval(state="rejected"), ReasonCode.PROJECT_NOT_APPROVED),
    (
        "an OMOP analysis, the project approved for imaging only",
        task(),
        approval(data_domains=["imaging"]),
        ReasonCode.DOMAIN_NOT_APPROVED,
    ),
    ("approved for OMOP and imaging", task(), approval(data_domains=["omop", "imaging"]), None),
    ("an approval made before domains were kept", task(), approval(data_domains=None), None),
    (
        "a cohort with an imaging criterion, the project approved for OMOP only",
        task(parameters={"cohort": IMAGING_COHORT}),
        approval(data_domains=["omop"]),
        ReasonCode.DOMAIN_NOT_APPROVED,
    ),
    (
        "a cohort with an imaging criterion, approved for both",
        task(parameters={"cohort": IMAGING_COHORT}),
        approval(data_domains=["omop", "imaging"]),
        None,
    ),
    (
        "an OMOP-only cohort, the project approved for OMOP only",
        task(parameters={"cohort": {"name": "c", "criteria": [CONDITION]}}),
        approval(data_domains=["omop"]),
        None,
    ),
]


@pytest.mark.parametrize(("case", "t", "a", "reason"), CASES, ids=[c[0] for c in CASES])
def test_policy(case, t, a, reason):
    if reason is None:
        check_task(t, a, node="north", now=NOW)
        assert can_run(t, a, node="north", now=NOW)
    else:
        with pytest.raises(Refusal) as refusal:
            check_task(t, a, node="north", now=NOW)
        assert refusal.value.reason is reason
        assert not can_run(t, a, node="north", now=NOW)


def test_task_must_be_signed_by_the_pinned_hub_key():
    hub, impostor = generate_key(), generate_key()
    payload = task().model_dump(mode="json")
    assert verified_task(payload, sign(payload, hub), public_key_text(hub)).task_id == "t_1"
    with pytest.raises(Refusal) as refusal:
        verified_task(payload, sign(payload, impostor), public_key_text(hub))
    assert refusal.value.reason is ReasonCode.BAD_SIGNATURE


def test_signed_task_with_extra_fields_is_refused():
    """Even a correctly signed payload may carry nothing outside the typed contract."""
    hub = generate_key()
    payload = {**task().model_dump(mode="json"), "sql": "select * from person"}
    with pytest.raises(Refusal) as refusal:
        verified_task(payload, sign(payload, hub), public_key_text(hub))
    assert refusal.value.reason is ReasonCode.INVALID_PARAMETERS


def test_an_approval_with_the_airlock_holds_every_output_it_would_release():
    released = Outcome("succeeded", output={"count": 1})
    airlock = approval(outputs_to_airlock=True)
    held = {"held_because": "outputs_to_airlock", "output": {"count": 1}, "persons": []}
    assert held_by_approval(released, airlock) == Outcome(
        "refused", ReasonCode.HELD_FOR_REVIEW, held=held
    )
    assert held_by_approval(released, approval(outputs_to_airlock=False)) is released
    refused = Outcome("refused", ReasonCode.DIFFERENCING_RISK)
    assert held_by_approval(refused, airlock) is refused
