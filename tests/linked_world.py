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


POOL = "pool-one"


def with_pool(harness, tmp_path: Path, *, persons: int, seed: int, title: str) -> dict:
    """A hub that knows a pool, two linked hospitals, and the pool service running (its node
    enrolled, not yet in any project): ``link``'s world, the pooled data's path, its config."""
    from fivesafes.demo.local import edit_toml
    from fivesafes.demo.processes import free_port, wait_for_health

    pool_port = free_port()
    harness.start_hub(pool_urls={POOL: f"http://127.0.0.1:{pool_port}"})
    data = hospitals(harness, tmp_path, persons, seed)
    pooled = harness.root / POOL / "pooled.duckdb"
    harness.add_node(POOL, {"engine": "duckdb", "path": str(pooled)}, start=False)
    config = harness.root / POOL / "node.toml"
    edit_toml(config, "pool", port=pool_port)
    world = link(harness, tmp_path, data, seed=seed, title=title)
    process = harness.supervisor.start(POOL, ["pool", "serve", "--config", str(config)],
                                       harness.root / POOL / "pool.log")  # fmt: skip
    wait_for_health(f"http://127.0.0.1:{pool_port}", process)
    return {**world, "pooled": pooled, "pool_config": str(config), "pool_process": process,
            "pool_url": f"http://127.0.0.1:{pool_port}"}  # fmt: skip


def ready_pool(harness, world: dict, variables: dict[str, list[str]], purpose: str) -> dict:
    """A pool asked for by alice, its project approved at the pool, the terms approved and the
    extracts sent by both custodians, merged (the hub says ready): the hub's view of it."""
    import time
    from datetime import date, timedelta

    fed = harness.federation(world["token"], world["project"])
    made = fed.ask_for_pool(pool_node=POOL, variables=variables, purpose=purpose,
                            expires_on=(date.today() + timedelta(days=30)).isoformat())  # fmt: skip
    harness.approve(POOL, made["pool_project_id"])
    for site in SITES:
        for step in ("approve", "send"):
            fs("node", "pool", step, "--pool", made["pool_id"], "--by", CUSTODIAN, "-c",
               world["configs"][site])  # fmt: skip
    deadline = time.time() + 60
    while fed.pools()[0]["state"] != "ready" and time.time() < deadline:
        time.sleep(0.5)
    return {**made, **fed.pools()[0]}
