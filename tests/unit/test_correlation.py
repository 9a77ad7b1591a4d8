"""The federated correlation (``fivesafes.analyses.correlation``): exact against numpy and
pandas on the pooled rows, pair by pair; its gate per pair; its hub part.

Each node's part runs as the node runs it (``run_task``), the hub's re-gate and combination
as the hub runs them (the analysis's own hub part, through the registry)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from fivesafes.analyses.correlation import (
    CorrelationOutput,
    PairRows,
    Pooled,
    near_pairs,
    pair_rows,
    pair_sums,
    released_pair,
)
from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import Computed, gate, run_task
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.profiles import DEFAULT
from in_process import combine, regate, task_payload

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2015-01-01"}}  # bmi: some
VARIABLES = ["age", "bmi", "visits_past_year", "t2dm"]
TOLERANCE = 1e-10  # r pooled from released sums against numpy/pandas on the pooled rows


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three synthetic hospitals of different sizes and populations."""
    folder = tmp_path_factory.mktemp("correlation")
    made = {}
    for name, persons, seed, profile in (
        ("a", 500, 1, "northfield"),
        ("b", 300, 2, "riverside"),
        ("c", 700, 3, "lakeside"),
    ):
        made[name] = folder / f"{name}.duckdb"
        generate(made[name], persons, seed, profile)
    return made


def federated(sites: dict[str, Path], missing: str) -> dict:
    """Each node's run, the hub's re-gate and combination."""
    parameters = {"cohort": EVERYONE, "variables": VARIABLES, "missing": missing}
    outputs = {}
    for name, path in sites.items():
        with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
            outcome = run_task(
                task_payload("correlation", parameters), db, DEFAULT, InMemoryPersonSetStore()
            )
        assert outcome.status == "succeeded", outcome
        assert outcome.output is not None
        outputs[name] = regate("correlation", outcome.output, DEFAULT)
    return combine("correlation", outputs, [], DEFAULT)


def node_rows(sites: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """Each node's rows: what only a pooled analysis could see."""
    frames = {}
    for name, path in sites.items():
        with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
            found = analysis_frame(db, Cohort.model_validate(EVERYONE), VARIABLES)
        frames[name] = pd.DataFrame(found.columns)[VARIABLES]
    return frames


@pytest.mark.parametrize("missing", ["listwise", "pairwise"])
def test_the_pooled_matrix_is_the_correlation_of_the_pooled_rows(sites, missing):
    """Each pair against numpy (listwise: ``corrcoef`` of the complete rows) or pandas
    (pairwise: ``DataFrame.corr``) on the pooled rows of the nodes that released the pair; a
    node that withheld it (a rare level of t2dm among its persons with a bmi) is named."""
    result = federated(sites, missing)
    frames = node_rows(sites)
    assert pd.concat(frames.values())["bmi"].isna().any()  # the deletion matters here
    assert result["nodes_contributing"] == ["a", "b", "c"]
    for pair in result["pairs"]:
        a, b = pair["row"], pair["column"]
        assert sorted([*pair["nodes"], *pair["nodes_suppressed"]]) == ["a", "b", "c"]
        rows = pd.concat([frames[n] for n in pair["nodes"]], ignore_index=True)
        if missing == "listwise":
            complete = rows.dropna()
            expected = np.corrcoef(complete[a], complete[b])[0, 1]
            size = len(complete)
        else:
            expected = rows[a].corr(rows[b])  # pandas: the pair's complete cases
            size = int(rows[[a, b]].notna().all(axis=1).sum())
        assert pair["r"] == pytest.approx(expected, abs=TOLERANCE)
        assert pair["n"] == size
    everywhere = [p for p in result["pairs"] if p["nodes"] == ["a", "b", "c"]]
    assert len(everywhere) >= 3  # most pairs pool all three nodes


def _pairs() -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(VARIABLES) for b in VARIABLES[i + 1 :]]


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(-1e3, 1e3, allow_nan=False), st.floats(-1e3, 1e3, allow_nan=False)),
        min_size=40,
        max_size=200,
    ),
    cuts=st.lists(st.integers(10, 30), min_size=1, max_size=3),
)
def test_pooling_any_split_of_rows_equals_numpy_on_all_of_them(data, cuts):
    x, y = np.asarray(data).T
    if np.ptp(x) < 1e-6 or np.ptp(y) < 1e-6:
        return  # a constant variable has no correlation
    bounds = np.cumsum([0, *cuts])
    bounds = [int(b) for b in bounds if b < len(x)] + [len(x)]
    pooled = Pooled()
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        rows = PairRows("age", "bmi", person_set(range(lo, hi)), x[lo:hi], y[lo:hi])
        pooled.add(f"n{k}", pair_sums(rows))  # what each node releases, ungated here
    assert pooled.n == len(x)
    assert pooled.r == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-9)


def pair_of(n: int, binary_ones: int | None = None) -> PairRows:
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    if binary_ones is None:
        return PairRows("age", "bmi", person_set(range(n)), x, rng.normal(size=n))
    y = np.r_[np.ones(binary_ones), np.zeros(n - binary_ones)]
    return PairRows("age", "t2dm", person_set(range(n)), x, y)


def test_a_pair_of_fewer_persons_than_the_threshold_is_suppressed():
    small, _ = released_pair(pair_of(DEFAULT.threshold - 1), DEFAULT)
    enough, _ = released_pair(pair_of(DEFAULT.threshold), DEFAULT)
    assert small.suppressed and small.n is None and "threshold" in small.rule
    assert not enough.suppressed and enough.n == DEFAULT.threshold


def test_a_binary_variable_with_a_rare_level_suppresses_its_pair():
    """Its sum is the count of persons with 1: a small count would be released exactly."""
    rare, _ = released_pair(pair_of(100, binary_ones=3), DEFAULT)
    common, _ = released_pair(pair_of(100, binary_ones=40), DEFAULT)
    almost_all, _ = released_pair(pair_of(100, binary_ones=97), DEFAULT)
    assert rare.suppressed and almost_all.suppressed
    assert not common.suppressed


def test_pairs_whose_populations_differ_by_a_few_persons_are_refused():
    """Subtracting the sums of age over (age, bmi) from those over (age, visits) would give
    the ages of the few persons without a bmi."""
    everyone = person_set(range(200))
    assert near_pairs([everyone, person_set(range(197))], DEFAULT.threshold)
    assert not near_pairs([everyone, everyone], DEFAULT.threshold)
    assert not near_pairs([everyone, person_set(range(150))], DEFAULT.threshold)


def test_a_node_refuses_a_pairwise_matrix_whose_pairs_differ_by_a_few_persons():
    """With bmi missing for 1..threshold-1 persons, pairwise deletion would release two
    populations that close: the node's gate refuses it; listwise deletion is released."""
    ids = np.arange(1, 61, dtype=np.int64)
    rng = np.random.default_rng(7)
    bmi = rng.normal(27, 4, size=60)
    bmi[:3] = np.nan  # three persons without a bmi
    columns = {
        "age": rng.normal(60, 9, size=60),
        "bmi": bmi,
        "visits_past_year": rng.poisson(3, 60) * 1.0,
    }
    correlation = REGISTRY["correlation"]
    outcomes = {}
    for missing in ("pairwise", "listwise"):
        parameters = correlation.parameters.model_validate(
            {"cohort": EVERYONE, "variables": list(columns), "missing": missing}
        )
        pairs = pair_rows(ids, columns, parameters)
        computed = Computed(BitMap.union(*(p.persons for p in pairs)), (pairs, parameters))
        outcomes[missing] = gate("p", "k", correlation, computed, DEFAULT, InMemoryPersonSetStore())
    assert (outcomes["pairwise"].status, outcomes["pairwise"].reason) == (
        "refused",
        ReasonCode.DIFFERENCING_RISK,
    )
    assert outcomes["listwise"].status == "succeeded"
    assert outcomes["listwise"].output["gate"]["verdict"] == "pass"


def test_the_hub_suppresses_a_pair_its_stricter_profile_would_not_release():
    pair, _ = released_pair(pair_of(40), DEFAULT)
    output = CorrelationOutput(
        variables=["age", "bmi"],
        missing="listwise",
        pairs=[pair],
        gate={"verdict": "pass", "profile": "default", "rules": []},
    )
    again = REGISTRY["correlation"].regate(
        output.model_dump(mode="json"), DEFAULT.at_least(threshold=50)
    )
    assert again["pairs"][0]["suppressed"] and again["pairs"][0]["n"] is None
    assert again["gate"]["verdict"] == "fail"


def test_a_pair_one_node_withheld_is_pooled_from_the_others_and_names_it():
    released, _ = released_pair(pair_of(40), DEFAULT)
    withheld, _ = released_pair(pair_of(5), DEFAULT)
    gate = {"verdict": "pass", "profile": "default", "rules": []}
    failed = {"verdict": "fail", "profile": "default", "rules": ["threshold"]}
    outputs = {
        "a": CorrelationOutput(
            variables=["age", "bmi"], missing="listwise", pairs=[released], gate=gate
        ),
        "b": CorrelationOutput(
            variables=["age", "bmi"], missing="listwise", pairs=[withheld], gate=failed
        ),
    }
    result = REGISTRY["correlation"].combine(
        {n: o.model_dump(mode="json") for n, o in outputs.items()}, ["c"], DEFAULT
    )
    [pair] = result["pairs"]
    assert pair["n"] == 40 and pair["nodes"] == ["a"] and pair["nodes_suppressed"] == ["b"]
    assert result["nodes_missing"] == ["c"]
