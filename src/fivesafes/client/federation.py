"""A researcher's handle on a federation: submit analyses to the hub and read the results."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, overload

import httpx

from fivesafes.client.results import (
    AttritionResult,
    CharacterisationResult,
    CountResult,
    CoxResult,
    CrosstabResult,
    GLMResult,
    GroupedSummaryResult,
    KaplanMeierResult,
    MetaResult,
    SummaryResult,
    SummaryTable,
)
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.criteria import Cohort
from fivesafes.protocol.models import (
    NodeView,
    ProjectEdit,
    ProjectRequest,
    ProjectVersionView,
    ProjectView,
    TaskView,
)
from fivesafes.protocol.tls import verify_context


class FederationError(Exception):
    """The hub refused a request; ``code`` is the hub's stable error code."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class Federation:
    def __init__(
        self,
        hub_url: str,
        token: str,
        project: str | None = None,
        ca_file: str | Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.project = project
        self._client = httpx.Client(
            base_url=self.hub_url,
            headers={"Authorization": f"Bearer {token}"},
            verify=verify_context(ca_file),
            timeout=timeout,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Federation:
        """Connect with a connection file: ``{"hub_url", "token", "project", "ca_file"?}``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            return cls(data["hub_url"], data["token"], data.get("project"), data.get("ca_file"))
        except (OSError, ValueError, KeyError) as exc:
            raise FederationError(
                "bad_connection_file", f"Cannot read a connection from {path}: {exc}"
            ) from exc

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- plumbing ------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise FederationError(
                "hub_unreachable", f"Cannot reach the hub at {self.hub_url}."
            ) from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                message = error["message"]
                problems = [
                    f"{d.get('field')}: {d.get('problem')}" for d in error.get("details") or []
                ]
                if problems:
                    message = f"{message} {'; '.join(problems)}"
                raise FederationError(error["code"], message, response.status_code)
            except (ValueError, KeyError, TypeError):
                raise FederationError(
                    "http_error", f"HTTP {response.status_code}", response.status_code
                ) from None
        return response.json()

    # ---- reading ---------------------------------------------------------------------------

    def nodes(self) -> list[NodeView]:
        return [NodeView.model_validate(n) for n in self._request("GET", "/api/v1/nodes")]

    def projects(self) -> list[ProjectView]:
        return [ProjectView.model_validate(p) for p in self._request("GET", "/api/v1/projects")]

    # ---- projects (safe projects: terms, versions, each node's decision) -------------------

    def get_project(self, project: str | None = None) -> ProjectView:
        """A project as the hub holds it: its terms, version, risk tier (with the reasons) and
        each node's decision (``approval_states``)."""
        project_id = self._project_id(project)
        return ProjectView.model_validate(self._request("GET", f"/api/v1/projects/{project_id}"))

    def create_project(self, **terms: Any) -> ProjectView:
        """Create a project (``protocol.models.ProjectRequest``: ``title``, ``nodes``,
        ``start_date``, ``end_date``, ``purpose``, ...); you become its PI. Needs a valid
        safe-researcher accreditation."""
        body = ProjectRequest.model_validate(terms).model_dump(mode="json", exclude_unset=True)
        view = ProjectView.model_validate(self._request("POST", "/api/v1/projects", json=body))
        self.project = self.project or view.project_id
        return view

    def edit_project(self, project: str | None = None, **changes: Any) -> ProjectView:
        """Change a project (as its PI); a change to anything but the title or lay summary
        makes a new version, which each node's custodian approves again."""
        project_id = self._project_id(project)
        body = ProjectEdit.model_validate(changes).model_dump(mode="json", exclude_unset=True)
        return ProjectView.model_validate(
            self._request("PATCH", f"/api/v1/projects/{project_id}", json=body)
        )

    def project_versions(self, project: str | None = None) -> list[ProjectVersionView]:
        project_id = self._project_id(project)
        return [
            ProjectVersionView.model_validate(v)
            for v in self._request("GET", f"/api/v1/projects/{project_id}/versions")
        ]

    def _project_id(self, project: str | None) -> str:
        project_id = project or self.project
        if not project_id:
            raise FederationError("no_project", "Say which project.")
        return project_id

    def task(self, task_id: str, wait: float = 0) -> TaskView:
        return TaskView.model_validate(
            self._request("GET", f"/api/v1/tasks/{task_id}", params={"wait": wait})
        )

    # ---- analyses ----------------------------------------------------------------------------

    def submit(
        self,
        analysis: str,
        parameters: dict[str, Any],
        *,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
        gate: dict[str, Any] | None = None,
    ) -> TaskView:
        project_id = project or self.project
        if not project_id:
            raise FederationError("no_project", "Say which project this analysis is for.")
        body: dict[str, Any] = {
            "project_id": project_id,
            "analysis": analysis,
            "parameters": parameters,
            "timeout_seconds": timeout,
        }
        if nodes:
            body["nodes"] = nodes
        if gate:
            body["gate"] = gate
        return TaskView.model_validate(self._request("POST", "/api/v1/tasks", json=body))

    def wait(self, task_id: str, timeout: float) -> TaskView:
        """Long-poll until the task completes; the hub ends it by its deadline at the latest."""
        give_up = time.monotonic() + timeout + 30
        while True:
            view = self.task(task_id, wait=min(25.0, max(0.0, give_up - time.monotonic())))
            if view.state == "complete" or time.monotonic() >= give_up:
                return view

    def count(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        *,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
        gate: dict[str, Any] | None = None,
    ) -> CountResult:
        """Count distinct persons in ``cohort`` at every node of the project, after
        disclosure control; per node, a total, and who refused or failed and why. ``gate``
        asks every node for stricter disclosure settings (e.g. ``{"threshold": 20}``)."""
        view = self.submit(
            "count",
            {"cohort": _cohort_json(cohort)},
            project=project,
            nodes=nodes,
            timeout=timeout,
            gate=gate,
        )
        return CountResult.from_view(self.wait(view.task_id, timeout))

    @overload
    def summary(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        variable: str,
        *,
        edges: list[float] | None = None,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
        gate: dict[str, Any] | None = None,
    ) -> SummaryResult: ...

    @overload
    def summary(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        variable: list[str],
        *,
        edges: list[float] | None = None,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
        gate: dict[str, Any] | None = None,
    ) -> SummaryTable: ...

    def summary(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        variable: str | list[str],
        *,
        edges: list[float] | None = None,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
        gate: dict[str, Any] | None = None,
    ) -> SummaryResult | SummaryTable:
        """n, missing, mean, standard deviation and quantiles (from bins on ``edges``, by
        default the catalogue's) of a named ``variable`` (e.g. ``"age"``) over ``cohort`` at
        every node, after disclosure control, and pooled at the hub. A list of variables gives
        a ``SummaryTable``: one summary per variable (``edges`` is then not allowed)."""
        if isinstance(variable, list):
            if edges is not None:
                raise ValueError("bin edges belong to one variable: summarise it on its own")
            return SummaryTable(
                {
                    name: self.summary(
                        cohort, name, project=project, nodes=nodes, timeout=timeout, gate=gate
                    )
                    for name in variable
                }
            )
        parameters: dict[str, Any] = {"cohort": _cohort_json(cohort), "variable": variable}
        if edges is not None:
            parameters["edges"] = edges
        view = self.submit(
            "summary", parameters, project=project, nodes=nodes, timeout=timeout, gate=gate
        )
        return SummaryResult.from_view(self.wait(view.task_id, timeout))

    def summary_by(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        variable: str,
        by: str,
        *,
        edges: list[float] | None = None,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
    ) -> GroupedSummaryResult:
        """As ``summary``, per level of a categorical or binary factor ``by`` (e.g. ``"sex"``);
        each level is judged by every node's gate on its own."""
        parameters: dict[str, Any] = {
            "cohort": _cohort_json(cohort),
            "variable": variable,
            "by": by,
        }
        if edges is not None:
            parameters["edges"] = edges
        view = self.submit("summary", parameters, project=project, nodes=nodes, timeout=timeout)
        return GroupedSummaryResult.from_view(self.wait(view.task_id, timeout))

    def glm(
        self,
        formula: str,
        *,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        family: str = "gaussian",
        offset: str | None = None,
        weights: str | None = None,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 300,
        gate: dict[str, Any] | None = None,
    ) -> GLMResult:
        """Fit ``formula`` (e.g. ``"lung_cancer ~ age + sex + smoker + bmi"``) over ``cohort``
        at every node by federated IRLS: the same fit as statsmodels on the pooled rows."""
        parameters: dict[str, Any] = {
            "cohort": _cohort_json(cohort),
            "formula": formula,
            "family": family,
        }
        if offset is not None:
            parameters["offset"] = offset
        if weights is not None:
            parameters["weights"] = weights
        view = self.submit(
            "glm", parameters, project=project, nodes=nodes, timeout=timeout, gate=gate
        )
        return GLMResult.from_view(self.wait(view.task_id, timeout))

    def coxph(
        self,
        formula: str,
        *,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 300,
        gate: dict[str, Any] | None = None,
    ) -> CoxResult:
        """Fit a Cox model stratified by node (``"time_to_lung_cancer ~ age + sex + smoker"``)
        by federated Newton-Raphson: the pooled fit with one stratum per node, Breslow ties."""
        parameters = {"cohort": _cohort_json(cohort), "formula": formula}
        view = self.submit(
            "coxph", parameters, project=project, nodes=nodes, timeout=timeout, gate=gate
        )
        return CoxResult.from_view(self.wait(view.task_id, timeout))

    def meta_analysis(
        self,
        formula: str,
        *,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        family: str = "gaussian",
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 300,
    ) -> MetaResult:
        """Fit ``formula`` at each node on its own rows and meta-analyse the estimates
        (fixed effect and DerSimonian-Laird random effects, tau², I²)."""
        parameters = {"cohort": _cohort_json(cohort), "formula": formula, "family": family}
        view = self.submit("meta", parameters, project=project, nodes=nodes, timeout=timeout)
        return MetaResult.from_view(self.wait(view.task_id, timeout))

    def crosstab(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        rows: str,
        columns: str | None = None,
        *,
        value: str | None = None,
        statistic: str | None = None,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
    ) -> CrosstabResult:
        """Distinct persons of ``cohort`` by the levels of ``rows`` (and ``columns``): each
        node's table checked by its gate, and the combined table gated again. With ``value``
        (e.g. ``"bmi"``) a magnitude table: per cell the ``statistic`` (``"mean"``, the
        default, or ``"sum"``) of the value over the persons who have it."""
        parameters: dict[str, Any] = {"cohort": _cohort_json(cohort), "rows": rows}
        extra = {"columns": columns, "value": value, "statistic": statistic}
        parameters |= {k: v for k, v in extra.items() if v is not None}
        view = self.submit("crosstab", parameters, project=project, nodes=nodes, timeout=timeout)
        return CrosstabResult.from_view(self.wait(view.task_id, timeout))

    def histogram(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        variable: str,
        edges: list[float],
        *,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
    ) -> CrosstabResult:
        """Distinct persons of ``cohort`` per bin of ``variable`` with the agreed ``edges``
        (bins [a, b), the last [a, b]): each node's histogram checked by its gate, and the
        combined one gated again. Rows are bins, the one column is ``count``."""
        parameters = {"cohort": _cohort_json(cohort), "variable": variable, "edges": edges}
        view = self.submit("histogram", parameters, project=project, nodes=nodes, timeout=timeout)
        return CrosstabResult.from_view(self.wait(view.task_id, timeout))

    def attrition(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        *,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
    ) -> AttritionResult:
        """Persons remaining after each step of ``cohort`` (a Circe definition's inclusion
        rules, or the platform model's index, sex, age and criteria), per node and summed."""
        parameters = {"cohort": _cohort_json(cohort)}
        view = self.submit("attrition", parameters, project=project, nodes=nodes, timeout=timeout)
        return AttritionResult.from_view(self.wait(view.task_id, timeout))

    def characterise(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        *,
        top: int = 10,
        window_days: int = 365,
        domains: list[str] | None = None,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
    ) -> CharacterisationResult:
        """Age bands, sex and the ``top`` concepts per domain recorded in the ``window_days``
        up to each person's index date, per node and summed."""
        parameters: dict[str, Any] = {
            "cohort": _cohort_json(cohort),
            "top": top,
            "window_days": window_days,
        }
        if domains is not None:
            parameters["domains"] = domains
        view = self.submit(
            "characterise", parameters, project=project, nodes=nodes, timeout=timeout
        )
        return CharacterisationResult.from_view(self.wait(view.task_id, timeout))

    def kaplan_meier(
        self,
        cohort: Cohort | CirceCohort | dict[str, Any] | str | Path,
        time: str = "time_to_lung_cancer",
        by: str | None = None,
        *,
        interval: float = 1.0,
        horizon: float = 10.0,
        project: str | None = None,
        nodes: list[str] | None = None,
        timeout: int = 120,
    ) -> KaplanMeierResult:
        """Kaplan-Meier survival of ``time`` (by the levels of ``by``) on intervals of
        ``interval`` years up to ``horizon``: each node merges intervals until enough persons
        have left the risk set, and the hub pools on the boundaries every node showed."""
        parameters: dict[str, Any] = {
            "cohort": _cohort_json(cohort),
            "time": time,
            "interval": interval,
            "horizon": horizon,
        }
        if by is not None:
            parameters["by"] = by
        view = self.submit("km", parameters, project=project, nodes=nodes, timeout=timeout)
        return KaplanMeierResult.from_view(self.wait(view.task_id, timeout))


CIRCE_KEYS = frozenset({"PrimaryCriteria", "ConceptSets", "primaryCriteria", "conceptSets"})


def _cohort_json(cohort: Cohort | CirceCohort | dict[str, Any] | str | Path) -> dict[str, Any]:
    """A cohort as the task carries it. A bare OHDSI Circe expression (an ATLAS export or a
    PhenotypeLibrary file: ``ConceptSets``, ``PrimaryCriteria``, ...) is wrapped as
    ``{"name", "circe"}``, named after its file or its own ``title``."""
    if isinstance(cohort, Cohort | CirceCohort):
        return cohort.model_dump(mode="json", exclude_none=True)
    name = "Circe cohort"
    if isinstance(cohort, dict):
        data = cohort
    else:
        data = dict(json.loads(Path(cohort).read_text()))
        name = Path(cohort).stem
    if CIRCE_KEYS & data.keys():
        title = data.get("title") or data.get("name")
        return {"name": str(title or name)[:200], "circe": data}
    return data
