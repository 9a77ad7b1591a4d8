"""Attack 8, Huth et al.'s covariance reconstruction against the correlation matrix: a
correlation's sufficient statistics over a population (n, means, centred sums) give its sum of
each variable, so two matrices over populations that differ by one person give that person's
values exactly, however large both populations are. The attacker cannot place vectors next to
the data (attack 6), so it uses cohorts as the vectors: "everyone up to age t" for every t.

| step                                     | naive node             | ours                       |
| ---------------------------------------- | ---------------------- | -------------------------- |
| matrices of (age, bmi) for every t       | all released (n >= 10) | populations 0 or >= 10 off |
| subtract consecutive sums                | one person's bmi each  | -                          |
| in one matrix, pairwise deletion with a  | sums over two nearly   | refused: differencing_risk |
| variable missing for a few persons       | equal populations      | (tests/unit)               |
"""

from __future__ import annotations

from itertools import combinations, pairwise
from typing import Any

import numpy as np

from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.protocol.runs import ReasonCode

THRESHOLD = 10
INDEX = {"type": "fixed", "date": "2020-01-01"}


def cohort_up_to(age: int) -> dict[str, Any]:
    return {"name": f"up to {age}", "index": INDEX, "age": {"max": age}}


def rows(node, cohort: dict[str, Any]) -> dict[int, tuple[float, float]]:
    """The truth only the node sees: each person's (age, bmi), for those with both."""
    frame = analysis_frame(node.db, Cohort.model_validate(cohort), ["age", "bmi"])
    age, bmi = frame.columns["age"], frame.columns["bmi"]
    keep = ~np.isnan(age) & ~np.isnan(bmi)
    pairs = zip(age[keep].tolist(), bmi[keep].tolist(), strict=True)
    return dict(zip(frame.person_ids[keep].tolist(), pairs, strict=True))


def naive_sums(values: dict[int, tuple[float, float]]) -> tuple[int, float] | None:
    """What a threshold-only node releases of (age, bmi), reduced to n and the sum of bmi
    (n times the released mean)."""
    if len(values) < THRESHOLD:
        return None
    return len(values), float(sum(b for _, b in values.values()))


def test_the_attack_recovers_persons_values_through_a_threshold_only_node(node):
    cohorts = [cohort_up_to(t) for t in range(100, 20, -1)]
    truths = [rows(node, c) for c in cohorts]
    recovered = {}
    for bigger, smaller in pairwise(truths):
        a, b = naive_sums(bigger), naive_sums(smaller)
        if a and b and a[0] - b[0] == 1:
            [person] = set(bigger) - set(smaller)
            recovered[person] = a[1] - b[1]
    assert len(recovered) >= 5  # the naive node gives several persons' exact bmi away
    for person, bmi in recovered.items():
        assert abs(bmi - truths[0][person][1]) < 1e-6


def test_our_nodes_release_no_two_correlations_that_isolate_a_person(node):
    cohorts = [cohort_up_to(t) for t in range(100, 20, -1)]
    released = []
    for cohort in cohorts:
        outcome = node.ask(cohort, "correlation", variables=["age", "bmi"])
        if outcome.status == "succeeded" and not outcome.output["pairs"][0]["suppressed"]:
            released.append(frozenset(rows(node, cohort)))
        else:
            assert outcome.reason in (None, ReasonCode.DIFFERENCING_RISK)
    assert len(released) >= 2  # the defence is not "refuse everything"
    for a, b in combinations(released, 2):
        assert len(a ^ b) == 0 or len(a ^ b) >= THRESHOLD
