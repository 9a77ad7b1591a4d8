"""Attack 1, subset differencing: ask for a cohort, then for the same cohort with one more
restriction that drops a few persons; the difference of the two counts is the size of that
small group, although each count passed the threshold on its own.

| query                         | naive gate (threshold only) | ours                      |
| ----------------------------- | --------------------------- | ------------------------- |
| everyone                      | exact count                 | rounded count, remembered |
| everyone up to age ``top``    | exact count                 | refused: differencing     |
| first minus second            | the persons older than top  | nothing to subtract       |
"""

from __future__ import annotations

from typing import Any

import pytest

from fivesafes.protocol.runs import ReasonCode

THRESHOLD = 10
EVERYONE: dict[str, Any] = {"name": "everyone"}


def naive_gate(n: int) -> int | None:
    """Suppress below the threshold, release everything else exactly."""
    return None if n < THRESHOLD else n


def near_subset(node) -> tuple[dict[str, Any], int]:
    """An age restriction that drops 1..threshold-1 persons from everyone, and how many."""
    total = node.true_count(EVERYONE)
    for top in range(120, 0, -1):
        restricted = {"name": "everyone up to an age", "age": {"max": top}}
        dropped = total - node.true_count(restricted)
        if 1 <= dropped < THRESHOLD:
            return restricted, dropped
    raise AssertionError("no near subset on this site")  # pragma: no cover


def test_the_attack_recovers_a_small_group_through_a_threshold_only_gate(node):
    restricted, secret = near_subset(node)
    whole = naive_gate(node.true_count(EVERYONE))
    part = naive_gate(node.true_count(restricted))
    assert whole is not None and part is not None  # each passed the threshold on its own
    assert whole - part == secret


@pytest.mark.parametrize("order", ["wide first", "narrow first"])
def test_our_node_refuses_the_second_query_of_the_pair(node, order):
    restricted, _ = near_subset(node)
    queries = [EVERYONE, restricted] if order == "wide first" else [restricted, EVERYONE]
    first, second = (node.ask(q) for q in queries)
    assert first.status == "succeeded" and first.output["count"]["value"] is not None
    assert (second.status, second.reason, second.output, second.release) == (
        "refused",
        ReasonCode.DIFFERENCING_RISK,
        None,
        None,
    )
    assert len(node.store.released_sets("p")) == 1  # the refused population is not remembered
