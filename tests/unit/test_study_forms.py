"""A study's form: items compile to a JSON Schema, answers are checked against it, and every
refusal names the item and the rule, never the value typed."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from fivesafes.pathology.study.forms import (
    MAX_ANSWER_BYTES,
    FormError,
    check_answers,
    check_region,
    read_form,
    shipped_form,
)

FORM = shipped_form()
NEGATIVE = {"adequacy": "adequate", "tumour_present": "no", "confidence": "4"}
POSITIVE = {**NEGATIVE, "tumour_present": "yes", "histological_type": "squamous"}


def problems(exc: pytest.ExceptionInfo[FormError]) -> dict[str, str]:
    return {d.field: d.problem for d in exc.value.details}


def test_the_shipped_form_is_a_valid_schema_with_core_and_non_core_items():
    for target in ("case", "prediction"):
        Draft202012Validator.check_schema(FORM.json_schema(target))
    assert {i.id for i in FORM.items if i.core} >= {"adequacy", "tumour_present", "confidence"}
    assert {i.id for i in FORM.items if not i.core} >= {"necrosis", "tumour_cellularity"}
    assert {i.id for i in FORM.items_for("prediction")} == {
        "ai_agrees",
        "ai_region",
        "ai_confidence",
        "ai_reason",
    }


@pytest.mark.parametrize(
    ("answers", "field", "problem"),
    [
        ({**NEGATIVE, "adequacy": "superb"}, "adequacy", "is not one of the item's codes"),
        ({**NEGATIVE, "necrosis": "maybe"}, "necrosis", "has the wrong type of answer"),
        (
            {**NEGATIVE, "tumour_cellularity": 101},
            "tumour_cellularity",
            "is above the item's maximum",
        ),
        ({**NEGATIVE, "comment": "x" * 2001}, "comment", "is longer than the item allows"),
        ({**NEGATIVE, "grade": "3"}, "grade", "is not an item of this form"),
        (
            {"adequacy": "adequate", "tumour_present": "no"},
            "confidence",
            "is a core item and must be answered",
        ),
        (
            {**NEGATIVE, "tumour_present": "yes"},
            "histological_type",
            "is a core item and must be answered",
        ),
        (
            {**NEGATIVE, "histological_type": "squamous"},
            "histological_type",
            "applies only when another answer has a given code",
        ),
    ],
)
def test_a_complete_read_breaking_one_rule_is_refused_naming_the_item(answers, field, problem):
    with pytest.raises(FormError) as exc:
        check_answers(FORM, answers, complete=True)
    assert problems(exc) == {field: problem}
    assert exc.value.status == 422  # invalid_request, the stable error shape
    typed = [v for v in answers.values() if isinstance(v, str) and v not in ("adequate", "no", "4")]
    for value in typed:  # the value typed is never repeated back
        assert value not in exc.value.message + json.dumps(exc.value.body())


def test_complete_answers_pass_and_a_draft_may_leave_core_items_unanswered():
    assert check_answers(FORM, NEGATIVE, complete=True) == NEGATIVE
    assert check_answers(FORM, POSITIVE | {"tumour_extent": "gt50"}, complete=True)
    assert check_answers(FORM, {"adequacy": "limited"}, complete=False)
    with pytest.raises(FormError):  # a draft still follows every other rule
        check_answers(FORM, {"adequacy": "superb"}, complete=False)


def test_prediction_feedback_has_its_own_items_and_a_polygon():
    good = {"ai_agrees": "disagree", "ai_confidence": "3", "ai_region": [[0, 0], [9, 0], [9, 9]]}
    assert check_answers(FORM, good, target="prediction", complete=True)
    with pytest.raises(FormError) as exc:
        check_answers(
            FORM, {**good, "ai_region": [[0, 0], [1, 1]]}, target="prediction", complete=True
        )
    assert problems(exc) == {"prediction.ai_region": "has too few points"}
    with pytest.raises(FormError) as exc:
        check_answers(
            FORM, {**good, "ai_region": [[0, 0, 0]] * 3}, target="prediction", complete=True
        )
    assert "prediction.ai_region.0" in problems(exc)
    with pytest.raises(FormError):  # case items are not prediction items
        check_answers(FORM, NEGATIVE, target="prediction", complete=True)
    with pytest.raises(FormError) as exc:
        check_region([[0, 0], [5000, 0], [0, 10]], 4096, 3072)
    assert problems(exc) == {"region": "has a point outside the slide"}


def test_answers_are_bounded():
    with pytest.raises(FormError, match="KiB"):
        check_answers(FORM, {**NEGATIVE, "comment": "x" * MAX_ANSWER_BYTES}, complete=True)
    with pytest.raises(FormError, match="JSON object"):
        check_answers(FORM, ["adequate"], complete=True)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda f: f["items"].append(dict(f["items"][0])), "same id"),
        (
            lambda f: f["items"][0].update(options=[{"code": "a", "label": "A"}]),
            "at least two options",
        ),
        (
            lambda f: f["items"][5].update(options=[{"code": "a", "label": "A"}] * 2),
            "only choice and ordinal",
        ),
        (
            lambda f: f["items"][2].update(when={"item": "tumour_present", "equals": "perhaps"}),
            "does not have",
        ),
        (lambda f: f["items"][2].update(when={"item": "comment", "equals": "yes"}), "coded item"),
        (lambda f: f["items"][4].update(minimum=50, maximum=10), "minimum <= maximum"),
        (lambda f: f.update(items=[]), "at least 1"),
    ],
)
def test_a_form_that_breaks_the_rules_of_forms_is_refused_in_words(change, words):
    data = json.loads(json.dumps(FORM.model_dump(mode="json", by_alias=True)))
    change(data)
    with pytest.raises(FormError) as exc:
        read_form(json.dumps(data))
    assert words in json.dumps(exc.value.body())


def test_a_form_nested_too_deeply_or_not_json_is_refused():
    with pytest.raises(FormError, match="nested too deeply"):
        read_form("[" * 100 + "]" * 100)
    with pytest.raises(FormError, match="not valid JSON"):
        read_form("{")


def test_a_version_is_pinned_by_its_digest():
    data = FORM.model_dump(mode="json", by_alias=True)
    assert read_form(json.dumps(data)).digest == FORM.digest
    data["items"][0]["label"] = "Adequate for a diagnosis?"
    assert read_form(json.dumps(data)).digest != FORM.digest
