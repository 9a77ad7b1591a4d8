"""Attack 5, mean of n vs mean of n - 1: ask for the mean age of a cohort, then of the same
cohort without its oldest member. n₁·mean₁ - n₂·mean₂ is that person's exact age, although each
summary had far more than the threshold of contributors.

| query                              | naive gate (threshold only)  | ours                       |
| ---------------------------------- | ---------------------------- | -------------------------- |
| summary of age, everyone           | exact n, exact mean          | rounded n, mean, sd        |
| summary of age, everyone up to top | exact n, exact mean          | refused: differencing      |
| n₁·mean₁ - n₂·mean₂                | the oldest person's age      | nothing to subtract        |
"""

from __future__ import annotations

from typing import Any

import pytest

from fivesafes.protocol.runs import ReasonCode

THRESHOLD = 10
EVERYONE: dict[str, Any] = {"name": "everyone"}


def naive_summary(ages: list[float]) -> tuple[int, float] | None:
    """Suppress below the threshold; release the exact n and mean otherwise."""
    if len(ages) < THRESHOLD:
        return None
    return len(ages), sum(ages) / len(ages)


def without_the_oldest(node) -> tuple[dict[str, Any], float]:
    """An age bound that drops exactly one person from everyone, and that person's age."""
    ages = node.ages(EVERYONE)
    for top in range(120, 0, -1):
        restricted = {"name": "everyone up to an age", "age": {"max": top}}
        dropped = set(ages) - set(node.ages(restricted))
        if len(dropped) == 1:
            return restricted, ages[dropped.pop()]
    raise AssertionError("no single oldest person on this site")  # pragma: no cover


def test_the_attack_recovers_one_persons_age_through_a_threshold_only_gate(node):
    restricted, secret = without_the_oldest(node)
    whole = naive_summary(list(node.ages(EVERYONE).values()))
    part = naive_summary(list(node.ages(restricted).values()))
    assert whole is not None and part is not None  # each passed the threshold on its own
    recovered = whole[0] * whole[1] - part[0] * part[1]
    assert recovered == pytest.approx(secret, abs=1e-6)


@pytest.mark.parametrize("order", ["whole first", "part first"])
def test_our_node_refuses_the_second_summary_of_the_pair(node, order):
    restricted, _ = without_the_oldest(node)
    queries = [EVERYONE, restricted] if order == "whole first" else [restricted, EVERYONE]
    first, second = (node.ask(q, "summary", variable="age") for q in queries)
    assert first.status == "succeeded" and first.output["mean"] is not None
    assert first.output["n"]["value"] % 10 == 0  # n itself is rounded
    assert (second.status, second.reason, second.output) == (
        "refused",
        ReasonCode.DIFFERENCING_RISK,
        None,
    )


def test_a_count_and_a_summary_of_near_populations_are_one_pair(node):
    """Counting everyone and then summarising everyone-but-one is the same attack in two
    analyses: the person sets are shared across analyses of a project."""
    restricted, _ = without_the_oldest(node)
    assert node.ask(EVERYONE).status == "succeeded"
    refused = node.ask(restricted, "summary", variable="age")
    assert (refused.status, refused.reason) == ("refused", ReasonCode.DIFFERENCING_RISK)
