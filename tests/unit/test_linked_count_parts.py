"""The linked count's parts: blinded values, what a node sends, and how the hub counts them
(``fivesafes.analyses.linked_count``); end to end in tests/integration/test_linked_count.py."""

from __future__ import annotations

import base64
import secrets

import pytest
from pydantic import ValidationError

from fivesafes.analyses.linked_count import LinkedCount
from fivesafes.analyses.linked_count.models import (
    PAD_TO,
    VALUE_BYTES,
    LinkedCountOutput,
    LinkedCountParameters,
)
from fivesafes.analyses.linked_count.node import blinded, pad
from fivesafes.sdc.profiles import DEFAULT

COHORT = {"name": "Women", "sex": ["female"]}
PASS = {"verdict": "pass", "profile": "default", "rules": []}
FAIL = {"verdict": "fail", "profile": "default", "rules": ["threshold"]}


def part(values: list[bytes]) -> dict:
    members = base64.b64encode(pad(values)).decode()
    return LinkedCountOutput(members=members, gate=PASS).model_dump(mode="json")  # type: ignore[arg-type]


def test_a_person_has_the_same_value_at_every_node_and_another_in_every_task():
    key, other = secrets.token_bytes(32), secrets.token_bytes(32)
    assert blinded(key, "t_1") == blinded(key, "t_1")
    assert len(blinded(key, "t_1")) == VALUE_BYTES
    assert blinded(key, "t_1") != blinded(key, "t_2")
    assert blinded(key, "t_1") != blinded(other, "t_1")


def test_what_is_sent_is_padded_sorted_and_holds_every_value():
    values = [secrets.token_bytes(VALUE_BYTES) for _ in range(23)]
    sent = pad(values)
    chunks = [sent[i : i + VALUE_BYTES] for i in range(0, len(sent), VALUE_BYTES)]
    assert len(chunks) == 30 and len(chunks) % PAD_TO == 0
    assert chunks == sorted(chunks) and set(values) <= set(chunks)
    assert len(pad(values[:20])) == 20 * VALUE_BYTES  # a multiple already: nothing added


@pytest.mark.parametrize(
    ("shared", "only_a", "only_b", "expected"),
    [(40, 100, 7, 40), (12, 30, 30, 10), (7, 50, 50, None)],  # rounded to 5; under 10: none
)
def test_the_hub_counts_the_values_in_every_part_and_gates_the_count(
    shared, only_a, only_b, expected
):
    both = [secrets.token_bytes(VALUE_BYTES) for _ in range(shared)]
    a = both + [secrets.token_bytes(VALUE_BYTES) for _ in range(only_a)]
    b = both + [secrets.token_bytes(VALUE_BYTES) for _ in range(only_b)]
    combined = LinkedCount().combine({"north": part(a), "lake": part(b)}, [], DEFAULT)
    count = combined["count"]
    assert count["value"] == expected and count["suppressed"] is (expected is None)
    assert combined["nodes_contributing"] == ["lake", "north"]


def test_three_parts_count_the_persons_in_all_three():
    everyone = [secrets.token_bytes(VALUE_BYTES) for _ in range(60)]
    parts = {"a": part(everyone[:50]), "b": part(everyone[10:60]), "c": part(everyone[20:])}
    assert LinkedCount().combine(parts, [], DEFAULT)["count"]["value"] == 30


def test_nothing_is_counted_when_a_part_is_missing():
    values = [secrets.token_bytes(VALUE_BYTES) for _ in range(50)]
    combined = LinkedCount().combine({"north": part(values)}, ["lake"], DEFAULT)
    assert combined["count"]["value"] is None and combined["nodes_missing"] == ["lake"]


def test_no_one_sees_a_part_and_the_hub_keeps_only_its_gate():
    output = part([secrets.token_bytes(VALUE_BYTES) for _ in range(20)])
    assert LinkedCount().public(output) == {"gate": PASS}


def test_a_part_is_sent_exactly_when_its_gate_passes_and_must_be_whole_values():
    with pytest.raises(ValidationError, match="exactly when"):
        LinkedCountOutput.model_validate({"members": "", "gate": PASS})
    with pytest.raises(ValidationError, match="exactly when"):
        LinkedCountOutput.model_validate({"members": part([b"12345678"])["members"], "gate": FAIL})
    with pytest.raises(ValidationError, match="whole values"):
        LinkedCountOutput.model_validate(
            {"members": base64.b64encode(b"123").decode(), "gate": PASS}
        )
    with pytest.raises(ValidationError, match="not base64"):
        LinkedCountOutput.model_validate({"members": "!!!!", "gate": PASS})
    assert LinkedCountOutput.model_validate({"members": "", "gate": FAIL}).values() == set()


def test_parts_are_two_to_four_one_per_node():
    two = [{"node": "a", "cohort": COHORT}, {"node": "b", "cohort": COHORT}]
    assert len(LinkedCountParameters.model_validate({"parts": two}).parts) == 2
    with pytest.raises(ValidationError, match="one part"):
        LinkedCountParameters.model_validate({"parts": [two[0], two[0]]})
    with pytest.raises(ValidationError):
        LinkedCountParameters.model_validate({"parts": two[:1]})
    five = [{"node": f"n{i}", "cohort": COHORT} for i in range(5)]
    with pytest.raises(ValidationError):
        LinkedCountParameters.model_validate({"parts": five})
