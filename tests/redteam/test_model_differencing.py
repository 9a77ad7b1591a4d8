"""Attack 7, Huth et al. against a model's sufficient statistics: fit the same Gaussian model
on a cohort and on the same cohort without one person. For a linear model every round's XᵀWX
is XᵀX and XᵀWz is Xᵀy, so the difference of the two releases is that person's covariates and
outcome (its first entry, under the intercept, is the outcome itself).

| release                                  | naive node (threshold) | ours                   |
| ---------------------------------------- | ---------------------- | ---------------------- |
| round of ``bmi ~ age`` over everyone     | XᵀX, Xᵀy               | released, remembered   |
| the same round without the oldest person | XᵀX, Xᵀy               | refused: differencing  |
| difference of the two Xᵀy                | that person's BMI      | nothing to subtract    |
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fivesafes.analyses.formula import design, parse_formula
from fivesafes.analyses.variables import analysis_frame
from fivesafes.cohorts.criteria import Cohort
from fivesafes.protocol.runs import ReasonCode

EVERYONE: dict[str, Any] = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
MODEL = {"formula": "bmi ~ age", "family": "gaussian"}
STEP = {"step": "step", "beta": [0.0, 0.0]}


def rows(node, cohort):
    formula = parse_formula(MODEL["formula"])
    frame = analysis_frame(node.db, Cohort.model_validate(cohort), formula.variables)
    built = design(frame.columns, formula)
    return frame.person_ids[built.used], built.x, built.y


def without_one(node) -> tuple[dict[str, Any], float]:
    """An age bound that drops exactly one person of the model's complete cases, and their BMI."""
    ids, _, y = rows(node, EVERYONE)
    everyone = dict(zip(ids.tolist(), y.tolist(), strict=True))
    for top in range(110, 0, -1):
        cohort = {**EVERYONE, "name": "up to an age", "age": {"max": top}}
        kept, _, _ = rows(node, cohort)
        dropped = set(everyone) - set(kept.tolist())
        if len(dropped) == 1:
            return cohort, everyone[dropped.pop()]
    raise AssertionError("no single person to drop on this site")  # pragma: no cover


def test_the_attack_recovers_one_persons_bmi_through_a_threshold_only_node(node):
    cohort, secret = without_one(node)
    _, x_all, y_all = rows(node, EVERYONE)
    _, x_part, y_part = rows(node, cohort)
    assert len(y_all) >= 10 and len(y_part) >= 10  # each release passes a threshold
    recovered = (x_all.T @ y_all - x_part.T @ y_part)[0]
    assert recovered == pytest.approx(secret, abs=1e-9)


@pytest.mark.parametrize("order", ["whole first", "part first"])
def test_our_node_refuses_the_second_round_of_the_pair(node, order):
    cohort, _ = without_one(node)
    pair = [EVERYONE, cohort] if order == "whole first" else [cohort, EVERYONE]
    first, second = (node.ask(c, "glm", instruction=STEP, **MODEL) for c in pair)
    assert first.status == "succeeded", first.reason
    assert np.asarray(first.output["xtwz"]).shape == (2,)
    assert (second.status, second.reason, second.output) == (
        "refused",
        ReasonCode.DIFFERENCING_RISK,
        None,
    )
