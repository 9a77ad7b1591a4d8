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


def count_request(form: FormData, project_id: str) -> dict[str, Any]:
    """A count task from the project page's form: one criterion (a domain and its concept
    ids), optionally an age range at index and sex."""
    concepts: list[Any] = []
    for word in words(field(form, "concepts")):
        concepts.append(int(word) if word.isdigit() else word)  # non-numbers fail validation
    cohort: dict[str, Any] = {
        "name": field(form, "cohort_name") or "cohort",
        "criteria": [{"domain": field(form, "domain"), "concepts": concepts}],
    }
    age = {k: field(form, f"age_{k}") for k in ("min", "max")}
    if any(age.values()):
        cohort["age"] = {k: int(v) if v.isdigit() else v for k, v in age.items() if v}
    sex = [s for s in form.getlist("sex") if isinstance(s, str)]
    if sex:
        cohort["sex"] = sex
    return {"project_id": project_id, "analysis": "count", "parameters": {"cohort": cohort}}


def parse(model: type[M], data: dict[str, Any]) -> tuple[M | None, list[tuple[str, str]]]:
    """``(model, [])`` or ``(None, [(field, problem), ...])``."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        said = problems(exc.errors(include_input=False, include_url=False))
        return None, [(d.field, d.problem) for d in said]
