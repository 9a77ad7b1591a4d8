"""A researcher's handle on a federation: submit analyses to the hub and read the results."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from fivesafes.analyses.registry import REGISTRY
from fivesafes.client.studies import Studies
from fivesafes.protocol import bounded_json
from fivesafes.protocol.models import (
    NodeView,
    ProjectEdit,
    ProjectRequest,
    ProjectVersionView,
    ProjectView,
    TaskSummary,
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
            data = bounded_json.loads(path.read_bytes())
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
        return self._send(method, path, **kwargs).json()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The hub's answer; a refusal raised as ``FederationError`` with the hub's code."""
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
        return response

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

    def ask_for_pool(
        self,
        *,
        pool_node: str,
        variables: dict[str, list[str]],
        expires_on: str,
        purpose: str,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Ask for a pool of the linked project's persons (docs/pool.md): which node sends
        which catalogue variables, to which pool, why, until when (``YYYY-MM-DD``)."""
        project_id = self._project_id(project)
        body = {"pool_node": pool_node, "variables": variables, "expires_on": expires_on,
                "purpose": purpose}  # fmt: skip
        found: dict[str, Any] = self._request("POST", f"/api/v1/projects/{project_id}/pools",
                                              json=body)  # fmt: skip
        return found

    def pools(self, project: str | None = None) -> list[dict[str, Any]]:
        """The project's pools: their terms, where each stands, its certificate once made."""
        project_id = self._project_id(project)
        found: list[dict[str, Any]] = self._request("GET", f"/api/v1/projects/{project_id}/pools")
        return found

    def _project_id(self, project: str | None) -> str:
        project_id = project or self.project
        if not project_id:
            raise FederationError("no_project", "Say which project.")
        return project_id

    def task(self, task_id: str, wait: float = 0) -> TaskView:
        return TaskView.model_validate(
            self._request("GET", f"/api/v1/tasks/{task_id}", params={"wait": wait})
        )

    def result_csv(self, task_id: str) -> str:
        """A finished task's result as its page in the hub's portal shows it, as CSV text: each
        table's rows under a column ``table`` naming it, suppressed cells marked as the page
        marks them, and the page's notes (``GET /api/v1/tasks/{id}/result.csv``)."""
        return self._send("GET", f"/api/v1/tasks/{task_id}/result.csv").text

    @property
    def studies(self) -> Studies:
        """Review studies across hospitals (``client.studies``; docs/studies.md)."""
        return Studies(self)

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

    def tasks(
        self, *, project: str | None = None, limit: int = 20, offset: int = 0
    ) -> list[TaskSummary]:
        """Your projects' tasks (or ``project``'s), newest first: what each asked, its state
        and how its nodes answered."""
        query: dict[str, Any] = {"limit": limit, "offset": offset}
        if project:
            query["project"] = project
        found = self._request("GET", "/api/v1/tasks", params=query)
        return [TaskSummary.model_validate(item) for item in found]

    def wait(
        self,
        task_id: str,
        timeout: float,
        progress: Callable[[TaskView], None] | None = None,
    ) -> TaskView:
        """Long-poll until the task completes; the hub ends it by its deadline at the latest.
        ``progress``, if given, is called with the task's view about every second while it is
        still running (each long-poll is then held for a second at most)."""
        give_up = time.monotonic() + timeout + 30
        hold = 25.0 if progress is None else 1.0
        while True:
            view = self.task(task_id, wait=min(hold, max(0.0, give_up - time.monotonic())))
            if view.state == "complete" or time.monotonic() >= give_up:
                return view
            if progress is not None:
                progress(view)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """An analysis's method (``fed.count(...)``, ``fed.glm(...)``): each analysis in the
        registry brings its own (``Analysis.client``)."""
        if name.startswith("_"):
            raise AttributeError(name)
        # most methods are named as their analysis (``count``, ``glm``): import that one only
        named = REGISTRY.get(name)
        if named is not None and name in named.client:
            return functools.partial(named.client[name], self)
        for analysis in REGISTRY.every():
            method = analysis.client.get(name)
            if method is not None:
                return functools.partial(method, self)
        raise AttributeError(f"{type(self).__name__!r} has no attribute or analysis {name!r}")

    def __dir__(self) -> list[str]:
        methods = [m for analysis in REGISTRY.every() for m in analysis.client]
        return sorted({*super().__dir__(), *methods})
