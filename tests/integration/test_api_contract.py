"""The hub's OpenAPI document is its contract: checked against a real hub with schemathesis.

A hub and two nodes run as processes on loopback; alice's project has completed a task of
every analysis, so the tasks' views carry real combined results. Then

- each completed task's view, as the API returns it, is its analysis's published type (the
  registry's typed ``TaskView``, whose ``combined`` is one of the analyses' own models or the
  hub's failure that releases nothing), and passes schemathesis' checks on that route;
- schemathesis generates requests for every researcher route from ``/openapi.json``, with
  alice's token and without one, valid and invalid: no answer is a server error, and every
  answer has a documented status, content type and the schema documented for it.

The number of examples and the time are bounded (``EXAMPLES``, ``BUDGET_SECONDS``), so the
whole module runs in about a minute on two CPUs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from federation import Harness
from fivesafes.analyses.registry import REGISTRY
from fivesafes.analyses.results.combined import NotCombined
from fivesafes.data.synth import concepts as c
from fivesafes.demo.processes import Supervisor

EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
LUNG = {"name": "lung cancer", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}
TASKS: list[tuple[str, dict[str, Any]]] = [
    ("count", {"cohort": EVERYONE}),
    ("summary", {"cohort": EVERYONE, "variable": "bmi"}),
    ("summary", {"cohort": EVERYONE, "variable": "age", "by": "sex"}),
    ("crosstab", {"cohort": EVERYONE, "rows": "smoker", "columns": "sex"}),
    ("crosstab", {"cohort": EVERYONE, "rows": "smoker", "value": "bmi", "statistic": "sum"}),
    ("histogram", {"cohort": EVERYONE, "variable": "age", "edges": [0, 30, 45, 60, 75, 90, 130]}),
    ("glm", {"cohort": EVERYONE, "formula": "lung_cancer ~ age + sex", "family": "binomial"}),
    ("coxph", {"cohort": EVERYONE, "formula": "time_to_lung_cancer ~ age + smoker"}),
    ("meta", {"cohort": EVERYONE, "formula": "lung_cancer ~ age + sex", "family": "binomial"}),
    ("km", {"cohort": EVERYONE, "time": "time_to_lung_cancer", "by": "sex"}),
    ("attrition", {"cohort": LUNG}),
    ("characterise", {"cohort": LUNG, "top": 5, "domains": ["condition", "drug"]}),
    ("correlation", {"cohort": EVERYONE, "variables": ["age", "bmi", "visits_past_year"]}),
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
EXAMPLES = 25  # per route, per way of asking
BUDGET_SECONDS = 60.0  # for the generated requests of the whole module


class Hub:
    """The running federation as the tests see it."""

    def __init__(self, url: str, token: str, project: str, tasks: dict[str, str]) -> None:
        self.url = url
        self.token = token
        self.project = project
        self.tasks = tasks  # task id -> analysis


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, site_data: dict[str, Any]) -> Iterator[Hub]:
    """A hub and two nodes; a task of every analysis completed for alice's project."""
    with Supervisor() as supervisor:
        harness = Harness(tmp_path_factory.mktemp("contract"), supervisor)
        harness.start_hub()
        for name in ("northfield", "riverside"):
            harness.add_node(name, {"engine": "duckdb", "path": str(site_data[name])})
        token = harness.researcher()
        project = harness.project(["alice"], ["northfield", "riverside"])
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=harness.hub_url, headers=headers, timeout=90) as client:
            tasks = {}
            for analysis, parameters in TASKS:
                body = {"project_id": project, "analysis": analysis, "parameters": parameters}
                answer = client.post("/api/v1/tasks", json=body)
                assert answer.status_code == 201, answer.text
                tasks[answer.json()["task_id"]] = analysis
            for task_id in tasks:
                view = client.get(f"/api/v1/tasks/{task_id}", params={"wait": 60}).json()
                assert view["state"] == "complete", view
        yield Hub(harness.hub_url, token, project, tasks)


@pytest.fixture(scope="module")
def schema(hub: Hub) -> Any:
    """The hub's own OpenAPI document, as it serves it: the researcher's routes."""
    loaded = schemathesis.openapi.from_url(f"{hub.url}/openapi.json")
    return loaded.include(tag="researcher")


def test_every_combined_result_is_its_analysis_published_type(hub: Hub, schema: Any) -> None:
    typed = REGISTRY.task_view
    operation = schema["/api/v1/tasks/{task_id}"]["GET"]
    headers = {"authorization": f"Bearer {hub.token}"}
    for task_id, analysis in hub.tasks.items():
        answer = httpx.get(f"{hub.url}/api/v1/tasks/{task_id}", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        view = typed.model_validate(answer.json())
        assert view.state == "complete"
        assert view.combined is not None, analysis
        assert not isinstance(view.combined, NotCombined), (analysis, answer.json()["combined"])
        assert type(view.combined) is REGISTRY[analysis].combined, analysis
        assert answer.json()["combined"]["analysis"] == analysis
        case = operation.Case(path_parameters={"task_id": task_id}, headers=headers)
        case.call_and_validate(base_url=hub.url, checks=CHECKS)


def test_researcher_routes_keep_their_openapi_contract(hub: Hub, schema: Any) -> None:
    """Every researcher route, asked with alice's token or without one, with generated valid
    and invalid requests: no 5xx, and every answer as documented."""
    stop = time.monotonic() + BUDGET_SECONDS
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9, [op.label for op in operations]
    sent = 0
    for operation in operations:
        for headers in ({"authorization": f"Bearer {hub.token}"}, None):
            for mode in MODES:
                strategy = operation.as_strategy(generation_mode=mode, headers=headers)

                @given(case=strategy)
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def ask(case: Any) -> None:
                    nonlocal sent
                    if time.monotonic() > stop:
                        return
                    case.call_and_validate(base_url=hub.url, checks=CHECKS, timeout=30)
                    sent += 1

                try:
                    ask()
                except Unsatisfiable:
                    continue  # nothing of this route's request can be made invalid
                except Exception as error:  # name the route and the way of asking
                    raise AssertionError(f"{operation.label} ({mode.value}): {error}") from error
    assert sent > 100, sent


def test_openapi_publishes_each_analysis_combined_type(hub: Hub) -> None:
    document = httpx.get(f"{hub.url}/openapi.json", timeout=30).json()
    components = document["components"]["schemas"]
    for analysis in REGISTRY.every():
        assert analysis.combined.__name__ in components, analysis.name
    assert "NotCombined" in components
    task = document["paths"]["/api/v1/tasks/{task_id}"]["get"]["responses"]
    assert task["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskView"
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if "researcher" in operation.get("tags", []):  # refusals have the one error shape
                assert "422" not in operation["responses"], path
                refused = operation["responses"]["4XX"]["content"]["application/json"]
                assert refused["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, path
