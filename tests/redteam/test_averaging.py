"""Attack 4, averaging repeated noisy answers: a gate that adds fresh noise to every answer
is beaten by asking the same question many times; the mean converges on the true count.

| 500 identical queries       | naive gate (true + fresh Laplace noise) | ours                     |
| --------------------------- | --------------------------------------- | ------------------------ |
| answers                     | 500 different values                    | one value, 500 times     |
| mean of the answers         | within 0.5 of the true count            | the rounded count        |

Ours answers a repeated query from the person-set store (the identical released answer), and
its gate is deterministic, so even a reworded query over the same persons gets the same value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ASKS = 500
BASE = 10


def naive_noisy_gate(n: int, rng: np.random.Generator) -> float:
    """The true count plus fresh Laplace noise (scale 2) on every query."""
    return n + rng.laplace(0.0, 2.0)


def off_grid_cohort(node) -> tuple[dict[str, Any], int]:
    """A cohort whose true count passes the threshold and is not a multiple of the base."""
    for top in range(120, 0, -1):
        cohort = {"name": "up to an age", "age": {"max": top}}
        n = node.true_count(cohort)
        if n >= 10 and n % BASE:
            return cohort, n
    raise AssertionError("no such cohort on this site")  # pragma: no cover


def test_averaging_recovers_the_true_count_through_a_fresh_noise_gate(node):
    cohort, secret = off_grid_cohort(node)
    rng = np.random.default_rng(2023)
    answers = [naive_noisy_gate(secret, rng) for _ in range(ASKS)]  # secret = the query's n
    assert len(set(answers)) == ASKS  # each answer alone is noisy
    assert abs(np.mean(answers) - secret) <= 0.5
    assert round(float(np.mean(answers))) == secret


def test_our_node_repeats_its_released_answer_so_the_mean_is_the_rounded_count(node):
    cohort, secret = off_grid_cohort(node)
    outcomes = [node.ask(cohort) for _ in range(ASKS)]
    assert {o.status for o in outcomes} == {"succeeded"}
    values = [o.output["count"]["value"] for o in outcomes]
    released = values[0]
    assert values == [released] * ASKS
    assert np.mean(values) == released == (2 * secret + BASE) // (2 * BASE) * BASE != secret
    assert sum(o.release is not None for o in outcomes) == 1  # only the first touched data
    # the same persons asked under another name: a new output, but the same value
    reworded = node.ask({**cohort, "name": "the same persons, reworded"})
    assert reworded.output["count"]["value"] == released
