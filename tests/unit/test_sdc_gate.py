"""The release gate (``fivesafes.sdc.gate``): the table checker's rules on one cell of evidence,
under a profile named in configuration and only ever tightened there."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from fivesafes.analyses.count import CountOutput
from fivesafes.analyses.summary import SummaryOutput
from fivesafes.protocol.models import GateRecord, ReleasedCount
from fivesafes.sdc import Checker, release_count
from fivesafes.sdc.gate import CountEvidence, GateSettings, MagnitudeEvidence, judge
from fivesafes.sdc.profiles import ACRO, DATASHIELD, DEFAULT, OPENSAFELY, ProfileError

# ---- counts: n → (verdict, released) per profile ------------------------------------------

COUNTS = [
    # profile, n, verdict, released value
    (DEFAULT, 0, "fail", None),  # a lone zero: never released, under any profile
    (DEFAULT, 9, "fail", None),
    (DEFAULT, 10, "pass", 10),
    (DEFAULT, 15, "pass", 20),
    (OPENSAFELY, 0, "fail", None),
    (OPENSAFELY, 7, "fail", None),  # ≤ 7 redacted
    (OPENSAFELY, 8, "pass", 10),  # then rounded to 5
    (OPENSAFELY, 12, "pass", 10),
    (OPENSAFELY, 13, "pass", 15),
    (DATASHIELD, 0, "fail", None),  # zeros_are_disclosive is False, but a lone zero is not a cell
    (DATASHIELD, 2, "fail", None),
    (DATASHIELD, 3, "pass", 3),
    (ACRO, 10, "pass", 10),  # ACRO does not round
    (ACRO, 11, "pass", 11),
]


@pytest.mark.parametrize(("profile", "n", "verdict", "value"), COUNTS)
def test_count_verdict_and_released_value(profile, n, verdict, value):
    assert judge(CountEvidence(n), profile).verdict.value == verdict
    released = release_count(n, profile)
    assert (released.value, released.suppressed) == (value, value is None)


def test_a_lone_zero_names_its_rule():
    judgement = judge(CountEvidence(0), DATASHIELD)
    assert judgement.rules == ["zeros"]
    assert "never released on its own" in release_count(0, DATASHIELD).rule


@pytest.mark.parametrize("n", [1, 9, 10, 11, 57])
def test_a_count_meets_the_same_rules_as_a_checker_cell(n):
    """A node's count and a one-cell crosstab of the same persons get the same verdict."""
    frame = pd.DataFrame({"person_id": range(n), "a": "x", "b": "y"})
    table = Checker("default").crosstab(frame, index="a", columns="b", person="person_id")
    assert judge(CountEvidence(n), DEFAULT).verdict == table.verdict


# ---- magnitudes ------------------------------------------------------------------------------

MAGNITUDES = [
    # values, missing, verdict, rules
    ([40.0] * 12, 0, "pass", []),
    ([40.0] * 9, 0, "fail", ["threshold"]),  # 9 contributors
    ([40.0] * 9, 5, "fail", ["threshold"]),  # missing persons are not contributors
    ([1000.0, 900.0] + [1.0] * 10, 0, "fail", ["nk-dominance", "p-percent"]),
    ([-1.0] + [40.0] * 11, 0, "review", ["negative"]),
    ([], 0, "fail", ["threshold"]),  # an empty cohort: nothing to summarise is not a pass
    ([], 20, "fail", ["threshold"]),  # nobody with a value
]


@pytest.mark.parametrize(("values", "missing", "verdict", "rules"), MAGNITUDES)
def test_magnitude_verdicts(values, missing, verdict, rules):
    judgement = judge(MagnitudeEvidence(np.asarray(values), missing), DEFAULT)
    assert (judgement.verdict.value, judgement.rules) == (verdict, rules)


def test_missing_values_go_to_review_only_where_the_profile_asks():
    evidence = MagnitudeEvidence(np.full(20, 50.0), missing=3)
    assert judge(evidence, DEFAULT).verdict.value == "pass"
    strict = DEFAULT.tightened(check_missing_values=True)
    assert judge(evidence, strict).verdict.value == "review"


@pytest.mark.parametrize(
    "evidence",
    [
        CountEvidence(-1),
        CountEvidence(2.5),  # type: ignore[arg-type]
        CountEvidence(True),
        MagnitudeEvidence(np.array([1.0, np.nan]), 0),
        MagnitudeEvidence(np.array([1.0, np.inf]), 0),
        MagnitudeEvidence(np.ones((2, 2)), 0),
        MagnitudeEvidence(np.ones(20), -1),
    ],
)
def test_bad_evidence_raises_rather_than_passing(evidence):
    with pytest.raises((TypeError, ValueError)):
        judge(evidence, DEFAULT)


def test_a_review_has_no_gate_record_to_send():
    judgement = judge(MagnitudeEvidence(np.r_[-1.0, np.full(11, 3.0)], 0), DEFAULT)
    with pytest.raises(ValueError, match="held for review"):
        judgement.record()


# ---- settings: a named profile, tightened only -----------------------------------------------


def test_settings_resolve_to_the_named_preset():
    assert GateSettings().resolve() == DEFAULT
    assert GateSettings(profile="opensafely").resolve() == OPENSAFELY
    assert GateSettings(profile="default", threshold=10, rounding_base=10).resolve() == DEFAULT


def test_settings_tighten_the_preset():
    profile = GateSettings(profile="opensafely", threshold=20, rounding_base=10).resolve()
    assert (profile.threshold, profile.rounding_base) == (20, 10)
    assert profile.name == "opensafely (tightened)"
    assert GateSettings(profile="acro", differencing="refuse").resolve().differencing == "refuse"


@pytest.mark.parametrize(
    "settings",
    [
        {"threshold": 5},
        {"rounding_base": 5},  # not a multiple of 10
        {"nk_k": 0.95},
        {"differencing": "review"},
        {"zeros_are_disclosive": False, "profile": "acro"},
        {"profile": "lenient"},
        {"name": "default"},  # the old setting: unknown keys are refused
    ],
)
def test_settings_that_loosen_or_are_unknown_fail_at_start_up(settings):
    with pytest.raises((ValidationError, ProfileError)) as caught:
        GateSettings.model_validate(settings)
    assert "Traceback" not in str(caught.value)


# ---- what crosses the wire: a value only with a pass ----------------------------------------

PASS = GateRecord(verdict="pass", profile="default")
FAIL = GateRecord(verdict="fail", profile="default", rules=["threshold"])
HIDDEN = ReleasedCount(value=None, suppressed=True, rule="fewer than 10 distinct persons")
SHOWN = ReleasedCount(value=20, suppressed=False, rule="rounded to 10")


@pytest.mark.parametrize(
    ("count", "gate", "ok"),
    [(SHOWN, PASS, True), (HIDDEN, FAIL, True), (SHOWN, FAIL, False), (HIDDEN, PASS, False)],
)
def test_a_count_output_carries_a_value_exactly_when_it_passed(count, gate, ok):
    document = {"count": count.model_dump(), "gate": gate.model_dump()}
    if ok:
        CountOutput.model_validate(document)
    else:
        with pytest.raises(ValidationError):
            CountOutput.model_validate(document)


def test_outputs_without_a_verdict_or_with_review_are_not_outputs():
    with pytest.raises(ValidationError):
        CountOutput.model_validate({"count": SHOWN.model_dump(), "profile": "default"})
    with pytest.raises(ValidationError):
        GateRecord.model_validate({"verdict": "review", "profile": "default"})
    with pytest.raises(ValidationError):
        ReleasedCount.model_validate({"value": 20, "suppressed": True, "rule": "x"})


@pytest.mark.parametrize(
    ("changes", "ok"),
    [
        ({}, True),
        ({"mean": None}, False),  # a pass must carry its mean
        ({"gate": FAIL.model_dump()}, False),  # values with a fail
        (
            {"gate": FAIL.model_dump(), "n": HIDDEN, "missing": HIDDEN, "mean": None, "sd": None},
            True,
        ),
        (
            {"gate": FAIL.model_dump(), "n": HIDDEN, "missing": HIDDEN, "mean": 40.0, "sd": None},
            False,
        ),
        ({"mean": float("nan")}, False),
        ({"variable": "income"}, False),
    ],
)
def test_a_summary_output_carries_values_exactly_when_it_passed(changes, ok):
    document = {
        "variable": "age",
        "n": SHOWN.model_dump(),
        "missing": HIDDEN.model_dump(),
        "mean": 41.5,
        "sd": 12.0,
        "gate": PASS.model_dump(),
    }
    document.update(
        {k: v.model_dump() if hasattr(v, "model_dump") else v for k, v in changes.items()}
    )
    if ok:
        SummaryOutput.model_validate(document)
    else:
        with pytest.raises(ValidationError):
            SummaryOutput.model_validate(document)


# ---- a task asks for stricter settings: each node takes the stricter of the two --------------

AT_LEAST = [
    # profile, asked, setting, expected value
    (DEFAULT, {"threshold": 5}, "threshold", 10),  # looser: ignored, not an error
    (DEFAULT, {"threshold": 20}, "threshold", 20),
    (DEFAULT, {"rounding_base": 4}, "rounding_base", 20),  # a multiple of both
    (OPENSAFELY, {"rounding_base": 10}, "rounding_base", 10),
    (DATASHIELD, {"nk_k": 0.8}, "nk_k", 0.8),  # a rule the profile does not apply: now applied
    (DEFAULT, {"nk_k": 0.95}, "nk_k", 0.90),
    (DEFAULT, {"zeros_are_disclosive": True}, "zeros_are_disclosive", True),
    (ACRO, {"zeros_are_disclosive": False}, "zeros_are_disclosive", True),
    (DEFAULT, {"allow_min_max": True}, "allow_min_max", False),
    (ACRO, {"differencing": "refuse"}, "differencing", "refuse"),
    (DEFAULT, {"differencing": "review"}, "differencing", "refuse"),
]


@pytest.mark.parametrize(("profile", "asked", "setting", "expected"), AT_LEAST)
def test_a_task_can_only_tighten_a_nodes_profile(profile, asked, setting, expected):
    result = profile.at_least(**asked)
    assert getattr(result, setting) == expected
    # the result is at least as strict as the profile: tightening the profile to it succeeds
    profile.tightened(**{k: getattr(result, k) for k in asked})
    assert (result is profile) == (getattr(profile, setting) == expected)


@pytest.mark.parametrize("asked", [{"name": "lenient"}, {"source": "x"}, {"colour": 1}])
def test_a_task_cannot_name_what_is_not_a_setting(asked):
    with pytest.raises(ProfileError):
        DEFAULT.at_least(**asked)


# ---- models: the GLM's traps, every round at every node --------------------------------------

MODELS = [
    # n, parameters, level counts (rows holding 1 per binary column), separation, rules
    (100, 5, (40, 30), False, []),
    (100, 34, (40,), False, ["glm-ratio"]),  # 34 / 100 > 0.33 (the trap where unset)
    (14, 4, (7,), False, ["rare-level"]),  # 10 dof: enough; but 7 cases and 7 non-cases
    (100, 5, (95,), False, ["rare-level"]),  # only 5 rows hold 0
    (100, 5, (0, 40), False, []),  # a level nobody holds at this node is not a risk
    (9, 1, (), False, ["dof", "threshold"]),  # 9 persons, 8 residual dof
    (100, 5, (40,), True, ["separation"]),
    (5, 5, (), False, ["glm-ratio", "saturated", "threshold"]),
]


@pytest.mark.parametrize(("n", "p", "levels", "separation", "rules"), MODELS)
def test_model_traps(n, p, levels, separation, rules):
    from fivesafes.sdc.gate import ModelEvidence

    judgement = judge(ModelEvidence(n, p, levels, separation), DEFAULT)
    assert judgement.rules == sorted(rules)
    assert judgement.verdict.value == ("pass" if not rules else "fail")


def test_a_profile_ratio_wins_over_the_glm_trap():
    from fivesafes.sdc.gate import ModelEvidence

    evidence = ModelEvidence(100, 20, ())
    assert judge(evidence, DEFAULT).verdict.value == "pass"  # 20 % < 33 %
    assert judge(evidence, DEFAULT.tightened(glm_ratio=0.1)).rules == ["glm-ratio"]


@pytest.mark.parametrize(
    ("profile", "n", "value"),
    [
        (DEFAULT, 0, 0),
        (ACRO, 0, None),
        (DEFAULT, 4, None),
        (DEFAULT, 14, 10),
        (OPENSAFELY, 0, None),
    ],
)
def test_a_table_cell_follows_the_profiles_zeros_rule(profile, n, value):
    from fivesafes.sdc.gate import release_cell

    assert release_cell(n, profile).value == value
    assert release_count(0, profile).value is None  # a lone count of zero never is
