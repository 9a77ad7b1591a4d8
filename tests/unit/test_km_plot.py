"""The Kaplan-Meier picture's survival axis (issue 13): scaled to the curves drawn, from just
below the lowest value drawn (rounded down to a multiple of 0.05) to 1; 0 to 1 when asked
(``full_axis``, the command's ``--full-axis``)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import typer

from fivesafes.analyses.km import (
    KaplanMeier,
    KaplanMeierOutput,
    KaplanMeierResult,
    combine,
    edges,
    judged_group,
    survival_figure,
)
from fivesafes.analyses.km.plot import MARGIN, survival_axis
from fivesafes.cli import analyse
from fivesafes.protocol.models import GateRecord
from fivesafes.sdc.profiles import DEFAULT


def result(scale: float = 60.0) -> KaplanMeierResult:
    """Two nodes, few events: survival stays above 0.8."""
    rng = np.random.default_rng(3)
    outputs = {}
    for node, n in (("lakeside", 900), ("northfield", 700)):
        event_time, censor = rng.exponential(scale, n), rng.exponential(8.0, n)
        times, events = np.minimum(event_time, censor), (event_time <= censor).astype(float)
        group = judged_group("all", times, events, edges(1.0, 10.0), DEFAULT)
        outputs[node] = KaplanMeierOutput(
            time="time_to_lung_cancer",
            by=None,
            interval=1.0,
            horizon=10.0,
            groups=[group],
            gate=GateRecord(verdict="pass", profile="default", rules=["survival"]),
        )
    combined = combine(outputs, [], DEFAULT)
    return KaplanMeierResult(
        "t", True, "time_to_lung_cancer", None, 1.0, 10.0, combined["groups"], {}
    )


@pytest.mark.parametrize(
    ("lowest", "full_axis", "bottom"),
    [
        (0.9681, False, 0.95),  # the curve: from 0.95, not 0
        (0.95, False, 0.90),  # just below: a value on a multiple of 0.05 is not on the frame
        (1.0, False, 0.95),  # no event: still a little room below 1
        (0.031, False, 0.0),
        (0.9681, True, 0.0),
    ],
)
def test_the_axis_starts_just_below_the_lowest_value(lowest, full_axis, bottom):
    assert survival_axis(lowest, full_axis=full_axis) == pytest.approx(
        (bottom, 1.0 + MARGIN * (1.0 - bottom))
    )


def test_the_figure_is_scaled_to_the_lowest_lower_bound():
    km = result()
    curve = km.curve("all")
    lowest = min(p["lower"] for p in curve)
    assert 0.8 < lowest < 0.95
    figure = survival_figure(km)
    bottom, top = figure.axes[0].get_ylim()
    plt.close(figure)
    assert bottom == pytest.approx(math.floor(lowest / 0.05) * 0.05)
    assert bottom < lowest < bottom + 0.05 and top == pytest.approx(1.0 + MARGIN * (1 - bottom))
    figure = survival_figure(km, confidence=False)  # without intervals: the lowest survival
    assert figure.axes[0].get_ylim()[0] == pytest.approx(
        math.floor(min(p["survival"] for p in curve) / 0.05) * 0.05
    )
    plt.close(figure)


def test_the_full_axis_runs_from_0_to_1(tmp_path, monkeypatch):
    drawn = {}
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda figure: drawn.setdefault("figure", figure))
    path = result().plot(tmp_path / "km.png", full_axis=True)
    assert path.stat().st_size > 5_000
    assert drawn["figure"].axes[0].get_ylim() == pytest.approx((0.0, 1.0 + MARGIN))
    close(drawn["figure"])


def test_the_command_draws_the_full_axis_when_asked(tmp_path, monkeypatch):
    command = KaplanMeier.commands["km"]
    app = typer.Typer()
    app.command("km")(analyse.command(command))
    flags = {o for p in typer.main.get_command(app).params for o in p.opts}
    assert "--full-axis" in flags and "--plot" in flags
    assert command.finish is not None
    limits = []
    close = plt.close

    def kept(figure):
        limits.append(figure.axes[0].get_ylim())
        close(figure)

    monkeypatch.setattr(plt, "close", kept)
    for full in (True, False):
        lines, code = command.finish(result(), {"plot": tmp_path / "km.png", "full_axis": full})
        assert code == 0 and lines == [f"curves written to {tmp_path / 'km.png'}"]
    assert limits[0] == pytest.approx((0.0, 1.0 + MARGIN)) and limits[1][0] > 0.5
