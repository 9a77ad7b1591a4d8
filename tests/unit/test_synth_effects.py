"""The planted effects can be recovered from the synthetic data (unit; one slow test).

A logistic regression (Newton-Raphson in numpy; statsmodels is not a dependency) fitted
to 200,000 persons must recover each planted odds ratio within four standard errors.
The draws are seeded, so this is a fixed check, not a flaky one.
"""

import duckdb
import numpy as np
import pytest

from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import effects as fx
from fivesafes.data.synth import generate
from fivesafes.data.synth.generator import CHUNK_SIZE, persons_in_chunk

N = 200_000
TOLERANCE_SE = 4.0


def fit_logistic(x, y):
    """Maximum-likelihood logistic regression: (coefficients, standard errors)."""
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-x @ beta))
        hessian = x.T @ (x * (p * (1.0 - p))[:, None])
        step = np.linalg.solve(hessian, x.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return beta, np.sqrt(np.diag(np.linalg.inv(hessian)))


def assert_recovers(model, covariates):
    names = list(model.odds_ratios)
    x = np.column_stack([np.ones(len(covariates["age10"]))] + [covariates[n] for n in names])
    beta, se = fit_logistic(x, covariates[model.outcome].astype(np.float64))
    planted = np.array([model.intercept] + [np.log(model.odds_ratios[n]) for n in names])
    z = (beta - planted) / se
    assert np.all(np.abs(z) < TOLERANCE_SE), dict(zip(["intercept", *names], z, strict=True))


@pytest.fixture(scope="module")
def covariates():
    chunks = [persons_in_chunk(2024, "default", k, CHUNK_SIZE) for k in range(N // CHUNK_SIZE)]
    per_chunk = [{**p.covariates(), "death": (p.death_day >= 0) * 1.0} for p in chunks]
    return {k: np.concatenate([cov[k] for cov in per_chunk]) for k in per_chunk[0]}


@pytest.mark.parametrize("model", fx.planted_models(), ids=lambda m: m.outcome)
def test_planted_model_is_recovered(model, covariates):
    assert_recovers(model, covariates)


def test_lung_cancer_odds_ratios_are_the_documented_ones():
    assert fx.LUNG_CANCER_MODEL.odds_ratios == {
        "age10": 1.8,
        "current_smoker": 4.0,
        "former_smoker": 2.0,
        "female": 0.8,
        "bmi5": 1.0,
    }


def test_crude_smoking_odds_ratio_is_close_to_planted(covariates):
    # Smoking is drawn independently of age, sex and BMI, so even the crude odds ratio
    # (current vs never) sits near the planted 4.0.
    y = covariates["lung_cancer"] == 1
    current = covariates["current_smoker"] == 1
    never = (covariates["current_smoker"] == 0) & (covariates["former_smoker"] == 0)
    a, b = (y & current).sum(), (~y & current).sum()
    c_, d = (y & never).sum(), (~y & never).sum()
    assert (a * d) / (b * c_) == pytest.approx(4.0, rel=0.15)


# The analysis the demo runs, computed from the database the way a researcher would.
ANALYSIS_SQL = f"""
WITH lung AS (
    SELECT DISTINCT co.person_id FROM condition_occurrence co
    JOIN concept_ancestor ca ON ca.descendant_concept_id = co.condition_concept_id
    WHERE ca.ancestor_concept_id = {c.LUNG_CANCER}
), smoking AS (
    SELECT person_id, arg_max(value_as_concept_id, observation_date) AS status
    FROM observation
    WHERE observation_concept_id = {c.TOBACCO_SMOKING_STATUS}
      AND observation_date <= DATE '{fx.INDEX_DATE}'
    GROUP BY person_id
), bmi AS (
    SELECT person_id, arg_max(value_as_number, measurement_date) AS bmi
    FROM measurement
    WHERE measurement_concept_id = {c.BMI} AND measurement_date <= DATE '{fx.INDEX_DATE}'
    GROUP BY person_id
)
SELECT p.person_id,
       {fx.REFERENCE_YEAR} - p.year_of_birth AS age,
       (p.gender_concept_id = {c.FEMALE})::INTEGER AS female,
       (s.status = {c.CURRENT_SMOKER})::INTEGER AS current_smoker,
       (s.status = {c.FORMER_SMOKER})::INTEGER AS former_smoker,
       b.bmi,
       (l.person_id IS NOT NULL)::INTEGER AS lung_cancer
FROM person p
LEFT JOIN smoking s USING (person_id)
LEFT JOIN bmi b USING (person_id)
LEFT JOIN lung l USING (person_id)
ORDER BY p.person_id
"""


def analysis_dataset(path):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(ANALYSIS_SQL).fetchnumpy()


def as_covariates(data):
    return {
        "age10": (data["age"] - fx.AGE_CENTRE) / 10.0,
        "female": data["female"].astype(np.float64),
        "current_smoker": data["current_smoker"].astype(np.float64),
        "former_smoker": data["former_smoker"].astype(np.float64),
        "bmi5": (data["bmi"] - fx.BMI_CENTRE) / 5.0,
        "lung_cancer": data["lung_cancer"].astype(np.float64),
    }


@pytest.mark.slow
def test_lung_cancer_model_is_recovered_from_the_database(tmp_path):
    path = tmp_path / "big.duckdb"
    generate(path, N, 99, "northfield")
    assert_recovers(fx.LUNG_CANCER_MODEL, as_covariates(analysis_dataset(path)))
