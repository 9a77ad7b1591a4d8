"""Attack 3, a tracker: a small target group T is padded with a large group P so every query
passes the threshold; count(T+P) - count(P) = size of T (``+``: union of disjoint groups). The
split tracker pads with two released groups: count(T+P+Q) - count(P) - count(Q).

The groups come from the synthetic site: T = everyone older than the oldest age that leaves
1..9 persons, P = women up to that age, Q = men aged 30 up to that age, R = men under 30. Our
cohort language only ANDs criteria, so it cannot ask for T+P; these tests therefore give the
person sets straight to the node's differencing step (``differencing_refusal``, the same call
``run_task`` makes), then the gate, then the store, in ``run_task``'s order.

| releases asked for      | naive gate (threshold only)    | ours                              |
| ----------------------- | ------------------------------ | --------------------------------- |
| P, then T+P             | both exact: difference = T     | T+P refused (relation one)        |
| T+P, then P             | both exact: difference = T     | P refused (relation one)          |
| P, Q, then T+P+Q        | all exact: T by subtraction    | T+P+Q refused (relation union)    |
| P, Q, R, then T+P+Q+R   | all exact: T by subtraction    | T+P+Q+R refused (relation cover)  |
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pyroaring import AbstractBitMap, BitMap

from fivesafes.analyses.registry import REGISTRY
from fivesafes.node.outcome import Outcome
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import Computed, gate
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.gate import CountEvidence
from fivesafes.sdc.profiles import DEFAULT

THRESHOLD = 10


def naive_gate(n: int) -> int | None:
    return None if n < THRESHOLD else n


def groups(node) -> tuple[BitMap, BitMap, BitMap, BitMap]:
    """(T, P, Q, R): T small (1..9), the paddings P, Q, R large, all disjoint."""
    everyone = node.persons({"name": "everyone"})
    for top in range(120, 0, -1):
        target = everyone - node.persons({"name": "young", "age": {"max": top}})
        if 1 <= len(target) < THRESHOLD:
            break
    else:  # pragma: no cover
        raise AssertionError("no small group of the oldest on this site")
    women = node.persons({"name": "w", "sex": ["female"], "age": {"max": top}})
    men = node.persons({"name": "m", "sex": ["male"], "age": {"max": top, "min": 30}})
    young_men = node.persons({"name": "y", "sex": ["male"], "age": {"max": 29}})
    assert len(women) > 100 and len(men) > 100 and len(young_men) >= 10
    assert len(target) + len(women) + len(men) + len(young_men) == len(
        target | women | men | young_men
    )
    return target, women, men, young_men


def our_release(store: InMemoryPersonSetStore, key: str, persons: AbstractBitMap) -> Outcome:
    """``run_task`` after the cohort query (the node's own ``gate``: judge, check
    differencing, release) and, as the node's run store does, remember what was released."""
    computed = Computed(persons, CountEvidence(len(persons)))
    outcome = gate("p", key, REGISTRY["count"], computed, DEFAULT, store)
    if outcome.release is not None and outcome.output is not None:
        store.record("p", key, f"run-{key}", persons, outcome.output)
    return outcome


Solve = Callable[[dict[str, int]], int]


def attacks(node) -> dict[str, tuple[list[tuple[str, BitMap]], Solve, int]]:
    """Each attack: the releases asked for in order, how |T| follows from their counts."""
    t, p, q, r = groups(node)
    return {
        "padding first": ([("P", p), ("T+P", t | p)], lambda c: c["T+P"] - c["P"], len(t)),
        "padded first": ([("T+P", t | p), ("P", p)], lambda c: c["T+P"] - c["P"], len(t)),
        "split": (
            [("P", p), ("Q", q), ("T+P+Q", t | p | q)],
            lambda c: c["T+P+Q"] - c["P"] - c["Q"],
            len(t),
        ),
        "three paddings": (
            [("P", p), ("Q", q), ("R", r), ("T+P+Q+R", t | p | q | r)],
            lambda c: c["T+P+Q+R"] - c["P"] - c["Q"] - c["R"],
            len(t),
        ),
        "three, padded first": (
            [("T+P+Q+R", t | p | q | r), ("P", p), ("Q", q), ("R", r)],
            lambda c: c["T+P+Q+R"] - c["P"] - c["Q"] - c["R"],
            len(t),
        ),
    }


ATTACKS = ["padding first", "padded first", "split", "three paddings", "three, padded first"]


@pytest.mark.parametrize("name", ATTACKS)
def test_the_tracker_recovers_the_target_size_through_a_threshold_only_gate(node, name):
    asks, solve, secret = attacks(node)[name]
    counts = {key: naive_gate(len(persons)) for key, persons in asks}
    assert None not in counts.values()  # every query passed the threshold on its own
    assert solve(counts) == secret


@pytest.mark.parametrize("name", ATTACKS)
def test_our_node_refuses_the_query_that_completes_the_tracker(node, name):
    asks, _, _ = attacks(node)[name]
    store = InMemoryPersonSetStore()
    *setup, (last_key, last) = asks
    for key, persons in setup:
        assert our_release(store, key, persons).status == "succeeded"
    refused = our_release(store, last_key, last)
    assert (refused.status, refused.reason, refused.output) == (
        "refused",
        ReasonCode.DIFFERENCING_RISK,
        None,
    )
    assert [r.output_key for r in store.released_sets("p")] == [key for key, _ in setup]
