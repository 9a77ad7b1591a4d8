"""The demo's review study (issue 17, docs/studies.md): slides released by two hospitals read
by three pathologists at the other hospitals, through the hub's own API and the nodes' own
commands, then the study's results printed.

What is real: the slides (synthetic, released by Northfield's and Lakeside's custodians), the
study's design, both custodians' approvals of its digest (``fivesafes node studies approve``),
the blinded allocation, every read's steps (open, save, lock, reveal the AI, save with feedback
on each prediction, submit) as requests to the hub, and the AI's answer (read from the demo
model's predictions: carcinoma present when it drew a tumour region). What is simulated: the
readers. Each answers the form against a planted truth (a histological type per case; every
synthetic slide carries a tumour) and errs at a known rate, and once the AI is shown corrects
half of their errors; so the agreement printed can be held against the rates planted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from fivesafes.demo.local import CUSTODIAN, LocalFederation
from fivesafes.demo.processes import run_fivesafes
from fivesafes.pathology.study.simulate import TYPE_SHARES

READERS = (("rita", "riverside", 0.05), ("lars", "lakeside", 0.15), ("nina", "northfield", 0.30))
"""(username, hospital, error rate): the simulated pathologists."""
STUDY_NODES = ("northfield", "lakeside")
MODEL = "fivesafes-demo-colour-detector"
SEED = 2026


def add_readers(local: LocalFederation) -> dict[str, str]:
    """The readers' hub accounts (the ``reviewer`` role): their API tokens."""
    return {
        name: local.researcher(
            name,
            timedelta(days=7),
            name=f"Dr {name.title()} (pathologist, {site})",
            roles=("reviewer",),
        )
        for name, site, _ in READERS
    }


def design() -> dict[str, Any]:
    return {
        "title": "Lung biopsies read across hospitals",
        "purpose": "How far pathologists at other hospitals agree on the diagnosis, and the "
        "demo model's quality at each hospital.",
        "nodes": list(STUDY_NODES),
        "model": MODEL,
        "readers": [{"username": n, "site": s} for n, s, _ in READERS],
        "allocation": {"reads_per_case": 2, "exclude_own_site": True, "reread_fraction": 0.0},
        "form": {"form_id": "lung_biopsy", "version": 1},
        "ai_answer": {"item": "tumour_present", "yes": "yes", "no": "no", "when_class": "Tumor"},
    }


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"the hub refused: {response.text[:300]}")
    return response.json()


def _answers(truth: str, error: float, rng: np.random.Generator) -> dict[str, Any]:
    """One simulated unaided read of a case whose type is ``truth``."""
    types = list(TYPE_SHARES)
    given = truth if rng.random() >= error else str(rng.choice([t for t in types if t != truth]))
    present = "yes" if rng.random() >= error / 3 else "no"
    answers: dict[str, Any] = {"adequacy": "adequate", "tumour_present": present,
                               "confidence": str(int(rng.integers(3, 6)))}  # fmt: skip
    if present == "yes":
        answers["histological_type"] = given
    return answers


def _read_all(client: httpx.Client, study_id: str, truth: Mapping[str, str], error: float,
              rng: np.random.Generator) -> int:  # fmt: skip
    done = 0
    for read in _checked(client.get(f"/studies/{study_id}/worklist")):
        step = f"/studies/reads/{read['read_id']}"
        _checked(client.post(f"{step}/open"))
        unaided = _answers(truth[read["case"]], error, rng)
        _checked(client.post(f"{step}/save", json={"answers": unaided}))
        _checked(client.post(f"{step}/lock"))
        shown = _checked(client.post(f"{step}/reveal"))["predictions"]
        aided = dict(unaided)
        if aided.get("histological_type") not in (None, truth[read["case"]]) and rng.random() < 0.5:
            aided["histological_type"] = truth[read["case"]]  # the AI helped
        view = {"ai_agrees": "agree" if unaided["tumour_present"] == "yes" else "disagree",
                "ai_confidence": "4"}  # fmt: skip
        body = {"phase": "aided", "answers": aided, "feedback": {p: view for p in shown}}
        _checked(client.post(f"{step}/save", json=body))
        _checked(client.post(f"{step}/submit"))
        done += 1
    return done


def run_study(
    local: LocalFederation, workdir: Path, project_id: str, tokens: Mapping[str, str],
    console: Console,
) -> bool:  # fmt: skip
    """Run the study from design to results; print what it found."""

    def client(who: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        return httpx.Client(base_url=f"{local.hub_url}/api/v1", headers=headers, timeout=60)

    alice = client("alice")
    study = _checked(alice.post("/studies", json={"project_id": project_id, "design": design()}))
    sid = study["study_id"]
    _checked(alice.post(f"/studies/{sid}/propose"))
    releases: list[str] = []
    for node in STUDY_NODES:
        config = str(workdir / node / "node.toml")
        run_fivesafes(
            "node", "studies", "approve", sid, "--by", CUSTODIAN, "--yes", "--config", config
        )
        listed = json.loads(run_fivesafes("node", "slides", "releases", "--project", project_id,
                                       "--json", "--config", config))  # fmt: skip
        releases += [r["release_id"] for r in listed if r["state"] == "pushed"]
    _checked(alice.post(f"/studies/{sid}/cases", json={"review_ids": releases}))
    _checked(alice.post(f"/studies/{sid}/allocate"))
    console.print(f"[green]✓[/] review study {sid}: both custodians approved its version; "
                  f"{len(releases)} released slides are its cases, each read by 2 of "
                  f"{len(READERS)} pathologists, never at its own hospital")  # fmt: skip

    rng = np.random.default_rng(SEED)
    cases = {r["case"] for who, *_ in READERS for r in _checked(
        client(who).get(f"/studies/{sid}/worklist"))}  # fmt: skip
    types, shares = list(TYPE_SHARES), list(TYPE_SHARES.values())
    truth = {case: str(rng.choice(types, p=shares)) for case in sorted(cases)}
    for who, site, error in READERS:
        read = _read_all(client(who), sid, truth, error, rng)
        console.print(f"  {who} ({site}, simulated, errs on {error:.0%} of types): {read} reads "
                      "submitted")  # fmt: skip
    _checked(alice.post(f"/studies/{sid}/lock"))
    return _print_results(alice, sid, console)


def _print_results(alice: httpx.Client, sid: str, console: Console) -> bool:
    found = _checked(alice.get(f"/studies/{sid}/results", params={"item": "histological_type"}))
    table = Table(title="Agreement on the histological type (unaided first reads; 95% bootstrap "
                  "interval)")  # fmt: skip
    for column in ("statistic", "between", "cases", "estimate", "note"):
        table.add_column(column)
    agreement = found.get("agreement", {})
    rows = [*agreement.get("readers", []), *agreement.get("versus_ai", []),
            agreement.get("fleiss"), agreement.get("alpha")]  # fmt: skip
    for row in (r for r in rows if r):
        estimate = (f"{row['estimate']:.2f} ({row['low']:.2f} to {row['high']:.2f})"
                    if row["estimate"] is not None else "—")  # fmt: skip
        between = row["first"] + (f" and {row['second']}" if row["second"] else "")
        table.add_row(row["statistic"], between, str(row["cases"]), estimate, row["note"][:60])
    console.print(table)
    quality = _checked(alice.get(f"/studies/{sid}/results")).get("ai_quality", {})
    qa = Table(title="The demo model's quality per hospital (carcinoma present, against the "
               "panel's majority)")  # fmt: skip
    for column in ("hospital", "cases", "accuracy", "sensitivity", "drift"):
        qa.add_column(column)
    for site in quality.get("sites", []):
        perf = site.get("performance")
        if perf is None:
            qa.add_row(site["site"], "0", "—", "—", "—")
            continue
        sens = perf.get("sensitivity")
        drifted = [str(p["period"]) for p in site["periods"] if p["drift"]]
        accuracy = f"{perf['accuracy']['estimate']:.0%}"
        sensitivity = f"{sens['estimate']:.0%}" if sens else "—"
        qa.add_row(
            site["site"], str(perf["n"]), accuracy, sensitivity, ", ".join(drifted) or "none"
        )
    console.print(qa)
    return bool(rows) and "sites" in quality
