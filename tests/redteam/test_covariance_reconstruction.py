"""Attack 6, the covariance reconstruction of Huth et al. (Bioinformatics 2023, "Accessibility of
covariance information creates vulnerability in Federated Learning frameworks"): where a client
can place vectors of its choosing next to the data (sent to the server, or generated there from
a seed it knows) and read back covariances or cross-products with a target variable, n such
linearly independent vectors give n equations in the n hidden values, and solving them returns
every person's value. Each answer is an aggregate over n persons, so a threshold passes it.

| step                                     | naive node               | ours                      |
| ---------------------------------------- | ------------------------ | ------------------------- |
| send vectors v1..vn (or a seed for them) | accepted                 | hub 422; node refuses     |
| read back sum_i age_i * v_ki for each k  | n aggregates, n >= 10    | no such analysis          |
| solve V age = b                          | every person's exact age | -                         |
| fall back to cohorts as the "vectors"    | sums over nested subsets | near subsets refused      |

The fall-back is the only lever our API leaves: a cohort is an indicator vector over persons,
and a summary's n·mean is its inner product with the ages. So we also run that version and
check that no two released summaries differ by 1..threshold-1 persons, the condition under
which subtracting them isolates individuals.
"""

from __future__ import annotations

from itertools import combinations, pairwise
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from fivesafes.analyses.registry import REGISTRY
from fivesafes.protocol.runs import ReasonCode

THRESHOLD = 10
EVERYONE: dict[str, Any] = {"name": "everyone"}


class NaiveNode:
    """Releases the cross-product of a hidden column with any client vector of the right length
    (what a covariance with client-placed vectors amounts to), if n passes the threshold."""

    def __init__(self, hidden: np.ndarray) -> None:
        self._hidden = hidden

    def cross_product(self, vector: np.ndarray) -> float | None:
        if len(self._hidden) < THRESHOLD or vector.shape != self._hidden.shape:
            return None
        return float(self._hidden @ vector)


def test_the_attack_recovers_every_value_through_a_threshold_only_node(node):
    ages = np.asarray(sorted(node.ages(EVERYONE).values())[:40])  # 40 persons, n ≥ threshold
    naive = NaiveNode(ages)
    rng = np.random.default_rng(2023)  # the attacker's own seed: it knows every vector
    vectors = rng.normal(size=(len(ages), len(ages)))
    answers = np.asarray([naive.cross_product(v) for v in vectors])
    recovered = np.linalg.solve(vectors, answers)
    assert np.allclose(recovered, ages, atol=1e-6)  # every hidden age, exactly


@pytest.mark.parametrize(
    "smuggled",
    [
        {"vector": [0.5, -1.2, 3.3]},
        {"vectors": [[1, 0], [0, 1]]},
        {"seed": 2023},
        {"person_ids": [101, 102, 103]},
        {"sql": "SELECT age FROM person"},
        {"threshold": 1},
    ],
)
def test_a_task_cannot_carry_vectors_seeds_ids_or_settings(smuggled):
    """The hub refuses such a task before signing it (its API answers 422 with the standard
    error shape: tests/integration/test_error_shape.py)."""
    for analysis, parameters in (
        ("summary", {"cohort": EVERYONE, "variable": "age"}),
        ("count", {"cohort": EVERYONE}),
    ):
        with pytest.raises(ValidationError):
            REGISTRY.task_request.model_validate(
                {"project_id": "p", "analysis": analysis, "parameters": {**parameters, **smuggled}}
            )


@pytest.mark.parametrize("smuggled", [{"vector": [0.5, -1.2]}, {"seed": 2023}])
def test_a_node_refuses_such_a_task_even_if_a_hub_signed_it(node, smuggled):
    refused = node.ask(EVERYONE, "summary", variable="age", **smuggled)
    assert (refused.status, refused.reason) == ("refused", ReasonCode.INVALID_PARAMETERS)


def test_cohorts_as_the_attackers_vectors_leave_no_individual_to_isolate(node):
    """Summaries of age over 'everyone up to t' for every t: the naive node would release all
    of them, and consecutive differences give single persons' ages. Ours releases some; no two
    released populations differ by 1..threshold-1 persons."""
    ages = node.ages(EVERYONE)
    cohorts = [EVERYONE] + [{"name": f"up to {t}", "age": {"max": t}} for t in range(100, 20, -1)]
    populations = [frozenset(node.ages(c)) for c in cohorts]

    naive_singletons = {
        next(iter(a - b))
        for a, b in pairwise(populations)
        if len(a - b) == 1 and len(b) >= THRESHOLD
    }
    assert naive_singletons  # the naive node would give some persons' exact ages away
    assert all(p in ages for p in naive_singletons)

    released = []
    for cohort, population in zip(cohorts, populations, strict=True):
        outcome = node.ask(cohort, "summary", variable="age")
        if outcome.status == "succeeded" and outcome.output["mean"] is not None:
            released.append(population)
        else:
            assert outcome.reason in (None, ReasonCode.DIFFERENCING_RISK)
    assert len(released) >= 2  # the defence is not "refuse everything"
    for a, b in combinations(released, 2):
        assert len(a ^ b) == 0 or len(a ^ b) >= THRESHOLD
