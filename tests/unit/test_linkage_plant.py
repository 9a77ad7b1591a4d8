"""The planted effect across hospitals (``linkage.plant``): smoking at one hospital drives lung
cancer at the other for the persons they share, and only a join of the two recovers it."""

from __future__ import annotations

import duckdb
import numpy as np
import statsmodels.api as sm

from fivesafes.data.synth import concepts as c
from fivesafes.data.synth import generate
from fivesafes.linkage.plant import plant_smoking_to_lung_cancer, shared_persons
from fivesafes.linkage.synth import read_persons, synthesise, write


def lung_cancer(database, persons) -> set[int]:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT person_id FROM condition_occurrence WHERE condition_concept_id IN "
            "(SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = ?)",
            [c.LUNG_CANCER],
        ).fetchall()
    return {int(p) for (p,) in rows} & set(persons)


def test_a_pooled_regression_recovers_the_planted_effect_and_the_hospitals_alone_do_not(tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    generate(a, 3000, 31, "northfield")
    generate(b, 3000, 32, "lakeside")
    records = synthesise({"north": read_persons(a), "lake": read_persons(b)}, overlap=0.5, seed=3)
    truth = write(records, tmp_path / "ids")["truth"]
    before = lung_cancer(b, [q for _, q in shared_persons(truth, "north", "lake")])
    planted = plant_smoking_to_lung_cancer(truth, ("north", a), ("lake", b), seed=5)
    pairs = shared_persons(truth, "north", "lake")
    assert planted.shared == len(pairs) >= 1000 and 0 < planted.exposed < planted.shared
    ill = lung_cancer(b, [q for _, q in pairs])
    assert len(ill) == planted.cases and ill != before

    from fivesafes.linkage.plant import _current_smokers

    exposed = _current_smokers(a, [p for p, _ in pairs])
    x = np.array([float(p in exposed) for p, _ in pairs])
    y = np.array([float(q in ill) for _, q in pairs])
    fit = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    low, high = fit.conf_int()[1]
    assert low < planted.current < high and low > 0, (fit.params, planted)
    # the second hospital's own smoking says nothing of the planted cancers
    own = _current_smokers(b, [q for _, q in pairs])
    x_own = np.array([float(q in own) for _, q in pairs])
    alone = sm.Logit(y, sm.add_constant(x_own)).fit(disp=0)
    assert alone.conf_int()[1][0] < 0.8 < planted.current

    again = plant_smoking_to_lung_cancer(truth, ("north", a), ("lake", b), seed=5)
    assert again == planted and lung_cancer(b, [q for _, q in pairs]) == ill  # deterministic
