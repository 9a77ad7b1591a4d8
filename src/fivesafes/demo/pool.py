"""The demo's pool (issue 18, docs/pool.md): smoking recorded at northfield and lung cancer
recorded at lakeside, for the persons the two share, brought together in a pool for a
logistic regression that neither hospital can fit alone; then a custodian revokes and the pool
destroys its data and signs a certificate.

What is planted: before the nodes start, the shared persons' lung cancer at lakeside is drawn
from their smoking at northfield (``linkage.plant``), so the pooled estimate has a truth to be
held against. What is real: the terms the hub signs, each custodian's approval and extract (link
ids, dates shifted per person), the pool service (``fivesafes pool serve``: its receiver checks
and merges, its node agent runs the GLM through the node's gate), the revocation, the
destruction and its signed certificate.
"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fivesafes.client import Federation
from fivesafes.data.synth import concepts as c
from fivesafes.demo.local import CUSTODIAN, LocalFederation, edit_toml
from fivesafes.demo.processes import run_fivesafes, wait_for_health
from fivesafes.linkage.plant import Planted, plant_smoking_to_lung_cancer

POOL = "pool"
EXPOSED, OUTCOME = "northfield", "lakeside"
PLANTED = "planted.json"
SMOKING = {
    "name": "First smoking status",
    "criteria": [{"domain": "observation", "concepts": [c.TOBACCO_SMOKING_STATUS]}],
}


def plant(workdir: Path, data: dict[str, Path], overlap: float, seed: int) -> Planted:
    """Before the nodes start: the identities (as ``run_linkage`` makes them again later, byte
    for byte), and lung cancer at lakeside drawn from smoking at northfield for the persons
    they share."""
    out = workdir / "identities"
    nodes = sorted(data)
    run_fivesafes("synth", "identities", *[f"--omop={n}={data[n]}" for n in nodes], "--overlap",
                  str(overlap), "--seed", str(seed), "--out", str(out))  # fmt: skip
    planted = plant_smoking_to_lung_cancer(
        out / "truth.csv", (EXPOSED, data[EXPOSED]), (OUTCOME, data[OUTCOME])
    )
    (out / PLANTED).write_text(json.dumps(planted.__dict__))
    return planted


def _wait(fed: Federation, state: str, seconds: float) -> dict[str, Any]:
    deadline = time.time() + seconds
    while True:
        (pool,) = fed.pools()
        if pool["state"] == state or time.time() > deadline:
            return pool
        time.sleep(0.5)


def run_pool(
    local: LocalFederation, workdir: Path, project_id: str, token: str, port: int,
    console: Console,
) -> bool:  # fmt: skip
    """Ask for the pool, approve and send at both hospitals, fit at the pool, revoke."""
    planted = json.loads((workdir / "identities" / PLANTED).read_text())
    local.add_node(POOL, {"engine": "duckdb", "path": str(workdir / POOL / "pooled.duckdb")},
                   start=False)  # fmt: skip
    config = str(workdir / POOL / "node.toml")
    edit_toml(Path(config), "pool", port=port)
    fed = local.federation(token, project_id)
    made = fed.ask_for_pool(
        pool_node=POOL,
        variables={EXPOSED: ["smoker"], OUTCOME: ["lung_cancer"]},
        expires_on=(date.today() + timedelta(days=30)).isoformat(),
        purpose="Does smoking recorded at one hospital predict lung cancer recorded at another?",
    )
    local.approve(POOL, made["pool_project_id"])
    service = local.supervisor.start(POOL, ["pool", "serve", "--config", config],
                                     workdir / POOL / "pool.log")  # fmt: skip
    wait_for_health(f"http://127.0.0.1:{port}", service)
    console.print(f"[green]✓[/] pool {made['pool_id']} asked for: {EXPOSED} sends smoking, "
                  f"{OUTCOME} lung cancer; the pool service is up")  # fmt: skip
    for node in (EXPOSED, OUTCOME):
        node_config = str(workdir / node / "node.toml")
        for step in ("approve", "send"):
            run_fivesafes("node", "pool", step, "--pool", made["pool_id"], "--config",
                          node_config, "--by", CUSTODIAN)  # fmt: skip
    pool = _wait(fed, "ready", 120)
    console.print(f"[green]✓[/] both custodians approved the terms and sent their extracts; "
                  f"the pool is {pool['state']}")  # fmt: skip
    fit = local.federation(token, made["pool_project_id"]).glm(
        "lung_cancer ~ smoker", cohort=SMOKING, family="binomial", timeout=300
    )
    table = Table(
        "term", "estimate", "95% interval", "planted",
        title="Pooled logistic regression: lung cancer (lakeside) ~ smoking (northfield)",
        caption="Fitted at the pool through its disclosure gate; planted: the synthetic truth "
        "(the estimate is one draw of the shared persons' outcomes around it).",
    )  # fmt: skip
    truth = {"Intercept": planted["intercept"], "smoker[T.current]": planted["current"],
             "smoker[T.former]": 0.0}  # fmt: skip
    for name, estimate, se in zip(fit.names, fit.params, fit.bse, strict=True):
        low, high = estimate - 1.96 * se, estimate + 1.96 * se
        table.add_row(name, f"{estimate:.2f}", f"{low:.2f} to {high:.2f}",
                      f"{truth[name]:.2f}" if name in truth else "")  # fmt: skip
    console.print(table if fit.ok else f"[red]The pooled fit failed: {fit}[/]")
    run_fivesafes("node", "pool", "revoke", "--pool", made["pool_id"], "--config",
                  str(workdir / OUTCOME / "node.toml"), "--by", CUSTODIAN)  # fmt: skip
    pool = _wait(fed, "destroyed", 120)
    certificate = pool.get("certificate") or {}
    files = len(certificate.get("payload", {}).get("files", [])) if certificate else 0
    checked = run_fivesafes("pool", "certificate", "--pool", made["pool_id"], "--config", config)
    verified = "signature verifies" in checked
    console.print(f"[green]✓[/] {OUTCOME}'s custodian revoked: the pool deleted {files} files "
                  f"and signed a certificate of destruction (pool {pool['state']}; "
                  f"signature {'verified' if verified else 'NOT verified'})")  # fmt: skip
    return bool(fit.ok and pool["state"] == "destroyed" and verified)
