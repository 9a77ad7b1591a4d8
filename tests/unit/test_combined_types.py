"""Every analysis declares the type of its combined result; the hub stores nothing else.

A combination that is not its analysis's type fails closed into the hub's error that releases
nothing (``NotCombined``), never a server error and never an untyped result; the registry's
typed ``TaskView`` (the hub's OpenAPI schema) is the union of every analysis's type and it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, RootModel, ValidationError

from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.results.combined import NotCombined
from fivesafes.hub import combination
from fivesafes.protocol.models import RunView, TaskView
from fivesafes.sdc.profiles import DEFAULT

RELEASED = {"value": 120, "suppressed": False, "rule": "rounded"}
COUNT = {
    "analysis": "count",
    "total": RELEASED,
    "nodes_contributing": ["north"],
    "nodes_suppressed": [],
    "nodes_missing": ["south"],
    "profile": "default",
}
NOT_COMBINED = {
    "analysis": "count",
    "error": combination.NOT_COMBINED,
    "nodes_contributing": [],
    "nodes_missing": ["north", "south"],
    "profile": "default",
}


def members(model: type[BaseModel]) -> list[type[BaseModel]]:
    """A combined type's shapes (a root model is a union of them)."""
    if issubclass(model, RootModel):
        return list(model.model_fields["root"].annotation.__args__)  # type: ignore[union-attr]
    return [model]


@pytest.mark.parametrize("name", REGISTRY.names())
def test_each_analysis_declares_a_closed_combined_type(name: str) -> None:
    for shape in members(REGISTRY[name].combined):
        assert shape.model_config.get("extra") == "forbid", shape
        assert all(f.is_required() for f in shape.model_fields.values()), shape  # no defaults


def test_a_combination_of_its_type_is_stored_as_it_was_made() -> None:
    class Made:
        name = "count"
        combined = REGISTRY["count"].combined

        def combine(self, outputs: Any, missing: Any, profile: Any) -> dict[str, Any]:
            return dict(COUNT)

    stored = combination.combined(Made(), {"north": {}}, ["south"], DEFAULT)  # type: ignore[arg-type]
    assert stored == COUNT


@pytest.mark.parametrize(
    "made",
    [
        {**COUNT, "rows": [1, 2, 3]},  # a field the type does not have
        {**COUNT, "total": {"value": 3, "suppressed": True, "rule": "x"}},  # not a release
        {k: v for k, v in COUNT.items() if k != "profile"},
        {**COUNT, "analysis": "summary"},
    ],
)
def test_a_combination_not_of_its_type_releases_nothing(made: dict[str, Any]) -> None:
    class Made:
        name = "count"
        combined = REGISTRY["count"].combined

        def combine(self, outputs: Any, missing: Any, profile: Any) -> dict[str, Any]:
            return made

    stored = combination.combined(Made(), {"north": {}}, ["south"], DEFAULT)  # type: ignore[arg-type]
    assert stored == NOT_COMBINED
    NotCombined.model_validate(stored)


def view(combined: dict[str, Any] | None) -> TaskView:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    runs = [RunView(run_id="r1", node="north", state="succeeded")]
    return TaskView(
        task_id="t1",
        project_id="p1",
        analysis="count",
        state="complete",
        created_at=now,
        deadline=now,
        runs=runs,
        combined=combined,
    )


def test_the_typed_view_reads_each_shape_and_refuses_others() -> None:
    typed = REGISTRY.task_view
    assert isinstance(typed.model_validate(view(COUNT).model_dump()), TaskView)
    typed.model_validate(view(NOT_COMBINED).model_dump())
    typed.model_validate(view(None).model_dump())
    with pytest.raises(ValidationError):
        typed.model_validate(view({**COUNT, "extra": 1}).model_dump())
    schema = typed.model_json_schema()
    for analysis in REGISTRY.every():
        assert analysis.combined.__name__ in schema["$defs"], analysis.name
    assert "NotCombined" in schema["$defs"]


def test_a_stored_result_not_of_its_type_is_published_as_the_error() -> None:
    assert combination.published(view(COUNT)).model_dump(mode="json")["combined"] == COUNT
    published = combination.published(view({**COUNT, "mean": float("nan")}))
    assert isinstance(published.combined, NotCombined)
    assert published.model_dump(mode="json")["combined"] == {
        **NOT_COMBINED,
        "nodes_missing": ["north"],
    }
