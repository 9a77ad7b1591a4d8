"""Reading the portal's HTML forms into the API's own request models, so a project made or a
count asked for on a page is checked exactly as through ``/api/v1``. Problems come back per
field, in words, never echoing what was typed."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from fivesafes.protocol.validation import problems

M = TypeVar("M", bound=BaseModel)
SPLIT = re.compile(r"[\s,;]+")
PROJECT_TEXT = ("title", "lay_summary", "purpose", "public_benefit")
COHORT_DOMAINS = ("condition", "drug", "procedure", "measurement", "observation")


def words(text: str) -> list[str]:
    """``"alice, bob\\ncarol"`` -> ``["alice", "bob", "carol"]``."""
    return [w for w in SPLIT.split(text.strip()) if w]


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def project_fields(form: FormData) -> dict[str, Any]:
    """A project's terms as the create and edit forms post them."""
    data: dict[str, Any] = {name: field(form, name) for name in PROJECT_TEXT}
    data["members"] = words(field(form, "members"))
    data["nodes"] = [n for n in form.getlist("nodes") if isinstance(n, str)]
    data["data_domains"] = [d for d in form.getlist("data_domains") if isinstance(d, str)]
    for name in ("start_date", "end_date", "sensitivity", "linkage", "pi"):
        value = field(form, name)
        if value:
            data[name] = value
    return data


EXTRACT_MODALITIES = ("CT", "MR", "CR", "DX", "MG", "US", "PT", "NM", "XA")
"""The modalities the extract form offers (the API takes any of DICOM's)."""


def count_request(form: FormData, project_id: str) -> dict[str, Any]:
    """A count task from the project page's form: one criterion (a domain and its concept
    ids), optionally an age range at index and sex."""
    return {"project_id": project_id, "analysis": "count", "parameters": {"cohort": cohort(form)}}


def extract_request(form: FormData, project_id: str) -> dict[str, Any]:
    """An imaging extract from the project page's form: the cohort as the count form makes
    it; the series by modality and body part (none: every series of the cohort's persons);
    the de-identification options ticked."""
    series: dict[str, Any] = {"domain": "imaging"}
    modalities = [m for m in form.getlist("modality") if isinstance(m, str)]
    if modalities:
        series["modality"] = modalities
    body_parts = [w.upper() for w in words(field(form, "body_part"))]
    if body_parts:
        series["body_part"] = body_parts
    parameters: dict[str, Any] = {
        "cohort": cohort(form),
        "options": [o for o in form.getlist("option") if isinstance(o, str)],
    }
    if len(series) > 1:
        parameters["series"] = series
    return {"project_id": project_id, "analysis": "imaging_extract", "parameters": parameters}


def cohort(form: FormData) -> dict[str, Any]:
    """The cohort of a project page's form: one criterion, optionally age and sex."""
    concepts: list[Any] = []
    for word in words(field(form, "concepts")):
        concepts.append(int(word) if word.isdigit() else word)  # non-numbers fail validation
    made: dict[str, Any] = {
        "name": field(form, "cohort_name") or "cohort",
        "criteria": [{"domain": field(form, "domain"), "concepts": concepts}],
    }
    age = {k: field(form, f"age_{k}") for k in ("min", "max")}
    if any(age.values()):
        made["age"] = {k: int(v) if v.isdigit() else v for k, v in age.items() if v}
    sex = [s for s in form.getlist("sex") if isinstance(s, str)]
    if sex:
        made["sex"] = sex
    return made


def parse(model: type[M], data: dict[str, Any]) -> tuple[M | None, list[tuple[str, str]]]:
    """``(model, [])`` or ``(None, [(field, problem), ...])``."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        said = problems(exc.errors(include_input=False, include_url=False))
        return None, [(d.field, d.problem) for d in said]
