"""Magnitude crosstabs: per cell the mean or sum of a named variable, judged as a magnitude by
the node's table checker, and pooled at the hub over the nodes that released the cell."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from fivesafes.analyses.crosstab import CrosstabOutput, CrosstabParameters
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import run_task
from fivesafes.protocol.models import CrosstabCell
from fivesafes.sdc import Checker
from fivesafes.sdc.gate import release_count
from fivesafes.sdc.profiles import ACRO, DEFAULT
from in_process import combine, regate, task_payload

AT_2018 = {"name": "everyone", "index": {"type": "fixed", "date": "2018-01-01"}}
BMI_BY_SEX = """
    SELECT p.person_id,
           CASE p.gender_concept_id WHEN 8532 THEN 'female' WHEN 8507 THEN 'male' END AS sex,
           arg_max(m.value_as_number, m.measurement_date) AS bmi
    FROM person p JOIN measurement m
      ON m.person_id = p.person_id AND m.measurement_concept_id = 3038553
     AND m.value_as_number IS NOT NULL
     AND m.measurement_date <= DATE '2018-01-01'
     AND m.measurement_date > DATE '2018-01-01' - INTERVAL 1825 DAY
    GROUP BY p.person_id, p.gender_concept_id
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crosstab-magnitude") / "cdm.duckdb"
    generate(path, 900, 41, "default")
    return path


def cells_by_key(cells):
    return {(c["row"], c["column"]): c for c in cells}


@pytest.mark.parametrize("statistic", ["mean", "sum"])
def test_a_node_releases_the_checkers_magnitudes_with_rounded_contributors(site, statistic):
    with duckdb.connect(str(site), read_only=True) as con:
        truth = con.execute(BMI_BY_SEX).df().dropna()
    truth["all"] = "all"
    asked = {"cohort": AT_2018, "rows": "sex", "value": "bmi", "statistic": statistic}
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        outcome = run_task(task_payload("crosstab", asked), db, DEFAULT, InMemoryPersonSetStore())
    assert outcome.status == "succeeded"
    out = CrosstabOutput.model_validate(outcome.output)
    assert (out.value, out.statistic) == ("bmi", statistic)
    expected = Checker(DEFAULT).crosstab(
        truth, index="sex", columns="all", values="bmi", aggfunc=statistic
    )
    got = cells_by_key(c.model_dump() for c in out.cells)
    for sex in ("female", "male"):
        value = expected.table.loc[sex, "all"]
        cell = got[(sex, "all")]
        if pd.isna(value):
            assert cell["value"] is None and cell["count"]["suppressed"]
            continue
        assert cell["value"] == pytest.approx(float(value), rel=1e-12)
        persons = int((truth["sex"] == sex).sum())
        assert cell["count"]["value"] == release_count(persons, DEFAULT).value
    assert sum(1 for c in out.cells if c.value is not None) >= 1


def test_a_statistic_needs_a_value_and_the_value_must_be_numeric():
    with pytest.raises(ValueError, match="needs a value"):
        CrosstabParameters.model_validate({"cohort": AT_2018, "rows": "sex", "statistic": "sum"})
    with pytest.raises(ValueError, match="literal_error"):
        CrosstabParameters.model_validate({"cohort": AT_2018, "rows": "sex", "value": "smoker"})
    default = CrosstabParameters.model_validate({"cohort": AT_2018, "rows": "sex", "value": "bmi"})
    assert default.statistic == "mean"


def test_the_wire_form_never_carries_a_magnitude_without_its_count():
    hidden = {"value": None, "suppressed": True, "rule": "threshold"}
    with pytest.raises(ValueError, match="only with its count"):
        CrosstabCell.model_validate({"row": "a", "column": "b", "count": hidden, "value": 3.0})
    shown = {"value": 20, "suppressed": False, "rule": "rounded"}
    cell = {"row": "a", "column": "b", "count": shown, "value": 3.0}
    gate = {"verdict": "pass", "profile": "default"}
    with pytest.raises(ValueError, match="no magnitudes"):
        CrosstabOutput.model_validate({"rows": "a", "columns": None, "cells": [cell], "gate": gate})


def node_table(groups: dict[str, np.ndarray], statistic: str, profile) -> dict:
    """A node's magnitude table over ``groups`` (level -> values), by the real checker."""
    from fivesafes.analyses.crosstab import ALL, NodeTable, released_cells
    from fivesafes.sdc.differencing import person_set

    data = pd.concat(
        [pd.DataFrame({"sex": level, "bmi": values}) for level, values in groups.items()],
        ignore_index=True,
    )
    data["person_id"] = np.arange(len(data))
    data[ALL] = ALL
    output = Checker(profile).crosstab(
        data, index="sex", columns=ALL, values="bmi", aggfunc=statistic, person="person_id"
    )
    table = NodeTable(
        person_set(data["person_id"].to_numpy()), output, data.groupby(["sex", ALL]).size()
    )
    cells = released_cells(table, (("female", "male"), (ALL,)), profile)
    verdict = "pass" if output.verdict.value == "pass" else "fail"
    return CrosstabOutput(
        rows="sex",
        columns=None,
        cells=cells,
        gate={"verdict": verdict, "profile": profile.name},
        value="bmi",
        statistic=statistic,
    ).model_dump(mode="json")


@pytest.mark.parametrize("statistic", ["mean", "sum"])
def test_the_hub_pools_each_cell_over_the_nodes_that_released_it(statistic):
    rng = np.random.default_rng(7)
    nodes = {
        "a": {"female": rng.normal(27, 4, 300), "male": rng.normal(28, 4, 250)},
        "b": {"female": rng.normal(25, 4, 800), "male": rng.normal(29, 4, 4)},  # a rare cell
        "c": {"female": rng.normal(26, 4, 120), "male": rng.normal(27, 4, 90)},
    }
    outputs = {
        n: regate("crosstab", node_table(g, statistic, ACRO), ACRO) for n, g in nodes.items()
    }
    pooled = cells_by_key(combine("crosstab", outputs, [], ACRO)["cells"])
    for level in ("female", "male"):
        shown = [n for n in nodes if cells_by_key(outputs[n]["cells"])[(level, "all")]["value"]]
        values = np.concatenate([nodes[n][level] for n in shown])
        expected = values.mean() if statistic == "mean" else values.sum()
        cell = pooled[(level, "all")]
        assert cell["value"] == pytest.approx(expected, rel=1e-12)
        assert cell["count"]["value"] == len(values)  # acro: no rounding
        assert cell["nodes_suppressed"] == sorted(set(nodes) - set(shown))
    # 4 men at b: suppressed there (and, by secondary suppression, b's women too)
    assert pooled[("male", "all")]["nodes_suppressed"] == ["b"]


def test_a_stricter_hub_hides_the_magnitude_with_its_count():
    rng = np.random.default_rng(3)
    table = node_table(
        {"female": rng.normal(27, 4, 40), "male": rng.normal(27, 4, 15)}, "mean", ACRO
    )
    again = regate("crosstab", table, ACRO.at_least(threshold=20))
    male = cells_by_key(again["cells"])[("male", "all")]
    assert male["count"]["suppressed"] and male["value"] is None
    assert again["gate"]["verdict"] == "fail"
