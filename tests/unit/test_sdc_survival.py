"""Survival tables: a step is shown only once `threshold` persons have left the risk set."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.sdc import Checker, TableSpecError
from fivesafes.sdc.survival import coarsen, km_steps


def cohort(times: list[float], events: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {"person_id": [f"p{i}" for i in range(len(times))], "t": times, "died": events}
    )


TINY = cohort([1, 2, 3, 4, 5, 6, 7], [1, 1, 0, 1, 1, 1, 0])


def test_tiny_table_is_coarsened_into_steps_of_at_least_threshold_leavers():
    # datashield: threshold 3, no rounding
    out = Checker("datashield").survival_table(TINY, time="t", event="died")
    assert out.verdict == "pass"
    assert out.table[["time", "at_risk", "events", "censored"]].to_numpy().tolist() == [
        [3, 7, 2, 1],
        [6, 4, 3, 0],
    ]
    assert out.table["survival"].tolist() == pytest.approx([5 / 7, 5 / 28])
    assert (out.reasons == "").all().all()
    assert "merged until 3 persons" in out.report()


def test_every_shown_step_hides_at_least_threshold_persons():
    rng = np.random.default_rng(3)
    df = cohort(list(rng.integers(1, 60, 200)), list(rng.integers(0, 2, 200)))
    out = Checker("acro").survival_table(df, time="t", event="died")
    left = (out.table["events"] + out.table["censored"]).to_numpy()
    assert (left >= 10).all()
    at_risk = out.table["at_risk"].to_numpy()
    assert list(at_risk[1:]) == list(at_risk[:-1] - left[:-1])


def test_survival_at_shown_steps_is_the_exact_kaplan_meier_estimate():
    rng = np.random.default_rng(5)
    times, events = rng.integers(1, 30, 120).astype(float), rng.integers(0, 2, 120)
    steps = km_steps(times, events)
    shown = coarsen(steps, 10)
    exact = dict(zip(steps["time"], steps["survival"], strict=True))
    assert shown["survival"].tolist() == pytest.approx([exact[t] for t in shown["time"]])
    # a hand computation of the product-limit estimate at the first shown time
    t0 = shown["time"].iloc[0]
    s = 1.0
    for t in sorted(set(times[times <= t0])):
        s *= 1 - events[times == t].sum() / (times >= t).sum()
    assert shown["survival"].iloc[0] == pytest.approx(s)


def test_acro_defect_survival_tables_do_not_always_fail():
    # ACRO 1.0.2 failed every survival table; a safe one passes here.
    df = cohort(list(range(1, 41)), [1, 0] * 20)
    out = Checker("acro").survival_table(df, time="t", event="died")
    assert out.verdict == "pass"
    assert len(out.table) == 4


def test_ties_at_one_time_are_one_step():
    df = cohort([1, 1, 1, 2, 2, 2, 3], [1, 1, 0, 1, 0, 0, 1])
    out = Checker("datashield").survival_table(df, time="t", event="died")
    assert out.table[["time", "at_risk", "events", "censored"]].to_numpy().tolist() == [
        [1, 7, 2, 1],
        [2, 4, 1, 2],
    ]


def test_counts_are_rounded_to_the_profile_base():
    df = cohort(list(range(1, 31)), [1] * 30)
    out = Checker("opensafely").survival_table(df, time="t", event="died")
    # threshold 8: steps after 8, 16 and 24 deaths; at risk 30, 22, 14 -> base 5
    assert out.table["time"].tolist() == [8, 16, 24]
    assert out.table["at_risk"].tolist() == [30, 20, 15]
    assert out.table["events"].tolist() == [10, 10, 10]  # 8 -> 10


def test_fewer_persons_than_the_threshold_fails_and_shows_nothing():
    out = Checker().survival_table(TINY, time="t", event="died")
    assert out.verdict == "fail"
    assert out.table.empty
    assert [f.finding.rule for f in out.findings] == ["threshold"]
    assert "7" not in out.report() + json.dumps(out.report_dict())


def test_hidden_tail_values_never_appear():
    df = cohort([1, 2, 3, 4, 5, 6, 97], [1, 1, 1, 1, 1, 1, 1])
    out = Checker("datashield").survival_table(df, time="t", event="died")
    assert 97 not in out.table["time"].tolist()
    assert "97" not in out.report() + out.table.to_csv()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"time": "nope", "event": "died"},
        {"time": "t", "event": "nope"},
        {"time": "t", "event": "person_id"},
        {"time": "person_id", "event": "died"},
    ],
)
def test_usage_errors_are_typed(kwargs):
    with pytest.raises(TableSpecError):
        Checker().survival_table(TINY, **kwargs)


def test_one_row_per_person_is_required():
    df = pd.concat([TINY, TINY])
    with pytest.raises(TableSpecError, match="one row per person"):
        Checker("datashield").survival_table(df, time="t", event="died")


def test_an_exception_inside_the_check_fails_closed(monkeypatch, caplog):
    import fivesafes.sdc.survival as survival

    def broken(steps, threshold):
        raise ZeroDivisionError(f"at risk {len(steps)}")

    monkeypatch.setattr(survival, "coarsen", broken)
    out = Checker("datashield").survival_table(TINY, time="t", event="died")
    assert out.verdict == "fail"
    assert out.table.empty
    assert out.errors == ("check-error: survival raised ZeroDivisionError",)
    assert "at risk" not in out.report() and "at risk" not in caplog.text


@given(
    st.lists(st.tuples(st.integers(0, 40), st.booleans()), min_size=1, max_size=80),
    st.integers(1, 12),
)
def test_every_shown_step_hides_at_least_threshold_persons_always(rows, threshold):
    times = np.array([float(t) for t, _ in rows])
    events = np.array([int(e) for _, e in rows])
    shown = coarsen(km_steps(times, events), threshold)
    left = (shown["events"] + shown["censored"]).to_numpy()
    assert (left >= threshold).all()
    assert left.sum() > len(rows) - threshold  # only the last < threshold persons are hidden
    assert shown["survival"].is_monotonic_decreasing
