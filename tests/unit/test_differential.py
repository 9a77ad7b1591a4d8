"""Differential tests: every analysis over three unbalanced nodes, in this process, against the
same analysis on the pooled rows in numpy, pandas, statsmodels or lifelines.

The nodes are small OMOP CDMs written here (DuckDB) from values drawn with numpy, so the
reference is computed from those values and never from the platform's own variable builder.
Each node runs the real node part (``run_task``: analysis frame, checker, gate), the hub part
re-gates every output and combines them (``fivesafes.hub.combine``; for models the hub's own
round step, ``fivesafes.hub.rounds``). Only the database of the hub and the network are left
out (tests/integration covers them).

| node       | persons | smoker: never / former / current / missing | aged 85 or more |
| ---------- | ------- | ------------------------------------------ | --------------- |
| northfield | 900     | 400 / 250 / 160 / 90                       | 25              |
| riverside  | 150     | 100 / 31 / **4** (rare: suppressed there)  | **3** (rare)    |
| lakeside   | 400     | 260 / **0** (absent there) / 100 / 40      | 0               |

Every test runs twice: with every node answering, and with lakeside failing (its data source
raises), when the result must name lakeside and equal the reference on the other two nodes.
Profile ``acro`` (threshold 10, no rounding), so counts, means and sds are exact.
Tolerances: GLM 1e-8 relative (statsmodels), Cox 1e-8 (statsmodels ``PHReg`` Breslow; day
resolution times have ties), Kaplan-Meier 1e-10 (lifelines on times coarsened up to the common
boundaries), summaries and tables 1e-12 (numpy, pandas)."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import KaplanMeierFitter
from statsmodels.stats.meta_analysis import combine_effects

from fivesafes.analyses import model_node
from fivesafes.analyses.cox import Newton
from fivesafes.analyses.glm import IRLS, ModelRoundOutput
from fivesafes.analyses.glm import Instruction as Step
from fivesafes.analyses.registry import REGISTRY
from fivesafes.client.results import (
    CountResult,
    CrosstabResult,
    GroupedSummaryResult,
    KaplanMeierResult,
    MetaResult,
    SummaryResult,
)
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource, OmopDatabase
from fivesafes.hub import rounds
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import run_task
from fivesafes.protocol.models import Instruction, RunView, TaskView
from fivesafes.protocol.runs import REASON_TEXT, ReasonCode, RunState
from fivesafes.sdc.profiles import ACRO, DEFAULT, Profile
from fixtures_omop import FEMALE, MALE, OmopRows, write_duckdb
from in_process import combine, regate, task_payload

INDEX = date(2015, 1, 1)
COHORT = {"name": "everyone", "index": {"type": "fixed", "date": INDEX.isoformat()}}
SMOKING_STATUS, BMI, LUNG_CANCER, KG_M2 = 43054909, 3038553, 443388, 9531
LEVELS = ("never", "former", "current")
LEVEL_CONCEPTS = (45879404, 45883458, 45881517)
SEXES = ("female", "male")
THRESHOLD = ACRO.threshold
AGE_EDGES = [0.0, 40.0, 55.0, 70.0, 85.0, 130.0]

# persons per smoking level (never, former, current, missing) and persons aged 85 or more
SITES = {
    "northfield": ((400, 250, 160, 90), 25, 1),
    "riverside": ((100, 31, 4, 15), 3, 2),
    "lakeside": ((260, 0, 100, 40), 0, 3),
}


def draw(levels: tuple[int, ...], old: int, seed: int) -> pd.DataFrame:
    """One node's persons: what the OMOP rows will say, as the reference reads it."""
    rng = np.random.default_rng(seed)
    n = sum(levels)
    smoker = rng.permutation(np.repeat([0, 1, 2, -1], levels))
    year_of_birth = rng.integers(1932, 1991, n)  # aged 24 to 83 at the index date
    year_of_birth[rng.choice(n, old, replace=False)] = 1928 - rng.integers(0, 5, old)
    age = (INDEX.year - year_of_birth).astype(float)
    sex = rng.integers(0, 2, n)
    bmi = np.round(rng.normal(27.0 + 0.5 * sex, 4.0, n), 1)
    bmi[rng.random(n) < 0.15] = np.nan
    follow_up = rng.integers(200, 3500, n)  # days observed after the index date
    hazard = np.exp(
        -10.3
        + 0.035 * age
        + 0.9 * (smoker == 2)
        + 0.4 * (smoker == 1)
        + 0.3 * sex
        + 0.02 * np.nan_to_num(bmi, nan=27.0)
    )
    onset = np.ceil(rng.exponential(1.0 / hazard)).astype(int)  # days to lung cancer
    event = onset <= follow_up
    days = np.where(event, onset, follow_up)
    return pd.DataFrame(
        {
            "person_id": np.arange(1, n + 1) + 100_000 * seed,
            "year_of_birth": year_of_birth,
            "age": age,
            "sex": sex,
            "smoker": smoker,
            "bmi": bmi,
            "days": days,
            "follow_up": follow_up,
            "time": days / 365.25,
            "event": event.astype(float),
        }
    )


def omop(persons: pd.DataFrame) -> OmopRows:
    rows = OmopRows(concepts=[SMOKING_STATUS, BMI, LUNG_CANCER, KG_M2, *LEVEL_CONCEPTS])
    for p in persons.itertuples():
        person = int(p.person_id)
        rows.person.append((person, MALE if p.sex else FEMALE, int(p.year_of_birth)))
        end = INDEX + timedelta(days=int(p.follow_up))
        rows.observation_period.append((person, "2005-01-01", end.isoformat()))
        if p.smoker >= 0:
            concept = LEVEL_CONCEPTS[int(p.smoker)]
            rows.observation.append((person, SMOKING_STATUS, "2012-06-01", concept))
        if not np.isnan(p.bmi):
            rows.measurement.append((person, BMI, "2013-03-01", float(p.bmi), KG_M2))
        if p.event:
            onset = INDEX + timedelta(days=int(p.days))
            rows.condition.append((person, LUNG_CANCER, onset.isoformat()))
    return rows


class FailingDatabase:
    """A node whose data source is down: every query raises."""

    def table(self, name: str) -> Any:
        raise RuntimeError("the data source is unavailable")


@dataclass
class Node:
    truth: pd.DataFrame
    db: OmopDatabase


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> Iterator[dict[str, Node]]:
    root: Path = tmp_path_factory.mktemp("differential")
    opened = {}
    for name, (levels, old, seed) in SITES.items():
        truth = draw(levels, old, seed)
        path = write_duckdb(omop(truth).tables(), root / f"{name}.duckdb")
        opened[name] = Node(truth, open_omop(DuckDBSource(engine="duckdb", path=path)))
    yield opened
    for node in opened.values():
        node.db.close()


@pytest.fixture(params=[None, "lakeside"], ids=["all-answer", "lakeside-fails"])
def failing(request) -> str | None:
    return request.param


def answering(nodes: dict[str, Node], failing: str | None) -> list[str]:
    return sorted(n for n in nodes if n != failing)


def databases(nodes: dict[str, Node], failing: str | None) -> dict[str, Any]:
    return {n: FailingDatabase() if n == failing else node.db for n, node in nodes.items()}


def federate(
    analysis: str, parameters: dict[str, Any], dbs: dict[str, Any], profile: Profile = ACRO
) -> dict[str, Any]:
    """Every node's part, the hub's regate of each success, and the hub's combination (the
    nodes that did not succeed are the task's missing nodes, as ``hub.runs`` passes them)."""
    task = task_payload(analysis, parameters)
    outputs, missing = {}, []
    for name, db in sorted(dbs.items()):
        outcome = run_task(task, db, profile, InMemoryPersonSetStore())
        if outcome.status == "succeeded":
            assert outcome.output is not None
            outputs[name] = regate(analysis, outcome.output, profile)
        else:
            missing.append(name)
    return combine(analysis, outputs, missing, profile)


@dataclass
class Fitted:
    fit: dict[str, Any]
    contributing: list[str]
    left_out: dict[str, ReasonCode | None]


def fit_in_rounds(
    analysis: str, parameters: dict[str, Any], dbs: dict[str, Any], monkeypatch
) -> Fitted:
    """A GLM or Cox task round by round: each node's part under the hub's instruction, the
    hub's own step on the re-gated outputs (the analysis's ``rounds.step``). As the hub does,
    a node that does not succeed at round 0 is left out; one that drops out later is an
    error."""
    task = task_payload(analysis, parameters)
    own = REGISTRY[analysis].rounds
    assert own is not None
    progress = rounds.first_round(
        SimpleNamespace(analysis=analysis, payload=task.model_dump()), own
    )
    if "newton" in progress:
        step = Step("step", beta=Newton.from_state(progress["newton"]).first())
    else:
        step = IRLS.from_state(progress["irls"]).first()
    caches: dict[str, OrderedDict[str, Any]] = {n: OrderedDict() for n in dbs}
    stores = {n: InMemoryPersonSetStore() for n in dbs}
    in_fit, left_out = sorted(dbs), {}
    for round_ in range(200):
        wire = Instruction(
            task_id=task.task_id, round=round_, step=step.step, ybar=step.ybar, beta=step.beta
        )
        outputs = []
        for name in list(in_fit):
            # each node is its own process: its cache of model shares is its own
            monkeypatch.setattr(model_node, "_shares", caches[name])
            outcome = run_task(task, dbs[name], ACRO, stores[name], wire)
            if outcome.status != "succeeded":
                assert round_ == 0, f"{name} dropped out at round {round_}"
                left_out[name] = outcome.reason
                in_fit.remove(name)
                continue
            assert outcome.output is not None
            output = regate(analysis, outcome.output, ACRO)
            outputs.append(ModelRoundOutput.model_validate(output).model_dump(mode="json"))
        following, fit = own.step(progress, outputs, ACRO)
        if following is None:
            assert fit is not None
            return Fitted(fit, in_fit, left_out)
        step = following
    raise AssertionError("no fit in 200 rounds")


def rounded(n: int, base: int) -> int:
    """Half up to a multiple of ``base``, written out again here."""
    return (2 * n + base) // (2 * base) * base  # floor(n / base + 1/2)


# ---- count --------------------------------------------------------------------------------

CURRENT_SMOKERS = {
    "name": "current smokers",
    "criteria": [
        {"domain": "observation", "concepts": [SMOKING_STATUS], "value_concepts": [45881517]}
    ],
}


@pytest.mark.parametrize("profile", [ACRO, DEFAULT], ids=lambda p: p.name)
def test_count_is_the_pooled_count_of_the_nodes_that_released(nodes, failing, profile):
    result = federate("count", {"cohort": CURRENT_SMOKERS}, databases(nodes, failing), profile)
    present = answering(nodes, failing)
    per_node = {n: int((nodes[n].truth["smoker"] == 2).sum()) for n in present}
    released = {n: k for n, k in per_node.items() if k >= profile.threshold}
    assert result["nodes_suppressed"] == ["riverside"]  # 4 current smokers there
    assert result["nodes_contributing"] == sorted(released)
    assert result["nodes_missing"] == ([failing] if failing else [])
    total = sum(rounded(k, profile.rounding_base) for k in released.values())
    assert result["total"]["value"] == rounded(total, profile.rounding_base)
    if profile is ACRO:  # no rounding: the pooled rows' own count
        pooled = pd.concat([nodes[n].truth for n in released])
        assert result["total"]["value"] == int((pooled["smoker"] == 2).sum())


# ---- summaries ------------------------------------------------------------------------------


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Persons per bin, outer bins open, inner ones [a, b): counted here with numpy."""
    inner = np.searchsorted(edges, values, side="right") - 1
    return np.bincount(np.clip(inner, 0, len(edges) - 2), minlength=len(edges) - 1)


@pytest.mark.parametrize("variable", ["age", "bmi"])
def test_summary_equals_numpy_on_the_pooled_rows(nodes, failing, variable):
    edges = [0.0, 30.0, 45.0, 60.0, 75.0, 90.0] if variable == "age" else [15.0, 25.0, 30.0, 40.0]
    parameters = {"cohort": COHORT, "variable": variable, "edges": edges}
    result = federate("summary", parameters, databases(nodes, failing))
    present = answering(nodes, failing)
    assert (result["nodes_contributing"], result["nodes_suppressed"]) == (present, [])
    assert result["nodes_missing"] == ([failing] if failing else [])
    pooled = pd.concat([nodes[n].truth for n in present])[variable].to_numpy()
    values = pooled[~np.isnan(pooled)]
    assert result["n"]["value"] == len(values)
    assert result["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert result["sd"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    # the missing count is the sum of those released; a node with fewer than the threshold
    # missing (here: none for age) suppresses its own and is named
    missing = {n: int(nodes[n].truth[variable].isna().sum()) for n in present}
    shown = {n: k for n, k in missing.items() if k >= THRESHOLD}
    assert (result["missing"] or 0) == sum(shown.values())
    assert result["missing_suppressed"] == sorted(set(present) - set(shown))
    counts = bin_counts(values, edges)
    for cell, count in zip(result["bins"], counts, strict=True):
        if not cell["nodes_suppressed"]:
            assert cell["count"]["value"] == count
        else:  # a lower bound: what the other nodes released
            assert (cell["count"]["value"] or 0) < count


def test_summary_by_a_factor_pools_each_level_over_the_nodes_that_released_it(nodes, failing):
    parameters = {"cohort": COHORT, "variable": "bmi", "by": "smoker"}
    result = federate("summary", parameters, databases(nodes, failing))
    present = answering(nodes, failing)
    assert result["nodes_contributing"] == present
    assert result["nodes_missing"] == ([failing] if failing else [])
    assert set(result["groups"]) == set(LEVELS)
    for code, level in enumerate(LEVELS):
        group = result["groups"][level]
        have = {
            n: nodes[n].truth.loc[nodes[n].truth["smoker"] == code, "bmi"].dropna().to_numpy()
            for n in present
        }
        shown = sorted(n for n, v in have.items() if len(v) >= THRESHOLD)
        assert group["nodes_contributing"] == shown, level
        assert group["nodes_suppressed"] == sorted(set(present) - set(shown)), level
        values = np.concatenate([have[n] for n in shown])
        assert group["n"]["value"] == len(values)
        assert group["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert group["sd"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    # the rare level at riverside and the absent one at lakeside are suppressed there
    assert "riverside" in result["groups"]["current"]["nodes_suppressed"]
    if failing is None:
        assert result["groups"]["former"]["nodes_suppressed"] == ["lakeside"]


# ---- tables ----------------------------------------------------------------------------------


def level_names(truth: pd.DataFrame) -> pd.DataFrame:
    known = truth[truth["smoker"] >= 0]
    return known.assign(
        smoker=np.asarray(LEVELS, dtype=object)[known["smoker"].to_numpy()],
        sex=np.asarray(SEXES, dtype=object)[known["sex"].to_numpy()],
    )


def check_cells(result, per_node_truth, nodes_present, cell_truth):
    """Released cells hold the truth, the pooled cell the sum over the nodes that released it;
    a cell under the threshold at a node is suppressed there."""
    for cell in result["cells"]:
        key = (cell["row"], cell["column"])
        counts = {n: cell_truth(per_node_truth[n], key) for n in nodes_present}
        shown = [n for n in nodes_present if n not in cell["nodes_suppressed"]]
        for n, k in counts.items():
            if 0 < k < THRESHOLD:
                assert n in cell["nodes_suppressed"], (key, n)
        if shown:
            assert cell["count"]["value"] == sum(counts[n] for n in shown), key
        else:
            assert cell["count"]["value"] is None, key
    return {(c["row"], c["column"]): c for c in result["cells"]}


def test_crosstab_equals_pandas_on_the_pooled_rows(nodes, failing):
    parameters = {"cohort": COHORT, "rows": "smoker", "columns": "sex"}
    result = federate("crosstab", parameters, databases(nodes, failing))
    present = answering(nodes, failing)
    assert result["nodes_contributing"] == present
    assert result["nodes_missing"] == ([failing] if failing else [])
    tables = {
        n: pd.crosstab(level_names(nodes[n].truth)["smoker"], level_names(nodes[n].truth)["sex"])
        for n in present
    }

    def truth(table, key):
        row, column = key
        return int(table.loc[row, column]) if row in table.index and column in table else 0

    cells = check_cells(result, tables, present, truth)
    assert len(cells) == len(LEVELS) * len(SEXES)
    for sex in SEXES:
        assert "riverside" in cells[("current", sex)]["nodes_suppressed"]
        if failing is None:
            assert "lakeside" in cells[("former", sex)]["nodes_suppressed"]
    if failing is None:  # nothing suppressed among never smokers: the pooled table itself
        pooled = pd.crosstab(
            *(
                level_names(pd.concat([v.truth for v in nodes.values()], ignore_index=True))[c]
                for c in ("smoker", "sex")
            )
        )
        for sex in SEXES:
            assert cells[("never", sex)]["count"]["value"] == pooled.loc["never", sex]


@pytest.mark.parametrize("statistic", ["mean", "sum"])
def test_magnitude_crosstab_equals_numpy_over_the_nodes_that_released_each_cell(
    nodes, failing, statistic
):
    parameters = {
        "cohort": COHORT,
        "rows": "smoker",
        "columns": "sex",
        "value": "bmi",
        "statistic": statistic,
    }
    result = federate("crosstab", parameters, databases(nodes, failing))
    present = answering(nodes, failing)
    assert result["nodes_contributing"] == present
    assert result["nodes_missing"] == ([failing] if failing else [])
    with_bmi = {n: level_names(nodes[n].truth).dropna(subset=["bmi"]) for n in present}

    def persons(frame, key):
        return int(((frame["smoker"] == key[0]) & (frame["sex"] == key[1])).sum())

    cells = check_cells(result, with_bmi, present, persons)
    for (row, column), cell in cells.items():
        shown = [n for n in present if n not in cell["nodes_suppressed"]]
        if not shown:
            assert cell["value"] is None
            continue
        pooled = pd.concat([with_bmi[n] for n in shown])
        values = pooled.loc[(pooled["smoker"] == row) & (pooled["sex"] == column), "bmi"]
        expected = values.mean() if statistic == "mean" else values.sum()
        assert cell["value"] == pytest.approx(expected, rel=1e-12), (row, column)
    assert "riverside" in cells[("current", "male")]["nodes_suppressed"]


def test_histogram_equals_numpy_on_the_pooled_rows(nodes, failing):
    parameters = {"cohort": COHORT, "variable": "age", "edges": AGE_EDGES}
    result = federate("histogram", parameters, databases(nodes, failing))
    present = answering(nodes, failing)
    assert result["nodes_contributing"] == present
    assert result["nodes_missing"] == ([failing] if failing else [])
    counts = {n: np.histogram(nodes[n].truth["age"], bins=AGE_EDGES)[0] for n in present}
    assert len(result["cells"]) == len(AGE_EDGES) - 1
    for b, cell in enumerate(result["cells"]):
        shown = [n for n in present if n not in cell["nodes_suppressed"]]
        for n in present:
            if 0 < counts[n][b] < THRESHOLD:
                assert n in cell["nodes_suppressed"]
        assert cell["count"]["value"] == sum(int(counts[n][b]) for n in shown)
    oldest = result["cells"][-1]
    # 3 persons aged 85 or more at riverside; none at lakeside, whose released 0 the hub
    # hides under acro's zeros rule (docs/analyses.md), which leaves the sum as it is
    assert "riverside" in oldest["nodes_suppressed"]
    assert oldest["count"]["value"] == SITES["northfield"][1]  # and lakeside has none
    pooled = np.histogram(pd.concat([nodes[n].truth for n in present])["age"], AGE_EDGES)[0]
    unsuppressed = [c["count"]["value"] for c in result["cells"] if not c["nodes_suppressed"]]
    assert unsuppressed == [
        int(k) for k, c in zip(pooled, result["cells"], strict=True) if not c["nodes_suppressed"]
    ]


# ---- Kaplan-Meier ------------------------------------------------------------------------------

INTERVAL, HORIZON = 0.5, 8.0


def test_kaplan_meier_by_level_equals_lifelines_on_the_coarsened_pooled_rows(nodes, failing):
    parameters = {
        "cohort": COHORT,
        "time": "time_to_lung_cancer",
        "by": "smoker",
        "interval": INTERVAL,
        "horizon": HORIZON,
    }
    result = federate("km", parameters, databases(nodes, failing))
    present = answering(nodes, failing)
    assert result["nodes_contributing"] == present
    assert result["nodes_missing"] == ([failing] if failing else [])
    for code, level in enumerate(LEVELS):
        group = result["groups"][level]
        members = {n: nodes[n].truth[nodes[n].truth["smoker"] == code] for n in present}
        shown = sorted(n for n, m in members.items() if len(m) >= THRESHOLD)
        assert group["nodes_contributing"] == shown, level
        assert group["nodes_suppressed"] == sorted(set(present) - set(shown)), level
        for n in shown:  # each node's blocks: everyone at the start, threshold leavers each
            released = group["nodes_blocks"][n]
            assert released[0]["start"] == 0.0 and released[-1]["end"] == HORIZON
            assert released[0]["at_risk"] == len(members[n])
            assert all(b["events"] + b["censored"] >= THRESHOLD for b in released)
        ends = [{b["end"] for b in group["nodes_blocks"][n]} for n in shown]
        common = sorted(set.intersection(*ends))
        pooled = pd.concat([members[n] for n in shown])
        time, event = pooled["time"].to_numpy(), pooled["event"].to_numpy()
        event = np.where(time > HORIZON, 0.0, event)
        coarse = np.asarray(common)[np.searchsorted(common, np.minimum(time, HORIZON))]
        fitter = KaplanMeierFitter().fit(coarse, event)
        curve = group["curve"]
        assert [p["time"] for p in curve] == common
        expected = fitter.survival_function_.loc[common].iloc[:, 0].to_numpy()
        np.testing.assert_allclose([p["survival"] for p in curve], expected, rtol=1e-10)
        ci = fitter.confidence_interval_survival_function_.loc[common].to_numpy()
        usable = ~np.isnan(ci).any(axis=1) & (expected > 0) & (expected < 1)
        np.testing.assert_allclose(
            np.array([p["lower"] for p in curve])[usable], ci[usable, 0], rtol=1e-10
        )
        np.testing.assert_allclose(
            np.array([p["upper"] for p in curve])[usable], ci[usable, 1], rtol=1e-10
        )
        at_risk = fitter.event_table.loc[common, "at_risk"].to_numpy()
        assert [p["at_risk"] for p in curve] == at_risk.tolist()
    assert "riverside" in result["groups"]["current"]["nodes_suppressed"]


# ---- models ------------------------------------------------------------------------------------


def design(
    frame: pd.DataFrame, terms: list[str], intercept: bool = True
) -> tuple[np.ndarray, list[str]]:
    """statsmodels' treatment coding of the catalogue's variables, written out here."""
    columns, names = [], []
    if intercept:
        columns.append(np.ones(len(frame)))
        names.append("Intercept")
    for term in terms:
        if term == "sex":
            columns.append(frame["sex"].to_numpy(dtype=float))
            names.append("sex[T.male]")
        elif term == "smoker":
            for code, level in enumerate(LEVELS[1:], start=1):
                columns.append((frame["smoker"] == code).to_numpy(dtype=float))
                names.append(f"smoker[T.{level}]")
        elif term == "lung_cancer":
            columns.append(frame["event"].to_numpy(dtype=float))
            names.append("lung_cancer")
        else:
            columns.append(frame[term].to_numpy(dtype=float))
            names.append(term)
    return np.column_stack(columns), names


def complete(frame: pd.DataFrame, terms: list[str]) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    if "smoker" in terms:
        keep &= frame["smoker"].to_numpy() >= 0
    if "bmi" in terms:
        keep &= ~frame["bmi"].isna().to_numpy()
    return frame[keep]


GLMS = {
    # (formula, family, outcome column, terms); riverside's 4 current smokers are a rare level
    "binomial-with-a-rare-level": (
        "lung_cancer ~ age + sex + smoker + bmi",
        "binomial",
        "event",
        ["age", "sex", "smoker", "bmi"],
    ),
    "gaussian": ("bmi ~ age + sex + lung_cancer", "gaussian", "bmi", ["age", "sex", "lung_cancer"]),
}


@pytest.mark.parametrize("case", GLMS)
def test_glm_equals_statsmodels_on_the_pooled_rows_of_the_nodes_in_the_fit(
    nodes, failing, case, monkeypatch
):
    formula, family, outcome, terms = GLMS[case]
    parameters = {"cohort": COHORT, "formula": formula, "family": family}
    fitted = fit_in_rounds("glm", parameters, databases(nodes, failing), monkeypatch)
    present = answering(nodes, failing)
    rare = "smoker" in terms
    expected_in = [n for n in present if not (rare and n == "riverside")]
    assert fitted.contributing == expected_in
    assert fitted.left_out.get("riverside") == (ReasonCode.MODEL_REFUSED if rare else None)
    if failing:
        assert fitted.left_out[failing] is ReasonCode.INTERNAL_ERROR
    frame = complete(pd.concat([nodes[n].truth for n in expected_in]), [outcome, *terms])
    x, names = design(frame, terms)
    y = frame[outcome].to_numpy(dtype=float)
    families = {"binomial": sm.families.Binomial(), "gaussian": sm.families.Gaussian()}
    ref = sm.GLM(y, x, family=families[family]).fit()
    fit = fitted.fit
    assert fit["names"] == names
    np.testing.assert_allclose(fit["params"], ref.params, rtol=1e-8)
    np.testing.assert_allclose(fit["bse"], ref.bse, rtol=1e-8)
    np.testing.assert_allclose(fit["conf_int"], ref.conf_int(), rtol=1e-8)
    assert fit["aic"] == pytest.approx(ref.aic, rel=1e-8)
    assert fit["deviance"] == pytest.approx(ref.deviance, rel=1e-8)
    assert (fit["nobs"], fit["iterations"]) == (len(y), ref.fit_history["iteration"])


COXES = {
    "three-strata": ["age", "sex", "bmi"],
    "a-rare-level": ["age", "sex", "smoker"],  # riverside refuses: 4 current smokers
}


@pytest.mark.parametrize("case", COXES)
def test_cox_stratified_by_node_equals_statsmodels_breslow(nodes, failing, case, monkeypatch):
    terms = COXES[case]
    parameters = {"cohort": COHORT, "formula": "time_to_lung_cancer ~ " + " + ".join(terms)}
    fitted = fit_in_rounds("coxph", parameters, databases(nodes, failing), monkeypatch)
    present = answering(nodes, failing)
    expected_in = [n for n in present if not ("smoker" in terms and n == "riverside")]
    assert fitted.contributing == expected_in
    assert set(fitted.left_out) == set(nodes) - set(expected_in)
    frame = pd.concat(
        [complete(nodes[n].truth, terms).assign(node=n) for n in expected_in], ignore_index=True
    )
    x, names = design(frame, terms, intercept=False)
    ref = sm.PHReg(
        frame["time"].to_numpy(),
        x,
        status=frame["event"].to_numpy(),
        strata=frame["node"].to_numpy(),
        ties="breslow",
    ).fit()
    fit = fitted.fit
    assert fit["names"] == names
    np.testing.assert_allclose(fit["params"], ref.params, rtol=1e-8)
    np.testing.assert_allclose(fit["bse"], ref.bse, rtol=1e-8)
    assert fit["loglik"] == pytest.approx(ref.llf, rel=1e-10)
    assert (fit["n"], fit["events"]) == (len(frame), int(frame["event"].sum()))


# ---- meta-analysis -------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' negative DL tau², see meta
@pytest.mark.parametrize(
    "terms",
    [["age", "sex", "bmi"], ["age", "sex", "smoker", "bmi"]],
    ids=["all-fit", "rare-and-absent-levels"],
)
def test_meta_analysis_equals_statsmodels_fits_and_combine_effects(
    nodes, failing, terms, monkeypatch
):
    parameters = {
        "cohort": COHORT,
        "formula": "lung_cancer ~ " + " + ".join(terms),
        "family": "binomial",
    }
    task = task_payload("meta", parameters)
    outputs, missing, reasons = {}, [], {}
    for name, db in sorted(databases(nodes, failing).items()):
        monkeypatch.setattr(model_node, "_shares", OrderedDict())  # a cache per node process
        outcome = run_task(task, db, ACRO, InMemoryPersonSetStore())
        if outcome.status == "succeeded":
            outputs[name] = regate("meta", outcome.output, ACRO)
        else:
            missing.append(name)
            reasons[name] = outcome.reason
    result = combine("meta", outputs, missing, ACRO)
    present = answering(nodes, failing)
    # riverside's 4 current smokers fail its model trap; lakeside's design has no former smoker
    expected_in = [n for n in present if "smoker" not in terms or n == "northfield"]
    assert result["nodes_contributing"] == expected_in
    assert result["nodes_missing"] == sorted(set(nodes) - set(expected_in))
    if "smoker" in terms:
        assert reasons["riverside"] is ReasonCode.MODEL_REFUSED
        assert reasons["lakeside"] is (
            ReasonCode.INTERNAL_ERROR if failing else ReasonCode.MODEL_REFUSED
        )
    own = {}
    for n in expected_in:
        frame = complete(nodes[n].truth, ["bmi", *terms])
        x, names = design(frame, terms)
        own[n] = sm.GLM(frame["event"].to_numpy(), x, family=sm.families.Binomial()).fit()
        np.testing.assert_allclose(result["nodes"][n]["params"], own[n].params, rtol=1e-8)
        np.testing.assert_allclose(result["nodes"][n]["bse"], own[n].bse, rtol=1e-8)
    assert result["names"] == names
    for j, term in enumerate(result["terms"]):
        b = np.array([own[n].params[j] for n in expected_in])
        v = np.array([own[n].bse[j] ** 2 for n in expected_in])
        if len(b) == 1:
            assert (term["fixed"], term["random"]) == pytest.approx((b[0], b[0]), rel=1e-8)
            continue
        ref = combine_effects(b, v, method_re="dl")
        frame = ref.summary_frame()
        assert term["fixed"] == pytest.approx(frame.loc["fixed effect", "eff"], rel=1e-8)
        assert term["fixed_se"] == pytest.approx(frame.loc["fixed effect", "sd_eff"], rel=1e-8)
        if ref.q >= len(b) - 1:  # statsmodels does not truncate tau² at zero
            assert term["random"] == pytest.approx(frame.loc["random effect", "eff"], rel=1e-8)
            assert term["tau2"] == pytest.approx(ref.tau2, rel=1e-8, abs=1e-14)
        else:
            assert (term["tau2"], term["random"]) == (0.0, term["fixed"])


# ---- what the researcher's result object says about a node left out ------------------------


def task_view(analysis: str, parameters: dict[str, Any], dbs: dict[str, Any]) -> TaskView:
    """The completed task as the hub shows it: each node's run (a failure with the hub's own
    words for its reason) and the combination."""
    task = task_payload(analysis, parameters)
    runs, outputs, missing = [], {}, []
    for name, db in sorted(dbs.items()):
        outcome = run_task(task, db, ACRO, InMemoryPersonSetStore())
        output = None
        if outcome.status == "succeeded":
            assert outcome.output is not None
            output = outputs[name] = regate(analysis, outcome.output, ACRO)
        else:
            missing.append(name)
        runs.append(
            RunView(
                run_id=f"r_{name}",
                node=name,
                state=RunState(outcome.status),
                reason=outcome.reason,
                message=REASON_TEXT[outcome.reason] if outcome.reason else None,
                output=output,
            )
        )
    return TaskView(
        task_id=task.task_id,
        project_id="p",
        analysis=analysis,
        state="complete",
        created_at=task.issued_at,
        deadline=task.expires_at,
        runs=runs,
        combined=combine(analysis, outputs, missing, ACRO),
    )


RESULTS = {
    "summary": (SummaryResult, {"cohort": COHORT, "variable": "age"}),
    "crosstab": (CrosstabResult, {"cohort": COHORT, "rows": "smoker", "columns": "sex"}),
    "histogram": (CrosstabResult, {"cohort": COHORT, "variable": "age", "edges": AGE_EDGES}),
    "km": (KaplanMeierResult, {"cohort": COHORT, "time": "time_to_lung_cancer"}),
    "meta": (MetaResult, {"cohort": COHORT, "formula": "lung_cancer ~ age", "family": "binomial"}),
}


@pytest.mark.parametrize("analysis", RESULTS)
def test_the_result_names_the_node_left_out_and_why(nodes, analysis, monkeypatch):
    kind, parameters = RESULTS[analysis]
    monkeypatch.setattr(model_node, "_shares", OrderedDict())
    result = kind.from_view(task_view(analysis, parameters, databases(nodes, "lakeside")))
    why = REASON_TEXT[ReasonCode.INTERNAL_ERROR]
    assert result.nodes_missing == {"lakeside": why}
    assert f"lakeside ({why})" in str(result)


def test_a_count_result_names_the_node_that_failed_and_why(nodes):
    view = task_view("count", {"cohort": COHORT}, databases(nodes, "lakeside"))
    result = CountResult.from_view(view)
    assert result.failed == {"lakeside": REASON_TEXT[ReasonCode.INTERNAL_ERROR]}
    assert result.total == sum(len(nodes[n].truth) for n in ("northfield", "riverside"))


def test_a_summary_by_a_factor_names_the_node_left_out_and_why(nodes):
    parameters = {"cohort": COHORT, "variable": "bmi", "by": "smoker"}
    view = task_view("summary", parameters, databases(nodes, "lakeside"))
    result = GroupedSummaryResult.from_view(view)
    assert "lakeside" not in result.nodes  # it released nothing
    why = REASON_TEXT[ReasonCode.INTERNAL_ERROR]
    assert f"lakeside ({why})" in str(result)
    assert getattr(result, "nodes_missing", None) == {"lakeside": why}


# ---- the audit that lists these tests -----------------------------------------------------

ALIASES = {
    "diff": "unit/test_differential.py",
    "refusal": "integration/test_federated_refusal.py",
    "prop": "property/test_differential_property.py",
}


def test_the_audit_names_only_tests_that_exist():
    """tests/DIFFERENTIAL.md names tests as ``path::name`` (``…`` ends a prefix): each one
    must be a test function of that file, so the audit fails when it rots."""
    tests = Path(__file__).parent.parent
    named = re.findall(r"`([\w/.]+)::([\w…]*)", (tests / "DIFFERENTIAL.md").read_text())
    assert len(named) > 30
    for path, name in named:
        source = (tests / ALIASES.get(path, path)).read_text()
        defined = re.findall(r"^def (test_\w+)", source, flags=re.MULTILINE)
        prefix = name.rstrip("…")
        found = (
            [d for d in defined if d.startswith(prefix)]
            if name.endswith("…") or not name
            else [d for d in defined if d == name]
        )
        assert found, f"{path}::{name} is not a test"
