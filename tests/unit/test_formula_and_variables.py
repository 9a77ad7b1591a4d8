"""Formulas, the design matrix, and the analysis frame built from OMOP.

The design is compared with statsmodels' formula interface (patsy) on the same frame; the frame
with plain DuckDB SQL on a synthetic site."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from fivesafes.analyses.formula import FormulaError, design, parse_formula
from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate

FIXED = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y ~ age", "not a known variable"),
        ("lung_cancer ~ age + age", "appears twice"),
        ("lung_cancer ~ lung_cancer", "cannot also be a term"),
        ("lung_cancer ~ age * sex", "not a variable name"),
        ("lung_cancer ~ np.log(age)", "not a variable name"),
        ("sex ~ age", "numeric, binary or a count"),
        ("lung_cancer age", "exactly one '~'"),
        ("lung_cancer ~ ~ age", "exactly one '~'"),
    ],
)
def test_formulas_that_are_refused_say_why(text, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(text)


def test_the_design_codes_categories_as_statsmodels_formulas_do():
    rng = np.random.default_rng(0)
    n = 200
    columns = {
        "lung_cancer": rng.integers(0, 2, n).astype(float),
        "age": rng.integers(30, 90, n).astype(float),
        "sex": rng.integers(0, 2, n).astype(float),
        "smoker": rng.integers(-1, 3, n).astype(float),  # -1: missing
        "bmi": np.where(rng.random(n) < 0.1, np.nan, rng.normal(27, 4, n)),
    }
    ours = design(columns, parse_formula("lung_cancer ~ age + sex + smoker + bmi"))
    frame = pd.DataFrame(columns)
    frame["sex"] = pd.Categorical.from_codes(frame["sex"].astype(int), ["female", "male"])
    frame["smoker"] = pd.Categorical.from_codes(
        frame["smoker"].astype(int), ["never", "former", "current"]
    )
    model = smf.glm(
        "lung_cancer ~ age + C(sex, levels=['female', 'male']) "
        "+ C(smoker, levels=['never', 'former', 'current']) + bmi",
        frame,
    )
    reference = pd.DataFrame(model.exog, columns=model.exog_names)
    assert ours.missing == n - len(reference)
    by_name = {
        "Intercept": "Intercept",
        "age": "age",
        "bmi": "bmi",
        "sex[T.male]": "C(sex, levels=['female', 'male'])[T.male]",
        "smoker[T.former]": "C(smoker, levels=['never', 'former', 'current'])[T.former]",
        "smoker[T.current]": "C(smoker, levels=['never', 'former', 'current'])[T.current]",
    }
    for j, name in enumerate(ours.columns):
        np.testing.assert_array_equal(ours.x[:, j], reference[by_name[name]].to_numpy())
    np.testing.assert_array_equal(ours.y, model.endog)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("frame") / "cdm.duckdb"
    generate(path, 600, 17, "default")
    return path


def sql(site: Path, query: str) -> dict[int, float]:
    with duckdb.connect(str(site), read_only=True) as con:
        return {int(a): float(b) for a, b in con.execute(query).fetchall()}


def test_the_frame_matches_plain_sql(site):
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        names = ["age", "sex", "smoker", "bmi", "lung_cancer", "visits_past_year", "statin"]
        frame = analysis_frame(db, Cohort.model_validate(FIXED), names)
    got = {
        name: dict(zip(frame.person_ids.tolist(), frame.columns[name].tolist(), strict=True))
        for name in names
    }
    age = sql(site, "SELECT person_id, 2020 - year_of_birth FROM person")
    bmi = sql(
        site,
        """SELECT person_id, arg_max(value_as_number, measurement_date) FROM measurement
           WHERE measurement_concept_id = 3038553 AND value_as_number IS NOT NULL
             AND measurement_date <= DATE '2020-01-01'
             AND measurement_date > DATE '2020-01-01' - INTERVAL 1825 DAY
           GROUP BY person_id""",
    )
    smoker = sql(
        site,
        """SELECT person_id, CASE arg_max(value_as_concept_id, observation_date)
                 WHEN 45879404 THEN 0 WHEN 45883458 THEN 1 WHEN 45881517 THEN 2 END
           FROM observation WHERE observation_concept_id = 43054909
             AND observation_date <= DATE '2020-01-01' GROUP BY person_id""",
    )
    cancer = sql(
        site,
        """SELECT DISTINCT person_id, 1 FROM condition_occurrence
           WHERE condition_concept_id IN (SELECT descendant_concept_id FROM concept_ancestor
                                          WHERE ancestor_concept_id = 443388)""",
    )
    visits = sql(
        site,
        """SELECT person_id, count(*) FROM visit_occurrence
           WHERE visit_start_date < DATE '2020-01-01'
             AND visit_start_date >= DATE '2020-01-01' - INTERVAL 365 DAY GROUP BY person_id""",
    )
    statin = sql(
        site,
        """SELECT DISTINCT person_id, 1 FROM drug_exposure
           WHERE drug_concept_id IN (SELECT descendant_concept_id FROM concept_ancestor
                                     WHERE ancestor_concept_id = 1545958)
             AND drug_exposure_start_date <= DATE '2020-01-01'
             AND drug_exposure_start_date > DATE '2020-01-01' - INTERVAL 365 DAY""",
    )
    assert got["age"] == age
    assert {p for p, v in got["statin"].items() if v == 1} == set(statin)
    assert {p: v for p, v in got["bmi"].items() if not np.isnan(v)} == bmi
    assert {p: v for p, v in got["smoker"].items() if v >= 0} == smoker
    assert {p for p, v in got["lung_cancer"].items() if v == 1} == set(cancer)
    assert {p: v for p, v in got["visits_past_year"].items() if v > 0} == visits
    assert len(bmi) > 100 and len(cancer) > 0 and len(visits) > 100  # the test has teeth
    assert len(statin) > 10
