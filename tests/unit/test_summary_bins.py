"""A summary's default bins release quantiles when the data allow it (issue 13): a small cohort
is asked once more with wider bins chosen from released figures only, and when even those
cannot be had the result says what to ask instead. Each node's gate and the hub's combination
run in this process on planted values; expected quantiles are numpy's on the pooled values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fivesafes.analyses.catalogue import VARIABLES
from fivesafes.analyses.quantiles import TooFewBinsError
from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.results.page import Shown
from fivesafes.analyses.summary import (
    Described,
    GroupedSummaryResult,
    SummaryParameters,
    SummaryResult,
    VariableValues,
)
from fivesafes.analyses.summary import summary as ask_summary
from fivesafes.analyses.summary import summary_by as ask_summary_by
from fivesafes.analyses.summary.bins import deciding, edges_text, expected_counts, wider_edges
from fivesafes.hub import combination
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import Computed, gate
from fivesafes.protocol.models import RunView, TaskView
from fivesafes.protocol.runs import RunState
from fivesafes.sdc.differencing import person_set
from fivesafes.sdc.profiles import DEFAULT, Profile
from in_process import ISSUED

COHORT = {"name": "everyone", "index": {"type": "fixed", "date": "2018-01-01"}}
QUARTILES = (0.25, 0.5, 0.75)


class Planted:
    """A federation in this process (the client's ``Asker``): each node's planted values of
    the variable (per level of a factor, if given); every ask runs each node's gate, with its
    own person-set store kept across asks as a node keeps it, and the hub's combination."""

    def __init__(
        self,
        variable: str,
        parts: list[np.ndarray] | list[dict[str, np.ndarray]],
        profile: Profile = DEFAULT,
    ) -> None:
        self.variable = variable
        self.parts = parts
        self.profile = profile
        self.stores = [InMemoryPersonSetStore() for _ in parts]
        self.asked: list[dict[str, Any]] = []
        self.views: dict[str, TaskView] = {}

    def submit(self, analysis: str, parameters: dict[str, Any], **_: Any) -> TaskView:
        asked = SummaryParameters.model_validate(parameters)
        task = f"t{len(self.asked)}"
        self.asked.append(parameters)
        outputs: dict[str, dict[str, Any]] = {}
        first = 1
        for k, part in enumerate(self.parts):
            levels = part if isinstance(part, dict) else {None: part}
            groups = []
            for level, values in levels.items():
                ids = np.arange(first, first + len(values), dtype=np.int64)
                first += len(values)
                found = VariableValues(person_set(ids), ids, np.asarray(values, float), 0)
                groups.append((level, found))
            everyone = person_set(np.concatenate([g.person_ids for _, g in groups]))
            found_all = Described(asked.variable, asked.bin_edges, groups, asked.by)
            outcome = gate(
                "p",
                task,
                REGISTRY[analysis],
                Computed(everyone, found_all),
                self.profile,
                self.stores[k],
            )
            assert outcome.status == "succeeded" and outcome.output is not None, outcome
            outputs[f"node{k}"] = REGISTRY[analysis].regate(outcome.output, self.profile)
        combined = combination.combined(REGISTRY[analysis], outputs, [], self.profile)
        runs = [
            RunView(run_id=f"{task}-{node}", node=node, state=RunState.SUCCEEDED, output=output)
            for node, output in outputs.items()
        ]
        view = TaskView(
            task_id=task,
            project_id="p",
            analysis=analysis,
            state="complete",
            created_at=ISSUED,
            deadline=ISSUED,
            runs=runs,
            combined=combined,
        )
        self.views[task] = view
        return view

    def wait(self, task_id: str, timeout: float) -> TaskView:
        return self.views[task_id]


def planted(variable: str, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Per node, values as the catalogue builds them (whole years of age, BMI to 0.1, whole
    visits), each hospital's distribution shifted from the others'."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(sizes):
        shift = k - (len(sizes) - 1) / 2
        if variable == "age":
            parts.append(np.round(rng.normal(65 + 5 * shift, 12, n)))
        elif variable == "bmi":
            parts.append(np.round(rng.normal(28 + shift, 5, n), 1))
        else:
            mean = 1.5 + 0.5 * shift
            parts.append(rng.negative_binomial(2, 2 / (2 + mean), n).astype(float))
    return parts


def holding_width(edges: list[float], value: float) -> float:
    """The width of the bin that holds ``value``."""
    k = int(np.clip(np.searchsorted(edges, value, side="right") - 1, 0, len(edges) - 2))
    return edges[k + 1] - edges[k]


@pytest.mark.parametrize("variable", ["age", "bmi", "visits_past_year"])
def test_a_240_person_cohort_over_three_nodes_releases_its_median_and_iqr(variable):
    """80 persons a node: the catalogue's bins are too narrow (most under the threshold of
    10, and a suppressed bin takes a partner with it), so the summary asks once more with the
    wider bins chosen from the released n, mean and sd. Each quartile is then within half the
    width of the bin that holds numpy's (a count's, whose values sit at the bins' lower
    edges, within the width). Whole visits may need no second ask."""
    parts = planted(variable, (80, 80, 80), seed=13)
    fed = Planted(variable, parts)
    result = ask_summary(fed, COHORT, variable)

    first = SummaryResult.from_view(fed.views["t0"])  # on the catalogue's bins
    if first.quartiles_released():  # whole visits: their bins of one visit may do
        assert variable == "visits_past_year" and len(fed.asked) == 1
    else:
        assert [a.get("edges") for a in fed.asked] == [None, result.edges]
        assert result.widened_from == "t0"
        assert "quartiles from bins on the edges [" in str(result)
    assert result.quartiles_released()
    everyone = np.concatenate(parts)
    got = result.quantiles(QUARTILES)
    share = 1.0 if VARIABLES[variable].kind == "count" else 0.5
    for p in QUARTILES:
        exact = float(np.quantile(everyone, p))
        assert abs(got[p] - exact) <= share * holding_width(result.edges, exact), (p, got)
    pooled = next(line for line in str(result).splitlines() if line.startswith("POOLED"))
    assert "— (wider bins)" not in pooled


def test_the_demo_shaped_cohort_releases_age_quartiles_at_the_nodes_that_can():
    """The demo's lung cancer cohort: 144, 19 and 81 persons, the hospitals' ages apart. The
    pooled quartiles and those of the two larger nodes are released; the node of 19 cannot
    release two bins of 10 and is told apart."""
    parts = planted("age", (144, 19, 81), seed=7)
    result = ask_summary(Planted("age", parts), COHORT, "age")
    assert result.widened_from == "t0" and result.quartiles_released()
    rows = {line.split()[0]: line for line in str(result).splitlines()[2:5]}
    assert "— (wider bins)" not in rows["node0"] + rows["node2"]
    assert "— (wider bins)" in rows["node1"]
    with pytest.raises(TooFewBinsError):
        result.nodes[1].quantiles(QUARTILES)
    assert "node1: median (IQR) withheld" in str(result)


def test_a_tiny_cohort_is_told_to_ask_about_a_larger_one():
    """15 persons a node: no three bins hold 10 persons at every node, so there is nothing to
    ask again; the result says what the researcher can do, naming the parameter and option."""
    fed = Planted("age", planted("age", (15, 15, 15), seed=1))
    result = ask_summary(fed, COHORT, "age")
    assert len(fed.asked) == 1 and result.widened_from is None
    assert result.n == 60 and not result.quartiles_released()  # 3 x 20, rounded
    text = str(result)
    assert "— (wider bins)" in text
    assert "Ask about a larger cohort" in text
    assert "edges=[a, b, c, d] in Python, --edges a,b,c,d with `fivesafes analyse summary`" in text
    with pytest.raises(TooFewBinsError, match="larger cohort"):
        result.quantiles()


def test_given_edges_are_used_as_given_and_the_advice_names_wider_ones():
    """Edges the researcher gives are never replaced; when their quartiles are withheld, the
    advice names wider edges, chosen from the released figures, in both spellings."""
    fed = Planted("age", planted("age", (80, 80, 80), seed=13))
    narrow = [float(e) for e in range(0, 111, 2)][:51]
    result = ask_summary(fed, COHORT, "age", edges=narrow)
    assert len(fed.asked) == 1 and not result.quartiles_released()
    wider = result.wider_edges()
    assert wider is not None and 4 <= len(wider) <= 11
    listed = ", ".join(f"{e:g}" for e in wider)
    command = ",".join(f"{e:g}" for e in wider)
    assert f"edges=[{listed}] in Python, --edges {command}" in str(result)
    with pytest.raises(TooFewBinsError, match=f"--edges {command}"):
        result.quantiles()


def test_a_cohort_the_catalogue_bins_fit_is_asked_once():
    fed = Planted("age", planted("age", (600, 500, 700), seed=2))
    result = ask_summary(fed, COHORT, "age")
    assert len(fed.asked) == 1 and result.widened_from is None
    assert result.quartiles_released() and result.notes() == []
    assert result.edges == [float(e) for e in VARIABLES["age"].bins]


def test_a_summary_by_sex_asks_again_with_bins_that_fit_every_level():
    rng = np.random.default_rng(5)
    parts = [
        {"female": np.round(rng.normal(66 + k, 12, 80)), "male": np.round(rng.normal(63, 12, 90))}
        for k in range(3)
    ]
    fed = Planted("age", parts)
    result = ask_summary_by(fed, COHORT, "age", "sex")
    assert isinstance(result, GroupedSummaryResult)
    assert len(fed.asked) == 2 and result.widened_from == "t0"
    assert result.quartiles_released() and set(result.groups) == {"female", "male"}
    for level in ("female", "male"):
        everyone = np.concatenate([p[level] for p in parts])
        got = result.quantiles(level, QUARTILES)
        edges = [float(e) for e in fed.asked[1]["edges"]]
        for p in QUARTILES:
            exact = float(np.quantile(everyone, p))
            assert abs(got[p] - exact) <= 0.5 * holding_width(edges, exact)


# Wider bins from released figures only: (n, mean, sd) per node and the threshold, never a
# value. The deciding nodes are the largest holding 90 % of the persons; every bin is
# expected to hold 1.5 x the threshold at each of them (normal distributions of their
# released mean and sd), with as many bins as allow it.
#
# | nodes released (n, mean, sd)                | threshold | edges                  |
# | ------------------------------------------- | --------- | ---------------------- |
CHOSEN = [
    ([(140, 72.0, 11.0), (20, 50.0, 14.0), (80, 57.0, 11.0)], 10, [48, 60, 66, 84]),
    ([(80, 60.0, 12.0), (80, 65.0, 12.0), (80, 70.0, 12.0)], 10, [48, 62, 70, 82]),
    ([(800, 27.0, 5.0)] * 3, 10, [17, 20, 22, 24, 26, 27, 28, 30, 32, 34, 37]),
    ([(80, 27.0, 5.0)] * 3, 100, None),  # a stricter gate: too few
    ([(20, 65.0, 12.0)] * 3, 10, None),  # too few at every node
    ([(80, 1.5, 1.4)] * 3, 10, [0, 1, 2, 3]),  # a count: whole steps
]


@pytest.mark.parametrize(("nodes", "threshold", "edges"), CHOSEN)
def test_wider_bins_are_chosen_from_released_figures_only(nodes, threshold, edges):
    whole = nodes[0][1] < 5  # the count in the table
    catalogue = VARIABLES["visits_past_year" if whole else "age"].bins
    chosen = wider_edges(nodes, threshold, catalogue, whole=whole)
    assert chosen == (None if edges is None else [float(e) for e in edges])
    if chosen is not None:
        for node in deciding(nodes):
            assert min(expected_counts(node, chosen)) >= threshold


def test_the_portal_page_gives_the_same_advice():
    fed = Planted("age", planted("age", (80, 80, 80), seed=13))
    view = fed.submit("summary", {"cohort": COHORT, "variable": "age"})
    page = Shown(view, [])
    REGISTRY["summary"].show(view, page)
    advice = SummaryResult.from_view(view).notes()
    assert advice and advice[0].startswith("pooled: median (IQR) withheld")
    assert page.lines[-len(advice) :] == advice


def test_when_even_the_wider_bins_fall_short_the_advice_is_a_larger_cohort():
    """36 persons a node: the wider bins are chosen, but sampling leaves a bin under the
    threshold at two nodes; the same bins are not suggested again."""
    fed = Planted("age", planted("age", (36, 36, 36), seed=6))
    result = ask_summary(fed, COHORT, "age")
    assert len(fed.asked) == 2 and result.widened_from == "t0"
    assert not result.quartiles_released() and result.wider_edges() == result.edges
    [_, told] = result.notes()
    assert told.startswith("pooled: median (IQR) withheld, even the wider bins")
    assert "Ask about a larger cohort" in told and edges_text(result.edges) not in told
