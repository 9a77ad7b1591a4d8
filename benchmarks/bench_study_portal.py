"""The review study's pages under 50 concurrent readers (issue 17): the worklist, a read's page,
its slide's descriptor and tiles, and an autosave, each timed as a signed-in browser asks for
it, all readers at once; against the same pages asked by one reader alone, in the same run;
record it in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_study_portal.py                 # recorded
    .venv/bin/python benchmarks/bench_study_portal.py --readers 10 --rounds 2 --no-docs

A real hub process and a node's real commands on loopback: the node's CDM synthetic (1,000
persons), slides synthesised for a few persons, registered, the demo model run, and released to
the project with ``fivesafes node slides release``; a study of them read by ``--readers``
reviewers (each case read by 10 of them), approved with ``fivesafes node studies approve``.
Each reader (a thread with its own signed-in session, six connections kept alive, as a
browser) opens their first read once, then for ``--rounds`` rounds: the worklist page, the
read's page, its DeepZoom descriptor, a 3 x 3 field of tiles at a random level, and a save
of a draft (a POST with the CSRF token). The tiles are the hub's cached ones after the first
round, as a reader's browser would see them again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import httpx

from fivesafes.data.synth import generate
from fivesafes.demo.local import CUSTODIAN, LocalFederation
from fivesafes.demo.processes import Supervisor, fivesafes_command
from fivesafes.imaging.synth import link_persons
from fivesafes.node.pseudonyms import load_key, pseudonym
from fivesafes.pathology.releases import release_id
from record import machine, update_section

NODE = "northfield"
MODEL = "fivesafes-demo-colour-detector"
ANSWERS = {"adequacy": "adequate", "tumour_present": "yes", "histological_type": "squamous"}


def run(*args: str) -> str:
    import subprocess

    done = subprocess.run(fivesafes_command(*args), capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"fivesafes {' '.join(args[:3])}: {done.stderr[-400:]}")
    return done.stdout


def world(local: LocalFederation, folder: Path, readers: int) -> tuple[str, list[str]]:
    """The hub, the node's slides released, a study open and allocated: its id and readers."""
    local.start_hub()
    omop = folder / "omop.duckdb"
    generate(omop, persons=1000, seed=3)
    local.add_node(NODE, {"engine": "duckdb", "path": str(omop)}, start=False)
    config = str(local.root / NODE / "node.toml")
    run("node", "pseudonym-key", "-c", config)
    key = load_key(local.root / NODE / "pseudonym.key")
    link_persons(omop, lambda value: pseudonym(value, key))
    made = folder / "made"
    run("synth", "slides", "--omop", str(omop), "--out", str(made), "--persons-limit", "4")
    run("node", "slides", "add", str(made / "slides"), "-c", config,
        "--specimen-map", str(made / "ground-truth" / "specimen_map.csv"))  # fmt: skip
    run("node", "slides", "predict-demo", "-c", config)
    names = [f"reader{i:02d}" for i in range(readers)]
    token = local.researcher("alice")
    for name in names:
        local.researcher(name, roles=("reviewer",))
    project = local.project(["alice", *names], [NODE], data_domains=["omop", "pathology"])
    with duckdb.connect(str(omop), read_only=True) as con:
        slides = [r[0] for r in con.execute(
            "SELECT slide_id FROM pathology_slide WHERE format = 'aperio' ORDER BY slide_id LIMIT 6"
        ).fetchall()]  # fmt: skip
    run("node", "slides", "release", *slides, "--project", project, "--model", MODEL,
        "--by", CUSTODIAN, "-c", config)  # fmt: skip
    api = httpx.Client(base_url=f"{local.hub_url}/api/v1", timeout=120,
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    design = {
        "title": "A study under load", "purpose": "The pages under many readers at once.",
        "nodes": [NODE], "model": MODEL, "form": {"form_id": "lung_biopsy", "version": 1},
        "readers": [{"username": n, "site": f"site{i % 5}"} for i, n in enumerate(names)],
        "allocation": {"reads_per_case": min(10, readers), "exclude_own_site": False},
    }  # fmt: skip
    sid = api.post("/studies", json={"project_id": project, "design": design}).json()["study_id"]
    api.post(f"/studies/{sid}/propose").raise_for_status()
    run("node", "studies", "approve", sid, "--by", CUSTODIAN, "--yes", "-c", config)
    cases = [release_id(key, project, s) for s in slides]
    api.post(f"/studies/{sid}/cases", json={"review_ids": cases}).raise_for_status()
    api.post(f"/studies/{sid}/allocate").raise_for_status()
    return sid, names


def sessions(local: LocalFederation, names: list[str]) -> dict[str, tuple[str, str]]:
    service = local.hub()
    try:
        made = {}
        for name in names:
            account = service.read(lambda s, n=name: service.account_store.require(s, n))
            made[name] = service.accounts.create_session(account)
        return made
    finally:
        service.stop()


class Reader(threading.Thread):
    def __init__(self, url: str, session: tuple[str, str], rounds: int, start: threading.Event,
                 seed: int) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, timeout=60,
                                   limits=httpx.Limits(max_keepalive_connections=6))  # fmt: skip
        self.client.cookies.set("fivesafes_session", session[0])
        self.csrf = session[1]
        self.rounds, self.start_at, self.rng = rounds, start, random.Random(seed)
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    def timed(self, kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.errors.append(f"{kind}: {type(exc).__name__}")
            return None
        self.times[kind].append(time.perf_counter() - started)
        if response.status_code >= 400:
            self.errors.append(f"{kind}: {response.status_code}")
        return response

    def run(self) -> None:
        page = self.client.get("/review/studies")
        reads = [line.split('href="')[1].split('"')[0] for line in page.text.splitlines()
                 if 'href="/review/studies/reads/' in line]  # fmt: skip
        if not reads:
            self.errors.append("no read in the worklist")
            return
        read = reads[0]
        headers = {"X-CSRF-Token": self.csrf, "content-type": "application/json"}
        self.client.post(f"{read}/open", headers=headers, content=b"")
        dzi = self.client.get(f"{read}/dzi.json").json()
        width, height = int(dzi["Image"]["Size"]["Width"]), int(dzi["Image"]["Size"]["Height"])
        top = max(0, (max(width, height) - 1).bit_length())
        self.start_at.wait()
        for _ in range(self.rounds):
            self.timed("worklist page", "GET", "/review/studies")
            self.timed("read page", "GET", read)
            self.timed("descriptor", "GET", f"{read}/dzi.json")
            level = self.rng.randint(max(0, top - 3), top)
            scale = 2 ** (top - level)
            cols, rows = -(-width // scale // 256), -(-height // scale // 256)
            c0, r0 = self.rng.randrange(max(1, cols - 2)), self.rng.randrange(max(1, rows - 2))
            for c in range(c0, min(cols, c0 + 3)):
                for r in range(r0, min(rows, r0 + 3)):
                    self.timed("tile", "GET", f"{read}/tiles/{level}/{c}_{r}.jpeg")
            body = json.dumps({"answers": ANSWERS}).encode()
            self.timed("save (a draft)", "POST", f"{read}/save", headers=headers, content=body)


def load(
    url: str, made: dict[str, tuple[str, str]], rounds: int
) -> tuple[dict[str, list[float]], list[str], float]:
    start = threading.Event()
    readers = [Reader(url, s, rounds, start, i) for i, s in enumerate(made.values())]
    for r in readers:
        r.start()
    time.sleep(2.0)  # every reader opened its read and fetched its descriptor
    began = time.perf_counter()
    start.set()
    for r in readers:
        r.join()
    elapsed = time.perf_counter() - began
    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    for r in readers:
        for kind, seconds in r.times.items():
            times[kind].extend(seconds)
        errors.extend(r.errors)
    return times, errors, elapsed


def rows(times: dict[str, list[float]]) -> list[str]:
    out = []
    for kind in ("worklist page", "read page", "descriptor", "tile", "save (a draft)"):
        seconds = sorted(times.get(kind, []))
        if not seconds:
            continue
        p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
        out.append(f"{kind} | {len(seconds):,} | {1000 * statistics.median(seconds):.0f} ms | "
                   f"{1000 * p95:.0f} ms | {1000 * seconds[-1]:.0f} ms")  # fmt: skip
    return out


def said(errors: list[str]) -> str:
    return f" ({', '.join(sorted(set(errors))[:5])})" if errors else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    load_before = " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    with tempfile.TemporaryDirectory() as tmp, Supervisor() as supervisor:
        local = LocalFederation(Path(tmp), supervisor)
        _, names = world(local, Path(tmp), args.readers)
        made = sessions(local, names)
        alone, alone_errors, _ = load(local.hub_url, {names[0]: made[names[0]]}, args.rounds)
        times, errors, elapsed = load(local.hub_url, made, args.rounds)
    head = "| request | count | p50 | p95 | max |\n| --- | ---: | ---: | ---: | ---: |"
    body = "\n".join([
        "## Review study pages under concurrent readers (`benchmarks/bench_study_portal.py`)",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; machine: {machine()}; load average at the "
        f"start: {load_before}",
        f"- a hub process on loopback (SQLite), a study of 6 released slides, each read by 10 "
        f"of {args.readers} reviewers; each reader a thread with its own session: {args.rounds} "
        "rounds of the worklist page, their read's page, its descriptor, a 3 x 3 field of "
        "tiles at a random level and a draft saved",
        "",
        f"**{args.readers} readers at once** ({elapsed:.1f} s for every round of every reader; "
        f"errors: {len(errors)}{said(errors)}):",
        "",
        head,
        *(f"| {r} |" for r in rows(times)),
        "",
        f"**One reader alone**, the same rounds (errors: {len(alone_errors)}):",
        "",
        head,
        *(f"| {r} |" for r in rows(alone)),
        "",
        "The hub and every reader's thread share the machine's CPUs, and each reader asks "
        "back to back, with no time to read between requests: a heavier load than 50 people "
        "reading cases would make.",
    ])  # fmt: skip
    print(body)
    if not args.no_docs:
        update_section("study-portal", body)
        print("updated docs/benchmarks.md")


if __name__ == "__main__":
    main()
