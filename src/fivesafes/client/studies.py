"""Review studies from Python (``fed.studies``; docs/studies.md): a study's lead designs it,
proposes it, adds the released slides as cases, allocates the reads, locks it and reads its
results; a reader sees their worklist and steps through a read. Every call is one request to
the hub's API; a refusal is a ``FederationError`` with the hub's code and words.

    study = fed.studies.create(design)            # a dict as docs/studies.md shows, or a file
    fed.studies.propose(study["study_id"])        # then each node's custodian approves it
    fed.studies.add_cases(study["study_id"], ["SL0123...", ...])
    fed.studies.allocate(study["study_id"])
    # the readers read (the portal, or fed.studies.step), then the lead locks the study
    fed.studies.lock(study["study_id"])
    fed.studies.results(study["study_id"], item="histological_type")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fivesafes.protocol import bounded_json

if TYPE_CHECKING:
    from fivesafes.client.federation import Federation

MAX_DESIGN_BYTES = 256 * 1024


class Studies:
    """The review studies' calls of one ``Federation`` (its hub, token and project)."""

    def __init__(self, fed: Federation) -> None:
        self._fed = fed

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._fed._request(method, f"/api/v1/studies{path}", **kwargs)

    def create(self, design: dict[str, Any] | str | Path, *, project: str | None = None) -> Any:
        """A new study (a draft) of ``project`` (default: the connection's)."""
        project_id = project or self._fed.project
        body = {"project_id": project_id, "design": read_design(design)}
        return self._call("POST", "", json=body)

    def mine(self) -> Any:
        """The studies you lead or read in."""
        return self._call("GET", "")

    def get(self, study_id: str) -> Any:
        return self._call("GET", f"/{study_id}")

    def edit(self, study_id: str, design: dict[str, Any] | str | Path) -> Any:
        return self._call("PUT", f"/{study_id}", json=read_design(design))

    def propose(self, study_id: str) -> Any:
        return self._call("POST", f"/{study_id}/propose")

    def add_cases(self, study_id: str, review_ids: list[str]) -> Any:
        return self._call("POST", f"/{study_id}/cases", json={"review_ids": review_ids})

    def allocate(self, study_id: str) -> Any:
        return self._call("POST", f"/{study_id}/allocate")

    def reassign(self, study_id: str, reader: str) -> Any:
        return self._call("POST", f"/{study_id}/reassign", json={"reader": reader})

    def lock(self, study_id: str) -> Any:
        return self._call("POST", f"/{study_id}/lock")

    def results(self, study_id: str, item: str | None = None) -> Any:
        return self._call("GET", f"/{study_id}/results", params={"item": item} if item else {})

    def results_csv(self, study_id: str, table: str = "agreement", item: str | None = None) -> str:
        params = {"table": table, **({"item": item} if item else {})}
        return self._fed._send("GET", f"/api/v1/studies/{study_id}/results.csv",
                               params=params).text  # fmt: skip

    def worklist(self, study_id: str) -> Any:
        return self._call("GET", f"/{study_id}/worklist")

    def step(self, read_id: str, step: str, **body: Any) -> Any:
        """One step of one's own read: open, save (``answers``, ``phase``, ``feedback``),
        lock, reveal, submit, time (``seconds``)."""
        return self._call("POST", f"/reads/{read_id}/{step}", json=body)


def read_design(design: dict[str, Any] | str | Path) -> dict[str, Any]:
    """A design as a dict, or read from a JSON file (bounded: size and depth)."""
    if isinstance(design, dict):
        return design
    path = Path(design)
    if path.stat().st_size > MAX_DESIGN_BYTES:
        raise ValueError(f"A study's design is at most {MAX_DESIGN_BYTES // 1024} KiB of JSON.")
    try:
        found = bounded_json.loads(path.read_bytes(), max_depth=12)
    except ValueError:
        raise ValueError("The design is not JSON, or is nested too deeply.") from None
    if not isinstance(found, dict):
        raise ValueError("A study's design is a JSON object.")
    return found


def dumps(found: Any) -> str:
    return json.dumps(found, indent=2, sort_keys=True)
