"""``fivesafes demo``: a whole federation on one machine, every part a real process.

A hub and three synthetic hospitals start as separate OS processes talking HTTP on loopback.
Each hospital has an OMOP CDM, a DICOM archive and whole-slide images consistent with it,
which its operator indexes and registers (``fivesafes node imaging index``, ``fivesafes node
slides add``, and the demo model's predictions, all audited) before the node starts. The demo
enrols the nodes, creates a researcher and a project (OMOP, imaging and pathology), has each
node's custodian approve it, runs federated cohort counts (the PICTURES question and a slide
cohort among them) and prints them after disclosure control; Northfield's custodian then
releases its slides for review, and the researcher sees them in the hub's portal.
"""

from __future__ import annotations

import functools
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from fivesafes.analyses.count import render
from fivesafes.client import Federation
from fivesafes.data.synth import effects as fx
from fivesafes.data.synth import generate
from fivesafes.demo import linkage, study
from fivesafes.demo import pool as pool_demo
from fivesafes.demo.cohorts import DEMO_COHORTS, SLIDE_COHORT
from fivesafes.demo.local import CUSTODIAN, LocalFederation
from fivesafes.demo.processes import Supervisor, fivesafes_command, free_port, run_fivesafes
from fivesafes.imaging.synth import hospital_number, link_persons, write_archive

console = Console(width=None if sys.stdout.isatty() else 200)  # as the CLI prints

# (node name, site profile, share of --persons, seed)
HOSPITALS: list[tuple[str, str, float, int]] = [
    ("northfield", "northfield", 1.0, 101),
    ("riverside", "riverside", 0.6, 202),
    ("lakeside", "lakeside", 1.4, 303),
]
STATE = ("toml", "key", "db", "db-wal", "db-shm")
COLUMNS = (
    TextColumn("{task.description:<28}"),
    BarColumn(),
    TaskProgressColumn(),
    TimeElapsedColumn(),
)


def _generate_data(workdir: Path, persons: int) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    with Progress(*COLUMNS, console=console) as progress:
        for name, site, share, seed in HOSPITALS:
            n = max(100, int(persons * share))
            path = workdir / name / "omop.duckdb"
            paths[name] = path
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            bar = progress.add_task(f"{name}: {n:,} persons", total=1.0)

            def report(_stage: str, done: int, total: int, bar: Any = bar) -> None:
                progress.update(bar, completed=done / max(total, 1))

            generate(path, n, seed, site, progress=report)
            progress.update(bar, completed=1.0)
    return paths


def _pseudonymise(workdir: Path, data: dict[str, Path]) -> str:
    """Give each node a pseudonym key and write the pseudonym of every person's synthetic
    hospital number (``SYN00000042``: the PatientID of their scans too) into its CDM's
    ``person_source_value``, as a TRE's loading pipeline would, so that the patient data
    account and the imaging index find the person; the hospital number of a person with lung
    cancer at the first node, to try the account with."""
    import duckdb

    from fivesafes.data.synth import concepts as c
    from fivesafes.node.pseudonyms import create_key, load_key

    example = ""
    for name, *_ in HOSPITALS:
        key_file = workdir / name / "pseudonym.key"
        if not key_file.exists():
            create_key(key_file)
        key = load_key(key_file)
        link_persons(data[name], functools.partial(_keyed, key=key))
        with duckdb.connect(str(data[name]), read_only=True) as con:
            if not example:
                found = con.execute(
                    "SELECT min(o.person_id) FROM condition_occurrence o JOIN concept_ancestor a "
                    "ON o.condition_concept_id = a.descendant_concept_id "
                    "WHERE a.ancestor_concept_id = ?",
                    [c.LUNG_CANCER],
                ).fetchone()
                if found and found[0] is not None:
                    example = hospital_number(int(found[0]))
    return example


def _keyed(identifier: str, *, key: bytes) -> str:
    from fivesafes.node.pseudonyms import pseudonym

    return pseudonym(identifier, key)


def _write_archives(workdir: Path, data: dict[str, Path]) -> dict[str, Path]:
    """Each hospital's DICOM archive, consistent with its CDM (``fivesafes synth dicom``):
    kept in the workdir like the CDM, and written again only if missing."""
    archives: dict[str, Path] = {}
    with Progress(*COLUMNS, console=console) as progress:
        for name, _site, _share, seed in HOSPITALS:
            out = workdir / name / "dicom"
            archives[name] = out / "archive"
            if (out / "ground-truth" / "summary.json").is_file():
                continue
            bar = progress.add_task(f"{name}: DICOM archive", total=1.0)

            def report(done: int, total: int, _files: int, bar: Any = bar) -> None:
                progress.update(bar, completed=done / max(total, 1))

            write_archive(data[name], out, seed=seed, progress=report)
            progress.update(bar, completed=1.0)
    return archives


SLIDE_PERSONS = 15  # persons with a cancer given slides at each hospital
SLIDE_WIDTH, SLIDE_HEIGHT, SLIDE_LEVELS = 2048, 1536, 3  # small: the demo's are quick
RELEASED = 6  # slides each of two hospitals' custodians releases for review (and the study)


def _write_slides(workdir: Path, data: dict[str, Path]) -> dict[str, Path]:
    """Each hospital's whole-slide images for some of its persons with cancer, consistent with
    its CDM (``fivesafes synth slides``, which records their specimens in the CDM): kept in the
    workdir like the CDM, and written again only if missing."""
    from fivesafes.slides.synth import write_slides

    made: dict[str, Path] = {}
    with Progress(*COLUMNS, console=console) as progress:
        for name, _site, _share, seed in HOSPITALS:
            out = workdir / name / "slides"
            made[name] = out
            if (out / "ground-truth" / "specimen_map.csv").is_file():
                continue
            bar = progress.add_task(f"{name}: slides", total=1.0)

            def report(done: int, total: int, bar: Any = bar) -> None:
                progress.update(bar, completed=done / max(total, 1))

            write_slides(data[name], out, seed=seed, persons_limit=SLIDE_PERSONS, progress=report,
                         width=SLIDE_WIDTH, height=SLIDE_HEIGHT, levels=SLIDE_LEVELS)  # fmt: skip
            progress.update(bar, completed=1.0)
    return made


def _register_slides(workdir: Path, name: str, made: Path) -> dict[str, Any]:
    """The hospital's operator registers its slides (``fivesafes node slides add``) and runs
    the demo model on the new ones (``predict-demo``), before the node starts."""
    config = str(workdir / name / "node.toml")
    added = run_fivesafes("node", "slides", "add", str(made / "slides"), "--config", config,
                       "--specimen-map", str(made / "ground-truth" / "specimen_map.csv"),
                       "--by", "demo-operator", "--json")  # fmt: skip
    report: dict[str, Any] = json.loads(added)
    if report["registered"]:
        run_fivesafes("node", "slides", "predict-demo", "--config", config, "--by", "demo-operator")
    return report


def _release_slides(workdir: Path, name: str, data: Path, project_id: str) -> list[str]:
    """The hospital's custodian releases a few slides, with the demo model's predictions, for
    review by the project's members at the hub (``fivesafes node slides release``)."""
    import duckdb

    with duckdb.connect(str(data), read_only=True) as con:
        slides = [r[0] for r in con.execute(
            "SELECT slide_id FROM pathology_slide WHERE format = 'aperio' ORDER BY slide_id"
            " LIMIT ?", [RELEASED]).fetchall()]  # fmt: skip
    if slides:
        run_fivesafes("node", "slides", "release", *slides, "--project", project_id, "--model",
                   "fivesafes-demo-colour-detector", "--config", str(workdir / name / "node.toml"),
                   "--by", CUSTODIAN)  # fmt: skip
    return slides


def _index_archive(workdir: Path, name: str, archive: Path) -> dict[str, Any]:
    """The hospital's operator indexes its archive into the node's data, as a TRE would:
    ``fivesafes node imaging index`` (audited in the node's log) before the node starts."""
    command = fivesafes_command(
        "node", "imaging", "index", str(archive), "--config", str(workdir / name / "node.toml"),
        "--by", "demo-operator", "--json",
    )  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"indexing {name}'s archive failed: {done.stderr.strip()[-500:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _write_connection(workdir: Path, hub_url: str, token: str, project_id: str) -> Path:
    path = workdir / "connection.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"hub_url": hub_url, "token": token, "project": project_id}, handle, indent=2)
    return path


DEMO_ACCOUNTS = {"secure_cookies": False, "require_totp": False}
"""The demo's portals: plain http on loopback, and no second factor (a real hub and node keep
both defaults: Secure cookies and TOTP)."""


class Built(NamedTuple):
    connection: Path  # the researcher's connection file
    local: LocalFederation
    example: str  # an identifier to look up in the patient data account
    project_id: str
    tokens: dict[str, str]  # alice's and the study's readers' API tokens
    pool_port: int  # where the demo's pool service will listen


def build_federation(workdir: Path, persons: int, supervisor: Supervisor) -> Built:
    """Set up and start the whole federation."""
    data = _generate_data(workdir, persons)
    pool_demo.plant(workdir, data, linkage.OVERLAP, linkage.SEED)  # a cross-hospital truth
    example = _pseudonymise(workdir, data)
    archives = _write_archives(workdir, data)
    slides = _write_slides(workdir, data)
    stale_state = [f"{name}/node.{ext}" for name, *_ in HOSPITALS for ext in STATE]
    for stale in ["hub", pool_demo.POOL, *stale_state]:
        path = workdir / stale
        if path.is_dir():
            shutil.rmtree(path)  # a fresh federation on every run; the data is kept
        else:
            path.unlink(missing_ok=True)
    local = LocalFederation(workdir, supervisor)
    pool_port = free_port()
    pool_url = f"http://127.0.0.1:{pool_port}"
    local.start_hub(name="demo-hub", accounts=DEMO_ACCOUNTS, pool_urls={pool_demo.POOL: pool_url})
    console.print(f"[green]✓[/] hub listening on {local.hub_url}")
    for name, *_ in HOSPITALS:
        local.add_node(name, {"engine": "duckdb", "path": str(data[name])}, start=False)
        indexed = _index_archive(workdir, name, archives[name])
        registered = _register_slides(workdir, name, slides[name])
        local.start_node(name)
        console.print(f"[green]✓[/] node {name} enrolled and polling (data: {data[name]})")
        console.print(
            f"  imaging index: {indexed['series']:,} series from {indexed['found']:,} files"
        )
        known = registered["registered"] + registered["already_registered"]
        console.print(f"  slides: {known:,} registered, the demo model's predictions imported")
    token = local.researcher("alice", timedelta(days=7), name="Dr Alice Researcher")
    readers = study.add_readers(local)
    project_id = local.project(
        ["alice", *readers],
        [name for name, *_ in HOSPITALS],
        approve=False,
        title="Lung cancer and smoking across three hospitals",
        data_domains=["omop", "imaging", "pathology"],
    )
    console.print(f"[green]✓[/] researcher alice and project {project_id} created")
    for name, *_ in HOSPITALS:
        version = local.approve(name, project_id)
        console.print(f"[green]✓[/] {name}'s custodian approved {project_id} v{version}")
    for name in study.STUDY_NODES:
        released = _release_slides(workdir, name, data[name], project_id)
        console.print(f"[green]✓[/] {name}'s custodian released {len(released)} slides for "
                      "review (pushed to the hub's review store)")  # fmt: skip
    connection = _write_connection(workdir, local.hub_url, token, project_id)
    return Built(connection, local, example, project_id, {"alice": token, **readers}, pool_port)


def open_portals(local: LocalFederation, example: str) -> str:
    """Give alice and Northfield's custodian a web password, start Northfield's node portal,
    and say where to sign in."""
    password = secrets.token_urlsafe(12)
    node = HOSPITALS[0][0]
    local.set_password("alice", password)
    local.set_password(CUSTODIAN, password, node=node)
    node_url = local.start_node_portal(node, **DEMO_ACCOUNTS)
    return (
        "\n[bold]Web portals[/] (demo only: plain http on loopback, no second factor)\n"
        f"  hub:             {local.hub_url}/  sign in as alice, password {password}\n"
        f"  slides released for review, at the hub: {local.hub_url}/review/slides\n"
        f"  {node} node: {node_url}/  sign in as {CUSTODIAN}, password {password}"
        + (f"\n  patient data account at {node}: look up {example} (a synthetic hospital "
           "number)" if example else "")
    )  # fmt: skip


def wait_until_online(fed: Federation, names: list[str], timeout: float = 60.0) -> None:
    """Nodes show as online once they have warmed up and polled the hub."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        online = {n.name for n in fed.nodes() if n.online and n.last_seen_at is not None}
        if set(names) <= online:
            return
        time.sleep(0.2)
    raise RuntimeError("the nodes did not come online; see the node logs in the workdir")


def run_counts(connection: Path) -> bool:
    ok = True
    with Federation.from_file(connection) as fed:
        wait_until_online(fed, [name for name, *_ in HOSPITALS])
        for title, cohort in DEMO_COHORTS:
            started = time.perf_counter()
            result = fed.count(cohort, timeout=60)
            elapsed = time.perf_counter() - started
            table = render(result)
            table.title = f"{title}  ({elapsed * 1000:.0f} ms)"
            console.print(table)
            ok = ok and result.complete and all(n.state == "succeeded" for n in result.nodes)
        title, cohort = SLIDE_COHORT
        started = time.perf_counter()
        result = fed.count(cohort, timeout=60)
        table = render(result)
        table.title = f"{title}  ({(time.perf_counter() - started) * 1000:.0f} ms)"
        console.print(table)
        # a node's gate may refuse it (a few persons with slides, counted beside the lung
        # cancer cohort: differencing), which is the gate at work; every node must answer
        answered = ("succeeded", "refused")
        ok = ok and result.complete and all(n.state in answered for n in result.nodes)
        title, cohort = DEMO_COHORTS[1]  # the PICTURES question
        imaging = fed.imaging_summary(cohort, timeout=60)
        console.print(f"\n[bold]What imaging they have: {title}[/] (each node gated)")
        console.print(str(imaging), highlight=False)
        ok = ok and imaging.complete
        title, cohort = DEMO_COHORTS[0]
        summary = fed.summary(cohort, "age", timeout=60)
        console.print(f"\n[bold]Age at diagnosis: {title}[/] (summary, each node gated)")
        console.print(str(summary), highlight=False)
        ok = ok and summary.complete and all(n.state == "succeeded" for n in summary.nodes)
        ok = run_regression(fed) and ok
    return ok


# Planted odds ratios of the synthetic data (fivesafes.data.synth.effects) on the scale of the
# demo's terms: age per 10 years, male against female, smokers against never smokers, BMI per
# 5 units (a planted null effect).
PLANTED = {
    "age": ("per 10 years", 10.0, fx.LUNG_CANCER_MODEL.odds_ratios["age10"]),
    "sex[T.male]": ("male vs female", 1.0, 1.0 / fx.LUNG_CANCER_MODEL.odds_ratios["female"]),
    "smoker[T.former]": ("former vs never", 1.0, fx.LUNG_CANCER_MODEL.odds_ratios["former_smoker"]),
    "smoker[T.current]": (
        "current vs never",
        1.0,
        fx.LUNG_CANCER_MODEL.odds_ratios["current_smoker"],
    ),
    "bmi": ("per 5 kg/m²", 5.0, fx.LUNG_CANCER_MODEL.odds_ratios["bmi5"]),
}
REGRESSION_COHORT = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}


def run_regression(fed: Federation) -> bool:
    """A federated logistic regression, shown beside the effects planted in the data."""
    started = time.perf_counter()
    result = fed.glm(
        "lung_cancer ~ age + sex + smoker + bmi",
        cohort=REGRESSION_COHORT,
        family="binomial",
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    console.print(
        f"\n[bold]Federated logistic regression[/] ({elapsed:.1f} s, {result.rounds} rounds)"
    )
    console.print(str(result), highlight=False, soft_wrap=True)
    if not result.ok:
        return False
    table = Table(title="Odds ratios: federated estimate beside the value planted in the data")
    for column in ("term", "scale", "estimate", "95% CI", "planted"):
        table.add_column(column)
    for name, b, ci in zip(result.names, result.params, result.conf_int, strict=True):
        if name not in PLANTED:
            continue
        scale_text, scale, planted = PLANTED[name]
        table.add_row(
            name,
            scale_text,
            f"{math.exp(scale * b):.2f}",
            f"{math.exp(scale * ci[0]):.2f}-{math.exp(scale * ci[1]):.2f}",
            f"{planted:.2f}",
        )
    console.print(table)
    return True


def run_demo(*, once: bool, workdir: str | None, persons: int) -> int:
    keep = workdir is not None
    root = Path(workdir).resolve() if workdir else Path(tempfile.mkdtemp(prefix="fivesafes-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]fivesafes demo federation")
    try:
        with Supervisor() as supervisor:
            connection, local, example, project_id, tokens, pool_port = build_federation(
                root, persons, supervisor
            )
            ok = run_counts(connection)
            console.rule("[bold]A review study across hospitals")
            ok = study.run_study(local, root, project_id, tokens, console) and ok
            console.rule("[bold]Linking the same people across the hospitals")
            data = {name: root / name / "omop.duckdb" for name, *_ in HOSPITALS}
            linked, linked_project = linkage.run_linkage(
                local, root, data, tokens["alice"], console
            )
            ok = linked and ok
            console.rule("[bold]A pool: the same persons' rows together, for a time")
            if linked_project is not None:
                ok = pool_demo.run_pool(local, root, linked_project, tokens["alice"], pool_port,
                                        console) and ok  # fmt: skip
            if not ok:
                console.print("[red]Some nodes did not answer; see the logs in the workdir.[/]")
            if once:
                return 0 if ok else 1
            console.print(open_portals(local, example), highlight=False)
            console.print(
                f"\nThe federation keeps running. Connection file: [bold]{connection}[/]\n"
                f"Try: fivesafes count --connection {connection} --cohort my-cohort.json\n"
                "Press Ctrl-C to stop."
            )
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
            try:
                while all(s.alive() for s in supervisor.services):
                    time.sleep(0.5)
                console.print("[red]A service stopped unexpectedly; shutting down.[/]")
                return 1
            except KeyboardInterrupt:
                console.print("\nStopping the federation.")
                return 0
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            console.print(f"Everything is kept in {root}")
