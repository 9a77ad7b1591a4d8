"""The demo's linkage (issue 18, docs/linkage.md): the three hospitals link the persons they
share, through the nodes' own commands and the hub's linkage unit, and the overlap is printed
beside the overlap planted.

What is real: the identities' checks and store at each node, the key ceremony (the secret made
at one node and copied to the others: in life, carried by their custodians), a project whose
terms ask for linkage across its nodes approved by each custodian, the tokens each node sends
under random references, the hub's matching, link ids kept at each node, and the counts the
hub shows through its gate, and a linked count across two hospitals (each part blinded).
What is synthetic: the identities (``fivesafes synth
identities``), with a planted overlap and errors, so the table can be held against the truth.
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from fivesafes.data.synth import concepts as c
from fivesafes.demo.local import CUSTODIAN, LocalFederation
from fivesafes.demo.processes import run_fivesafes
from fivesafes.node import linkage as node_linkage

OVERLAP = 0.2
SEED = 2026


def _planted(truth: Path) -> dict[tuple[str, str], int]:
    """Persons the identities share, per pair of hospitals (from the truth file)."""
    sites_of: dict[str, set[str]] = defaultdict(set)
    with truth.open() as handle:
        for row in csv.DictReader(handle):
            sites_of[row["true_person"]].add(row["site"])
    shared: dict[tuple[str, str], int] = defaultdict(int)
    for sites in sites_of.values():
        for a in sites:
            for b in sites:
                if a < b:
                    shared[(a, b)] += 1
    return shared


def run_linkage(
    local: LocalFederation, workdir: Path, data: dict[str, Path], token: str, console: Console
) -> tuple[bool, str | None]:
    """Link the hospitals' shared persons; print the overlap table and a linked count. Whether
    all went well, and the linked project (None if it was not linked)."""
    nodes = sorted(data)
    out = workdir / "identities"
    run_fivesafes("synth", "identities", *[f"--omop={n}={data[n]}" for n in nodes], "--overlap",
               str(OVERLAP), "--seed", str(SEED), "--out", str(out))  # fmt: skip
    config = {n: str(workdir / n / "node.toml") for n in nodes}
    for n in nodes:
        run_fivesafes("node", "identities", "load", str(out / f"identities-{n}.csv"), "--config",
                   config[n], "--by", "demo-pas-feed")  # fmt: skip
    first = nodes[0]
    secret = workdir / first / "linkage.secret"
    if not secret.exists():
        run_fivesafes(
            "node", "linkage", "make-secret", "--config", config[first], "--by", CUSTODIAN
        )
    for n in nodes[1:]:  # the key ceremony: the custodians carry the secret to the others
        copy = workdir / n / "linkage.secret"
        copy.unlink(missing_ok=True)
        shutil.copy(secret, copy)
        copy.chmod(0o600)
    console.print(f"[green]✓[/] identities loaded at {len(nodes)} hospitals (synthetic, "
                  f"{OVERLAP:.0%} of each later hospital's persons shared with an earlier one); "
                  "the linkage secret made at one node and carried to the others")  # fmt: skip
    project_id = local.project(["alice"], nodes, title="The same people across the hospitals",
                               linkage="across_nodes", data_domains=["omop"])  # fmt: skip
    console.print(f"[green]✓[/] project {project_id} asks for linkage across its nodes; "
                  "every custodian approved it")  # fmt: skip
    for n in nodes:
        run_fivesafes("node", "linkage", "push", "--project", project_id, "--config", config[n],
                   "--by", CUSTODIAN)  # fmt: skip
    for n in nodes:
        run_fivesafes("node", "linkage", "pull", "--project", project_id, "--config", config[n],
                   "--by", CUSTODIAN)  # fmt: skip
    view = httpx.get(f"{local.hub_url}/api/v1/projects/{project_id}/linkage",
                     headers={"Authorization": f"Bearer {token}"}, timeout=60).json()  # fmt: skip
    planted = _planted(out / "truth.csv")
    caption = (
        "linked: the hub's counts, through its gate (by encodings: of those, the ones tokens "
        "missed; Dice: the encodings' threshold the run chose from its own strangers); "
        "planted: the synthetic truth. Each node sent tokens and encodings under random "
        "references, never a person."
    )
    table = Table(title="Persons linked between hospitals", caption=caption)
    table.add_column("hospitals")
    table.add_column("linked", justify="right")
    table.add_column("by encodings", justify="right")
    table.add_column("Dice", justify="right")
    table.add_column("planted", justify="right")
    for pair in view.get("pairs", []):
        a, b = pair["nodes"]
        dice = pair.get("encodings_threshold")
        table.add_row(f"{a} and {b}", pair["shown"], pair.get("shown_by_encodings") or "-",
                      f"{dice:.2f}" if dice else "-", str(planted.get((a, b), 0)))  # fmt: skip
    console.print(table)
    if view.get("state") != "linked":
        return False, None
    return _linked_count(local, data, project_id, token, console), project_id


WOMEN = {"name": "Women", "sex": ["female"]}
HYPERTENSION = {
    "name": "Hypertension",
    "criteria": [{"domain": "condition", "concepts": [c.HYPERTENSIVE_DISORDER]}],
}


def _linked_count(
    local: LocalFederation, data: dict[str, Path], project_id: str, token: str, console: Console
) -> bool:
    """Women at the first hospital who have hypertension at the second, counted with each part
    blinded (ADR 0031), printed beside the truth the demo reads from both nodes."""
    first, second = sorted(data)[:2]
    result = local.federation(token, project_id).linked_count(
        {first: WOMEN, second: HYPERTENSION}, timeout=120
    )
    links = {n: node_linkage.linked(local.node_service(n), project_id) for n in (first, second)}
    women = _persons(data[first], WOMEN)
    hypertensive = _persons(data[second], HYPERTENSION)
    truth = len(
        {links[first][p] for p in women if p in links[first]}
        & {links[second][p] for p in hypertensive if p in links[second]}
    )
    console.print(f"[green]✓[/] linked count: {result.display} (truth {truth})")
    console.print(f"  women at {first} who have hypertension at {second}; each part was sent "
                  "blinded and seen by no one", highlight=False)  # fmt: skip
    return result.complete and not result.suppressed


def _persons(path: Path, cohort: dict[str, Any]) -> set[int]:
    from pydantic import TypeAdapter

    from fivesafes.analyses.parameters import CohortDefinition
    from fivesafes.cohorts.compile import cohort_ids
    from fivesafes.data.engines import open_omop
    from fivesafes.data.source import DuckDBSource

    db = open_omop(DuckDBSource(engine="duckdb", path=str(path)))
    try:
        model = TypeAdapter(CohortDefinition).validate_python(cohort)
        ids = cohort_ids(db, cohort=model).to_pyarrow().column("person_id").to_pylist()
        return {int(p) for p in ids}
    finally:
        db.close()
