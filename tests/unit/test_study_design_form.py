"""The portal's study design form (``hub/portal/study_design.py``) read into the API's own
``StudyDesign``: what the form shows of a design posts back as the same design, and what a
person types wrong is refused in words, without echoing it."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import FormData

from fivesafes.demo.study import design as demo_design
from fivesafes.hub.portal.study_design import _parsed, design_data, form_values


def posted(values: dict[str, Any]) -> FormData:
    """The form as a browser posts it, filled with ``values`` (as the template fills it)."""
    fields: list[tuple[str, str]] = [
        (name, str(values[name]))
        for name in ("title", "purpose", "model", "reads_per_case", "reread_percent",
                     "washout_days", "design", "form", "deadline")
    ]  # fmt: skip
    fields += [("nodes", n) for n in values["nodes"]]
    fields += [("clinical_fields", c) for c in values["clinical_fields"]]
    for reader in values["readers"]:
        fields += [("reader", reader), (f"site_{reader}", values["sites"][reader])]
    if values["exclude_own_site"]:
        fields.append(("exclude_own_site", "on"))
    if values["ai_item"]:
        fields += [(f"ai_{k}", values[f"ai_{k}"]) for k in ("item", "yes", "no", "when_class")]
    return FormData(fields)


VARIANTS = [
    {},
    {"design": "crossover", "deadline": "2027-03-31", "clinical_fields": ["sex", "age_band"]},
    {
        "allocation": {
            "reads_per_case": 3,
            "exclude_own_site": False,
            "reread_fraction": 0.1,
            "washout_days": 28,
        }
    },
    {"ai_answer": None},
]


@pytest.mark.parametrize("changes", VARIANTS)
def test_what_the_form_shows_posts_back_as_the_same_design(changes):
    design = demo_design() | changes
    parsed, problems = _parsed(design_data(posted(form_values(design))))
    assert problems == []
    expected, _ = _parsed(design)
    assert parsed == expected and parsed is not None


@pytest.mark.parametrize(
    ("field", "typed", "where"),
    [
        ("reads_per_case", "lots-of-reads", "allocation / reads per case"),
        ("reread_percent", "ten-percent", "re-read (%)"),
        ("reread_percent", "80", "re-read (%)"),
        ("deadline", "next-tuesday", "deadline"),
        ("title", "", "title"),
        ("form", "nosuchform-x:9", "form id"),
    ],
)
def test_what_is_typed_wrong_is_said_in_words_without_echo(field, typed, where):
    values = form_values(demo_design())
    values[field] = typed
    parsed, problems = _parsed(design_data(posted(values)))
    assert parsed is None
    fields = [f for f, _ in problems]
    assert where in fields, problems
    if len(typed) > 3:
        assert all(typed not in what for _, what in problems)


def test_the_re_read_share_is_refused_in_the_percent_it_is_typed_in():
    values = form_values(demo_design()) | {"reread_percent": "80"}
    assert _parsed(design_data(posted(values)))[1] == [("re-read (%)", "should be at most 50")]


def test_a_design_that_cannot_hold_is_said_of_the_design():
    values = form_values(demo_design())
    values["reads_per_case"] = 4  # three readers
    parsed, problems = _parsed(design_data(posted(values)))
    assert parsed is None
    assert problems == [("design", "each case needs more reads than the study has readers")]
