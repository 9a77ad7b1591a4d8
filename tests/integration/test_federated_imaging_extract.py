"""Imaging extracts across a real federation (ADR 0028): a hub and a node (OS processes on
loopback), the node's synthetic CDM indexed with its own DICOM archive. ``fed.request_extract``
is refused at the node until its custodian allows extraction, and refused again for options
beyond those allowed; once allowed, the node's job de-identifies and verifies the cohort's
series into the project's staging folder inside the node and holds the extract, and the hub
gets gated counts only: none of the archive's UIDs, nor the extract's, nor a path reaches the
hub's files. Asking again builds the same bytes."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from federation import fs
from fivesafes.client import FederationError
from fivesafes.demo.local import CUSTODIAN, edit_toml
from fivesafes.extracts.folders import released_folder, staging_folder
from fivesafes.node.accounts import create_node_user
from fivesafes.protocol.runs import REASON_TEXT, ReasonCode
from fivesafes.sdc.profiles import DEFAULT
from imaging_cohorts import planted_tables
from imaging_data import synth_node

NODE = "northfield"
EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
CT = {"modality": ["CT"]}
ALLOWED = ["retain-modified-dates", "clean-descriptors"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    """A hospital's CDM indexed with its archive (headers in the restricted store)."""
    made = synth_node(tmp_path_factory.mktemp(NODE), persons=400, persons_limit=150, seed=41)
    database = made.fresh_database("indexed")
    headers = made.root / "headers.sqlite"
    made.index(database, headers)
    return {"made": made, "database": database, "headers": headers,
            "tables": planted_tables(database, made.truth)}  # fmt: skip


def federation(harness, site: dict) -> tuple[str, str, Path, Path]:
    """A hub and the node, its [imaging] pointing at the site's header store and an extracts
    root of its own; alice's token and a project asking for OMOP and imaging."""
    harness.start_hub()
    harness.add_node(NODE, {"engine": "duckdb", "path": str(site["database"])}, start=False)
    config = harness.root / NODE / "node.toml"
    extracts = harness.root / NODE / "extracts"
    edit_toml(config, "imaging", header_store=str(site["headers"]), extracts=str(extracts),
              workers=1)  # fmt: skip
    # the node's pseudonym key: the one its CDM and index were pseudonymised with
    shutil.copy(site["made"].root / "pseudonym.key", harness.root / NODE / "pseudonym.key")
    harness.start_node(NODE)
    token = harness.researcher()
    project = harness.project(["alice"], [NODE], data_domains=["omop", "imaging"])
    return token, project, config, extracts


def half_up(n: int, base: int = DEFAULT.rounding_base) -> int:
    return math.floor(n / base + 0.5) * base


def ct_series(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The planted CT series of persons the node links (everyone is in the cohort)."""
    truth = tables["imaging_truth"]
    return truth[(truth["person_id"] != "") & (truth["modality"] == "CT")]


def files_of(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.dcm"))
    }


def test_an_extract_is_refused_until_allowed_then_built_and_held_at_the_node(harness, site):
    token, project, config, extracts = federation(harness, site)
    with harness.federation(token, project) as fed:
        refused = fed.request_extract(EVERYONE, imaging=CT, timeout=120)
        assert REASON_TEXT[ReasonCode.EXTRACTION_NOT_APPROVED] in refused.nodes_missing[NODE]
        assert not extracts.exists() or not any(extracts.rglob("*.dcm"))

        fs("node", "extraction", "approve", project, "--config", str(config), "--by", CUSTODIAN,
           *(f"--option={o}" for o in ALLOWED))  # fmt: skip
        with pytest.raises(FederationError, match="unknown de-identification option"):
            fed.request_extract(EVERYONE, imaging=CT, options=["retain-uids"], timeout=30)
        more = ["retain-patient-characteristics"]
        beyond = fed.request_extract(EVERYONE, imaging=CT, options=more, timeout=120)
        allowed_only = REASON_TEXT[ReasonCode.EXTRACTION_OPTIONS_NOT_ALLOWED]
        assert allowed_only in beyond.nodes_missing[NODE]

        result = fed.request_extract(EVERYONE, imaging=CT, options=ALLOWED, timeout=600)
    assert result.complete and result.nodes_holding == [NODE]
    output = result.nodes[NODE]
    chosen = ct_series(site["tables"])
    assert output["series"]["value"] == half_up(chosen["series_instance_uid"].nunique())
    assert output["persons"]["value"] == half_up(chosen["person_id"].nunique())

    folder = staging_folder(extracts, project, result.task_id)
    written = files_of(folder)
    figures = output["figures"]
    assert written and figures["written"]["value"] == half_up(len(written))
    assert result.written == figures["written"]["value"]
    originals = set(chosen["series_instance_uid"]) | set(chosen["study_instance_uid"])
    for name in written:
        dataset = pydicom.dcmread(folder / name)
        assert dataset.PatientIdentityRemoved == "YES"
        assert str(dataset.SeriesInstanceUID).startswith("2.25.")
        assert dataset.SeriesInstanceUID not in originals
        assert name == (
            f"{dataset.StudyInstanceUID}/{dataset.SeriesInstanceUID}/{dataset.SOPInstanceUID}.dcm"
        )
    # only CT was asked for
    assert {pydicom.dcmread(folder / n, stop_before_pixels=True).Modality for n in written} == {
        "CT"
    }

    # nothing about the images reaches the hub: no UID of the archive or of the extract,
    # no path of the node's
    new_uids = {part for name in written for part in Path(name).with_suffix("").parts}
    hub_bytes = b"".join(p.read_bytes() for p in (harness.root / "hub").rglob("*") if p.is_file())
    for uid in sorted(originals | new_uids)[:400]:
        assert uid.encode() not in hub_bytes
    assert str(extracts).encode() not in hub_bytes
    assert str(site["made"].archive).encode() not in hub_bytes

    # held at the node for its output checkers, with the persons written
    listed = fs("node", "extract", "list", "--config", str(config), "--by", CUSTODIAN, "--json")
    assert result.task_id in listed.stdout and '"held"' in listed.stdout

    # asking again builds again, byte for byte
    with harness.federation(token, project) as fed:
        again = fed.request_extract(EVERYONE, imaging=CT, options=ALLOWED, timeout=600)
    assert again.task_id != result.task_id
    assert files_of(staging_folder(extracts, project, again.task_id)) == written

    # an output checker releases the first into the project's workspace (its requester may
    # not); its persons are then recorded as released for the patient data account
    service = harness.node_service(NODE)
    try:
        service.unit(
            lambda s: create_node_user(
                s,
                node=NODE,
                username="olga",
                display_name="Olga",
                roles=["output_checker"],
                by="test",
            )
        )
        shown = json.loads(
            fs(
                "node",
                "extract",
                "show",
                result.task_id,
                "--config",
                str(config),
                "--by",
                "olga",
                "--json",
            ).stdout
        )
        assert shown["state"] == "held" and shown["report"]["written"] == len(written)
        before = released_outputs(service, chosen)
        own = fs("node", "extract", "release", result.task_id, "--config", str(config),
                 "--by", "alice", check=False)  # fmt: skip
        assert own.returncode != 0 and "Only an output checker" in own.stderr
        assert folder.is_dir()
        fs("node", "extract", "release", result.task_id, "--config", str(config), "--by", "olga")
        workspace = released_folder(extracts, project, result.task_id)
        assert not folder.exists() and files_of(workspace) == written
        after = released_outputs(service, chosen)
        assert sum(after.values()) - sum(before.values()) == shown["persons"] > 0
        again_again = fs("node", "extract", "release", result.task_id, "--config", str(config),
                         "--by", "olga", check=False)  # fmt: skip
        assert again_again.returncode != 0 and "released" in again_again.stderr

        # its requester withdraws the second: its files are deleted
        fs("node", "extract", "withdraw", again.task_id, "--config", str(config), "--by",
           "alice", "--reason", "asked twice")  # fmt: skip
        assert not staging_folder(extracts, project, again.task_id).exists()
        listed = json.loads(
            fs("node", "extract", "list", "--config", str(config), "--by", "olga", "--json").stdout
        )
        assert {e["task_id"]: e["state"] for e in listed} == {
            result.task_id: "released",
            again.task_id: "withdrawn",
        }
        assert released_outputs(service, chosen) == after  # withdrawing releases nobody
    finally:
        service.stop()


def released_outputs(service, chosen: pd.DataFrame) -> dict[int, int]:
    """How many released outputs each chosen person is behind (the patient data account's)."""
    sets = service.person_sets()
    return {int(p): len(sets.releases_for_person(int(p))) for p in sorted(set(chosen["person_id"]))}
