"""Transparency end to end, with real processes and the real ``fivesafes`` command: a node whose
CDM keeps its persons' pseudonyms answers the patient data account after a federated count
(a person in the counted cohort sees the project; a person outside it sees none; a suppressed
count lists nothing), and the hub exports that task's record as a Five Safes RO-Crate that
verifies with the hub's key."""

from __future__ import annotations

import json
import shutil

import duckdb

from federation import fs
from fivesafes.analyses.count import cohort_person_set
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import concepts as c
from fivesafes.hub.crate import verify_crate
from fivesafes.node.pseudonyms import load_key, pseudonym
from fivesafes.protocol.signing import public_key_text

LUNG_CANCER = {"name": "lc", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}
TINY = {"name": "lung cancer at 101+", "age": {"min": 101},
        "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}  # fmt: skip


def nhs(person_id: int) -> str:
    return f"999 {person_id:07d}"


def test_patient_account_and_crate_after_a_federated_count(harness, site_data, tmp_path):
    cdm = tmp_path / "northfield.duckdb"
    shutil.copy(site_data["northfield"], cdm)
    harness.start_hub()
    harness.add_node("northfield", {"engine": "duckdb", "path": str(cdm)}, start=False)
    node_toml = harness.root / "northfield" / "node.toml"
    fs("node", "pseudonym-key", "--config", str(node_toml))
    key = load_key(harness.root / "northfield" / "pseudonym.key")
    with duckdb.connect(str(cdm)) as con:  # the loading pipeline writes the pseudonyms
        ids = [row[0] for row in con.execute("SELECT person_id FROM person").fetchall()]
        con.execute("CREATE TEMP TABLE p (person_id BIGINT, value VARCHAR)")
        con.executemany("INSERT INTO p VALUES (?, ?)", [(i, pseudonym(nhs(i), key)) for i in ids])
        con.execute("UPDATE person SET person_source_value = p.value FROM p "
                    "WHERE person.person_id = p.person_id")  # fmt: skip
    with open_omop(DuckDBSource(engine="duckdb", path=cdm)) as db:
        cohort = cohort_person_set(db, Cohort.model_validate(LUNG_CANCER))
    inside, outside = min(cohort), min(set(ids) - set(cohort))
    harness.start_node("northfield")

    fed = harness.federation(harness.researcher(), harness.project(["alice"], ["northfield"],
                             title="Lung cancer incidence"))  # fmt: skip
    counted = fed.count(LUNG_CANCER)
    assert counted.per_node["northfield"] is not None
    assert fed.count(TINY).per_node["northfield"] is None  # suppressed: nobody recorded

    def account(identifier):
        shown = fs("node", "patient-account", "--identifier", "-", "--by", "custodian",
                   "--config", str(node_toml), "--json", input=identifier + "\n")  # fmt: skip
        return json.loads(shown.stdout)

    seen = account(nhs(inside))
    assert seen["found"] and [p["title"] for p in seen["projects"]] == ["Lung cancer incidence"]
    assert seen["projects"][0]["outputs"] == 1 and seen["projects"][0]["analyses"] == ["count"]
    unseen = account(nhs(outside))
    assert unseen["found"] and unseen["projects"] == []
    assert account("000 0000000")["found"] is False
    assert "audit chain intact" in fs("audit", "verify", "--config", str(node_toml)).stdout

    out = tmp_path / "crate"
    hub_toml = str(harness.root / "hub" / "hub.toml")
    written = fs("hub", "export-crate", counted.task_id, "--out", str(out), "--config", hub_toml)
    assert "outputs/northfield.json" in written.stdout
    hub = harness.hub()
    try:
        metadata = verify_crate(out, public_key_text(hub.key))
    finally:
        hub.stop()
    graph = {e["@id"]: e for e in metadata["@graph"]}
    assert graph["./"]["conformsTo"] == {"@id": "https://w3id.org/5s-crate/0.4"}
    assert graph["#signoff-northfield"]["actionStatus"].endswith("CompletedActionStatus")
    released = json.loads((out / "outputs/northfield.json").read_text())
    assert released["output"]["count"]["value"] == counted.per_node["northfield"]
