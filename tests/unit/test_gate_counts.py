"""The count rule of the gate, as a table: true count → what leaves the node.

threshold 10, base 10 (the default profile); rounding is half-up, never half-to-even.
"""

from __future__ import annotations

import pytest

from fivesafes.analyses.registry import REGISTRY
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import Computed, gate
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc import release_count, round_half_up
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.gate import CountEvidence
from fivesafes.sdc.profiles import DEFAULT, Profile

SPEC = [
    # n, released value (None = suppressed)
    (0, None),  # zero is suppressed too: never a silent 0
    (1, None),
    (9, None),
    (10, 10),
    (14, 10),
    (15, 20),  # tie rounds up (half-to-even would give 20 here too; see 25)
    (25, 30),  # half-to-even would give 20
    (44, 40),
    (45, 50),
    (1234, 1230),
    (1235, 1240),
]


@pytest.mark.parametrize(("n", "released"), SPEC)
def test_default_profile(n, released):
    out = release_count(n, DEFAULT)
    assert out.value == released
    assert out.suppressed is (released is None)


@pytest.mark.parametrize(
    ("n", "threshold", "base", "released"),
    [(7, 8, 5, None), (8, 8, 5, 10), (12, 8, 5, 10), (13, 8, 5, 15), (3, 3, 1, 3), (2, 3, 1, None)],
)
def test_other_thresholds_and_bases(n, threshold, base, released):
    profile = Profile(name="t", threshold=threshold, rounding_base=base, zeros_are_disclosive=False)
    assert release_count(n, profile).value == released


def test_round_half_up_matches_the_definition():
    for base in (1, 2, 5, 7, 10):
        for n in range(0, 200):
            expected = min(
                (k * base for k in range(0, 200 // base + 3)),
                key=lambda m: (abs(n - m), -m),  # nearest, ties to the larger
            )
            assert round_half_up(n, base) == expected


@pytest.mark.parametrize("bad", [-1, 2.5, "10", None, True])
def test_gate_fails_closed_on_anything_but_a_count(bad):
    """An error inside the gate withholds the result; it never passes a value through."""
    computed = Computed(person_set(range(20)), CountEvidence(bad))
    outcome = gate("p", "k", REGISTRY["count"], computed, DEFAULT, InMemoryPersonSetStore())
    assert outcome.status == "failed"
    assert outcome.reason is ReasonCode.GATE_ERROR
    assert outcome.output is None


def test_profile_is_immutable():
    with pytest.raises(Exception, match="frozen"):
        DEFAULT.threshold = 1  # type: ignore[misc]
