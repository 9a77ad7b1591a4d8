"""A review study's world, for the tests of issue 17: the slide world of issue 16
(``slide_review_world``: a hub, a node with synthetic slides registered and the demo model run)
with two reviewers (rita at riverside, ravi at lakeside) and a project of theirs and alice's,
approved by the node, two slides released to it with the model's predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import httpx

from federation import fs
from fivesafes.demo.local import CUSTODIAN
from fivesafes.pathology.releases import release_id
from slide_review_world import MODEL, NODE, slide_world


def study_world(harness: Any, folder: Path) -> dict[str, Any]:
    made = slide_world(harness, folder)
    tokens = {
        "alice": harness.token_for("alice"),
        "rita": harness.researcher("rita", roles=("reviewer",)),
        "ravi": harness.researcher("ravi", roles=("reviewer",)),
        "carol": harness.researcher("carol"),
    }
    project = harness.project(["alice", "rita", "ravi"], [NODE],
                              data_domains=["omop", "pathology"], title="Review study")  # fmt: skip
    with duckdb.connect(str(folder / "omop.duckdb"), read_only=True) as con:
        slides = [r[0] for r in con.execute(
            "SELECT slide_id FROM pathology_slide WHERE format = 'aperio' ORDER BY slide_id LIMIT 2"
        ).fetchall()]  # fmt: skip
    fs("node", "slides", "release", *slides, "--project", project, "--model", MODEL,
       "--by", CUSTODIAN, "-c", made["config"])  # fmt: skip
    releases = [release_id(made["key"], project, s) for s in slides]
    return made | {"tokens": tokens, "study_project": project, "releases": releases}


def api(harness: Any, world: dict[str, Any], who: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {world['tokens'][who]}"}
    return httpx.Client(base_url=harness.hub_url + "/api/v1", headers=headers, timeout=60)


def design(**changes: Any) -> dict[str, Any]:
    return {
        "title": "Lung biopsies read at two other hospitals",
        "purpose": "Agreement on the diagnosis, and feedback on the demo model.",
        "nodes": [NODE],
        "model": MODEL,
        "readers": [
            {"username": "rita", "site": "riverside"},
            {"username": "ravi", "site": "lakeside"},
        ],
        "allocation": {"reads_per_case": 2, "exclude_own_site": True},
        "form": {"form_id": "lung_biopsy", "version": 1},
        "clinical_fields": ["age_band", "sex", "diagnosis_code"],
        "ai_answer": {"item": "tumour_present", "yes": "yes", "no": "no", "when_class": "Tumor"},
        **changes,
    }


def open_study(harness: Any, world: dict[str, Any]) -> str:
    """alice's study, proposed, approved by the node's custodian, its cases added and read by
    rita and ravi: its id."""
    alice = api(harness, world, "alice")
    made = alice.post("/studies", json={"project_id": world["study_project"], "design": design()})
    assert made.status_code == 201, made.text
    sid = str(made.json()["study_id"])
    assert alice.post(f"/studies/{sid}/propose").status_code == 200
    fs("node", "studies", "approve", sid, "--by", CUSTODIAN, "--yes", "-c", world["config"])
    added = alice.post(f"/studies/{sid}/cases", json={"review_ids": world["releases"]})
    assert added.status_code == 200, added.text
    assert alice.post(f"/studies/{sid}/allocate").status_code == 200
    return sid
