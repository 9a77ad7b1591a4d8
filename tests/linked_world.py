"""Two synthetic hospitals whose shared persons are linked, as the linkage tests need them: each
hospital's CDM, its identities (with a planted overlap) in its identity store, the linkage secret
made at one and carried to the other, a project whose terms ask for linkage, and the link ids
kept at both (``fivesafes node linkage push`` and ``pull``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from federation import fs
from fivesafes.data.synth import generate
from fivesafes.demo.local import CUSTODIAN

SITES = ("northfield", "lakeside")


def hospitals(harness, tmp_path: Path, persons: int, seed: int) -> dict[str, Path]:
    """Each hospital's CDM, and its node (enrolled, not started)."""
    data = {}
    for n, site in enumerate(SITES):
        data[site] = tmp_path / f"{site}.duckdb"
        generate(data[site], persons=persons, seed=seed + n, site=site)
        harness.add_node(site, {"engine": "duckdb", "path": str(data[site])}, start=False)
    return data


def link(harness, tmp_path: Path, data: dict[str, Path], *, seed: int, title: str,
         pull: bool = True) -> dict:  # fmt: skip
    """Identities with 30% shared, loaded; the secret shared; the project linked (and its link
    ids kept, unless ``pull`` is False): the configs, project, alice's token."""
    out = tmp_path / "identities"
    fs("synth", "identities", *[f"--omop={s}={data[s]}" for s in SITES],
       "--overlap", "0.3", "--seed", str(seed), "--out", str(out))  # fmt: skip
    configs = {s: str(harness.root / s / "node.toml") for s in SITES}
    for site in SITES:
        fs("node", "identities", "load", str(out / f"identities-{site}.csv"), "-c", configs[site])
    fs("node", "linkage", "make-secret", "-c", configs["northfield"])
    copy = harness.root / "lakeside" / "linkage.secret"
    shutil.copy(harness.root / "northfield" / "linkage.secret", copy)
    copy.chmod(0o600)
    token = harness.researcher("alice")
    project = harness.project(["alice"], list(SITES), linkage="across_nodes", title=title)
    for step in ("push", "pull") if pull else ("push",):
        for site in SITES:
            fs("node", "linkage", step, "--project", project, "--by", CUSTODIAN, "-c",
               configs[site])  # fmt: skip
    return {"configs": configs, "project": project, "token": token, "data": data}
