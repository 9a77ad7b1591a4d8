"""Plots draw exactly the released estimates (read back from the figure's lines)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from fivesafes.analyses.km import KaplanMeierOutput, blocks, edges, life_table
from fivesafes.analyses.km import combine as km_combine
from fivesafes.analyses.meta import Z975, combine
from fivesafes.analyses.meta.plot import forest_figure, ratio_ticks
from fivesafes.client.plots import forest_plot
from fivesafes.client.results import KaplanMeierResult, MetaResult
from fivesafes.sdc.profiles import ACRO

NODES = {
    "lakeside": {"params": [0.1, 0.8], "bse": [0.2, 0.10], "n": 2400},
    "northfield": {"params": [0.2, 1.1], "bse": [0.1, 0.15], "n": 3000},
    "riverside": {"params": [0.0, 0.6], "bse": [0.3, 0.25], "n": 1900},
}


def result() -> MetaResult:
    names = ["Intercept", "smoker"]
    terms = [
        combine(
            name,
            [NODES[n]["params"][j] for n in sorted(NODES)],
            [NODES[n]["bse"][j] for n in sorted(NODES)],
        ).as_dict()
        for j, name in enumerate(names)
    ]
    return MetaResult("t", True, names, terms, NODES, {}, None)


def test_the_forest_plot_draws_each_nodes_interval_and_the_combinations(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    drawn = {}
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda figure: drawn.setdefault("figure", figure))
    path = forest_plot(result(), "smoker", tmp_path / "forest.png", exponentiate=True)
    assert path.stat().st_size > 5_000
    axes = drawn["figure"].axes[0]
    horizontal = [
        line.get_xdata()
        for line in axes.lines
        if len(line.get_xdata()) == 2 and line.get_xdata()[0] != line.get_xdata()[1]
    ]
    intervals = sorted(float(x) for xs in horizontal for x in xs)
    expected = sorted(
        math.exp(f["params"][1] + sign * Z975 * f["bse"][1])
        for f in NODES.values()
        for sign in (-1, 1)
    )
    assert intervals == pytest.approx(expected)
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert labels[-1].startswith("random effects (DL), I²=")
    close(drawn["figure"])


def test_ratios_are_drawn_on_a_log_axis_with_plain_ticks_and_a_line_at_one():
    """Odds or hazard ratios: a log x axis labelled 1, 1.5, 2, 3 (never 10^0.3), no minor
    labels, and the dashed line of no effect at 1."""
    import matplotlib.pyplot as plt

    figure = forest_figure(result(), "smoker", exponentiate=True)
    figure.canvas.draw()
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    shown = [t.get_text() for t in axes.get_xticklabels()]
    assert shown == ["1", "1.5", "2", "3"]
    assert not any(t.get_text() for t in axes.get_xticklabels(minor=True))
    low, high = axes.get_xlim()
    assert low < 1.0 and high > math.exp(1.1 + Z975 * 0.15)  # every interval and 1 within
    vertical = [line.get_xdata() for line in axes.lines if line.get_linestyle() == "--"]
    assert [list(xs) for xs in vertical] == [[1.0, 1.0]]
    assert "log scale" in axes.get_xlabel()
    plt.close(figure)


def test_coefficients_are_drawn_on_a_linear_axis_with_the_line_at_zero():
    import matplotlib.pyplot as plt

    figure = forest_figure(result(), "smoker")
    axes = figure.axes[0]
    assert axes.get_xscale() == "linear"
    vertical = [line.get_xdata() for line in axes.lines if line.get_linestyle() == "--"]
    assert [list(xs) for xs in vertical] == [[0.0, 0.0]]
    plt.close(figure)


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0.4, 3.5, [0.5, 1, 2]),  # 1, 2 and 5 times powers of ten where three fit
        (0.05, 30, [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]),
        (1.2, 8.0, [1.5, 2, 3, 5, 7]),  # finer where the axis is short
        (0.8, 1.6, [0.8, 1, 1.25, 1.5]),
        (0.9, 1.1, [0.9, 1, 1.1]),
    ],
)
def test_ratio_ticks_are_round_numbers(low, high, ticks):
    assert ratio_ticks(low, high) == pytest.approx(ticks)


def test_an_unknown_term_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no term"):
        result().forest_plot("age", tmp_path / "x.png")


def survival_result():
    rng = np.random.default_rng(1)
    outputs = {}
    for node, n in (("lakeside", 300), ("northfield", 500)):
        times = rng.exponential(5.0, (2, n))
        groups = []
        for level, t in zip(("female", "male"), times, strict=True):
            blocks = [
                {"start": b.start, "end": b.end, "at_risk": b.at_risk}
                | {"events": b.events, "censored": b.censored}
                for b in _blocks(t)
            ]
            groups.append({"level": level, "blocks": blocks, "suppressed": False, "rule": ""})
        outputs[node] = KaplanMeierOutput.model_validate(
            {"time": "time_to_lung_cancer", "by": "sex", "interval": 1.0, "horizon": 10.0}
            | {"groups": groups, "gate": {"verdict": "pass", "profile": "acro"}}
        )
    combined = km_combine(outputs, [], ACRO)
    return KaplanMeierResult(
        "t", True, "time_to_lung_cancer", "sex", 1.0, 10.0, combined["groups"], {}
    )


def _blocks(times):
    grid = edges(1.0, 10.0)
    return blocks(life_table(times, np.ones_like(times), grid), grid, 10)


def test_the_survival_plot_draws_each_levels_released_curve(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    result = survival_result()
    drawn = {}
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda figure: drawn.setdefault("figure", figure))
    path = result.plot(tmp_path / "km.png")
    assert path.stat().st_size > 5_000
    axes = drawn["figure"].axes[0]
    steps = {line.get_label(): line for line in axes.lines}
    assert set(steps) == {"female", "male"}
    for level, line in steps.items():
        curve = result.curve(level)
        assert list(line.get_ydata()) == pytest.approx([1.0] + [p["survival"] for p in curve])
        assert list(line.get_xdata()) == pytest.approx([0.0] + [p["time"] for p in curve])
    close(drawn["figure"])
    frame = result.to_frame()
    assert set(frame["level"]) == {"female", "male"}
    assert "Federated Kaplan-Meier of time_to_lung_cancer by sex" in str(result)
    with pytest.raises(KeyError, match="levels: female, male"):
        result.curve("other")


def test_the_portal_draws_a_logistic_models_odds_ratios_on_a_log_axis():
    """A task page's picture of a binomial GLM (or a Cox model) shows ratios, as its reader
    reads them, on a log axis labelled plainly; before, log odds on a linear axis."""
    from fivesafes.analyses.results.svg import coefficients

    names = ["Intercept", "age", "smoker[T.current]"]
    params = [-6.7, math.log(1.06), math.log(2.2)]
    conf_int = [[-9.9, -3.5], [math.log(1.03), math.log(1.09)], [math.log(0.8), math.log(6.1)]]
    ratios = coefficients(names, params, conf_int, "", exponentiate=True)
    logs = coefficients(names, params, conf_int, "coefficient")
    assert ratios is not None and logs is not None
    ticks = [t.split(">")[1] for t in ratios.split("<text")[1:]]
    assert {"1", "2", "5"} <= {t.split("<")[0].strip() for t in ticks}
    assert "odds ratio" not in logs and "0.5" in logs  # the linear axis: log-odds
