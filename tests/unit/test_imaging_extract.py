"""The imaging extract's plug-in and the node's build (ADR 0028), in process on a real synthetic
index: its parameters; the series it chooses (the planted truth); its gate (persons as a count,
else nothing else is said; every file figure as a table cell); the hub's re-gate and sums; and
the build itself, which checks the custodian's approval before reading anything, looks in each
file for identifiers the node holds of that person in *other* headers (a planted mother's
birth name, found only in another series' header), stops at its deadline leaving nothing, and
counts instances it has no file for."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydantic import ValidationError
from pydicom.uid import generate_uid
from pyroaring import BitMap

from fivesafes.analyses.imaging_extract.hub import combine_extracts, regate_extract
from fivesafes.analyses.imaging_extract.models import (
    ImagingExtractOutput,
    ImagingExtractParameters,
)
from fivesafes.analyses.imaging_extract.node import NOT_SAID, NodeExtract, chosen_series
from fivesafes.analyses.jobs import ExtractOrder
from fivesafes.analyses.registry import REGISTRY
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.extracts.build import BuildFailed, Place, build_extract
from fivesafes.extracts.folders import staging_folder
from fivesafes.extracts.policy import ExtractionRefused
from fivesafes.extracts.service import Extracts
from fivesafes.extracts.store import ExtractState, MemoryExtracts
from fivesafes.governance.people import Account, Actor
from fivesafes.governance.roles import Grant, Role, node_scope
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.profiles import DEFAULT, Profile
from imaging_cohorts import planted_tables
from imaging_data import SynthNode, synth_node

ANALYSIS = REGISTRY["imaging_extract"]
EVERYONE = {"name": "everyone", "index": {"type": "fixed", "date": "2020-01-01"}}
STRICT = Profile.model_validate({**DEFAULT.model_dump(), "name": "strict", "threshold": 50})
NODE = "northfield"
SECRET = bytes(range(32))


def parameters(**fields) -> ImagingExtractParameters:
    return ImagingExtractParameters.model_validate({"cohort": EVERYONE, **fields})


# ---- parameters --------------------------------------------------------------------------


def test_parameters_refuse_what_an_extract_cannot_choose_by():
    series = {"domain": "imaging", "modality": ["CT"]}
    assert parameters(series=series, options=["retain-modified-dates"]).options == (
        "retain-modified-dates",
    )
    for bad in (
        {"series": {**series, "exclude": True}},
        {"series": {**series, "days_from_index": {"min": 0, "max": 30}}},
        {"options": ["retain-uids"]},
        {"options": ["clean-descriptors", "clean-descriptors"]},
        {"elsewhere": 1},
    ):
        with pytest.raises(ValidationError):
            parameters(**bad)
    assert parameters(options=["clean-descriptors", "retain-modified-dates"]).options == (
        "clean-descriptors",
        "retain-modified-dates",
    )


# ---- the gate ------------------------------------------------------------------------------

REPORT = {
    "files": 420,
    "written": 377,
    "rejected": {"secondary_capture": 31, "burned_in_annotation": 3},
    "failed_verification": {"person_identifier": 9},
    "unreadable": {},
    "duplicates": {"same_bytes": 0, "conflicting": 0},
    "not_local": 0,
}


def found(persons: int, report: dict | None = None) -> NodeExtract:
    return NodeExtract(BitMap(range(persons)), 57, True, REPORT if report is None else report)


def judged(extract: NodeExtract, profile: Profile = DEFAULT) -> dict:
    from fivesafes.analyses.plugin import Computed

    result = ANALYSIS.judge(Computed(extract.persons, extract), profile)
    return {"verdict": result.verdict, "released": result.released, "output": result.output}


def test_the_gate_says_nothing_else_of_suppressed_persons():
    out = judged(found(DEFAULT.threshold - 1))
    assert out["verdict"] == "fail" and not out["released"]
    output = out["output"]
    assert output["persons"]["suppressed"] and output["held"] is None
    assert output["figures"] is None and output["series"]["rule"] == NOT_SAID
    ImagingExtractOutput.model_validate(output)


def test_the_gate_judges_every_figure_as_a_cell():
    out = judged(found(123))
    assert out["verdict"] == "pass" and out["released"]
    output = out["output"]
    assert output["persons"]["value"] == 120 and output["series"]["value"] == 60
    figures = output["figures"]
    assert figures["files"]["value"] == 420 and figures["written"]["value"] == 380
    assert figures["rejected"]["secondary_capture"]["value"] == 30
    # under the threshold: a marker, never the value; a reason nobody had is not listed
    assert figures["rejected"]["burned_in_annotation"] == {
        "value": None,
        "suppressed": True,
        "rule": figures["rejected"]["burned_in_annotation"]["rule"],
    }
    assert figures["failed_verification"]["person_identifier"]["suppressed"]
    assert figures["unreadable"] == {} and figures["duplicates"]["value"] == 0


def test_the_output_model_refuses_a_suppressed_extract_that_says_more():
    output = judged(found(3))["output"]
    with pytest.raises(ValidationError):
        ImagingExtractOutput.model_validate({**output, "held": True})
    passed = judged(found(123))["output"]
    with pytest.raises(ValidationError):
        ImagingExtractOutput.model_validate({**passed, "held": None})


def test_the_hub_judges_again_and_sums():
    north = ImagingExtractOutput.model_validate(judged(found(123))["output"])
    south = ImagingExtractOutput.model_validate(judged(found(31))["output"])
    hidden = regate_extract(south, STRICT)  # 30 persons: under the hub's threshold of 50
    assert hidden["persons"]["suppressed"] and hidden["figures"] is None and hidden["held"] is None
    assert hidden["gate"]["verdict"] == "fail"
    kept = regate_extract(north, STRICT)
    assert kept["persons"]["value"] == 120 and kept["figures"]["written"]["value"] == 380
    combined = combine_extracts(
        {"north": north, "south": ImagingExtractOutput.model_validate(hidden)}, ["east"], DEFAULT
    )
    assert combined["persons"]["value"] == 120 and combined["written"]["value"] == 380
    assert combined["nodes_holding"] == ["north"]
    assert combined["nodes_missing"] == ["east", "south"]
    ANALYSIS.combined.model_validate(combined)


# ---- the series chosen, and the build, on a real index ------------------------------------


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("extract"), persons=120, persons_limit=40, seed=5)


@pytest.fixture(scope="module")
def indexed(node) -> dict:
    database = node.fresh_database("indexed")
    headers = node.root / "headers.sqlite"
    node.index(database, headers)
    return {"database": database, "headers": headers}


def test_the_series_chosen_are_the_planted_ones(node, indexed):
    truth = planted_tables(indexed["database"], node.truth)["imaging_truth"]
    ct = truth[(truth["person_id"] != "") & (truth["modality"] == "CT")]
    with open_omop(DuckDBSource(engine="duckdb", path=indexed["database"])) as db:
        persons, series = chosen_series(
            db, parameters(series={"domain": "imaging", "modality": ["CT"]})
        )
        everything = chosen_series(db, parameters())[1]
    assert series == sorted(set(ct["series_instance_uid"]))
    assert set(persons) == {int(p) for p in ct["person_id"]}
    linked = truth[truth["person_id"] != ""]
    assert everything == sorted(set(linked["series_instance_uid"]))


def custodian_approved(options: list[str]) -> Extracts:
    store = MemoryExtracts()
    store.set_project_state("p_1", "approved")
    extracts = Extracts(node=NODE, unit=store.transaction)
    grants = frozenset({Grant(Role.CUSTODIAN, node_scope(NODE))})
    custodian = Actor(Account(id=1, username="cus", display_name="Cus", grants=grants))
    extracts.approve("p_1", options, by=custodian)
    return extracts


def order(series: list[str], *, options=(), deadline: float | None = None) -> ExtractOrder:
    return ExtractOrder(
        project_id="p_1",
        task_id="t_1",
        requester="alice",
        series=tuple(series),
        options=tuple(options),
        deadline=deadline if deadline is not None else time.time() + 600,
    )


def place(index: Path, headers: Path, root: Path) -> Place:
    return Place(index_file=index, schema=None, header_store=headers, root=root)


def two_series_of_one_person(node: SynthNode, folder: Path) -> tuple[Path, str]:
    """A CT file of one person, its Manufacturer bearing a word that only another series of
    the same person names (that series' header: the mother's birth name); both written to
    ``folder``. The CT file's series UID."""
    source = next(
        p for p in sorted(node.archive.rglob("*.dcm")) if pydicom.dcmread(p).Modality == "CT"
    )
    folder.mkdir(parents=True)
    first = pydicom.dcmread(source)
    first.Manufacturer = "PLUMTREE MEDICAL"
    first.save_as(folder / "ct.dcm")
    other = pydicom.dcmread(source)
    other.StudyInstanceUID, other.SeriesInstanceUID = generate_uid(), generate_uid()
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    other.PatientMotherBirthName = "PLUMTREE^ANNE"
    other.save_as(folder / "other.dcm")
    return folder / "ct.dcm", str(first.SeriesInstanceUID)


def test_the_build_looks_for_what_other_headers_of_the_person_say(node, tmp_path):
    ct, series = two_series_of_one_person(node, tmp_path / "archive")
    results = {}
    for name, files in (("both", [ct.parent]), ("alone", [ct])):
        database = node.fresh_database(f"db-{name}")
        headers = tmp_path / f"headers-{name}.sqlite"
        node.index(database, headers, paths=files)
        root = tmp_path / f"extracts-{name}"
        results[name] = build_extract(
            order([series]),
            place(database, headers, root),
            extracts=custodian_approved([]),
            node_secret=lambda: SECRET,
        )
        results[name]["folder"] = staging_folder(root, "p_1", "t_1")
    # with the other series' header in the store, the planted word is the person's: caught
    both = results["both"]
    assert both["files"] == 1 and both["written"] == 0
    assert both["failed_verification"] == {"person_identifier": 1}
    assert both["findings"] == {"person_identifier": {"(0008,0070)": 1}}  # where, never what
    assert not list(both["folder"].rglob("*.dcm"))
    # without it, nothing says the word is the person's: the file is written
    alone = results["alone"]
    assert alone["written"] == 1 and alone["failed_verification"] == {}
    written = pydicom.dcmread(next(alone["folder"].rglob("*.dcm")))
    assert written.Manufacturer == "PLUMTREE MEDICAL"  # kept by the Basic Profile


def test_the_build_is_refused_before_anything_is_read_and_held_when_built(node, indexed, tmp_path):
    read: list[str] = []

    def secret() -> bytes:
        read.append("secret")
        return SECRET

    series = chosen_series_ct(indexed)
    where = place(indexed["database"], indexed["headers"], tmp_path / "extracts")
    with pytest.raises(ExtractionRefused) as refused:
        build_extract(
            order(series, options=["retain-device-identity"]),
            replace(where, index_file=tmp_path / "no-such-index.duckdb"),
            extracts=custodian_approved(["clean-descriptors"]),
            node_secret=secret,
        )
    assert refused.value.reason is ReasonCode.EXTRACTION_OPTIONS_NOT_ALLOWED and not read
    extracts = custodian_approved(["clean-descriptors"])
    counts = build_extract(
        order(series, options=["clean-descriptors"]),
        where,
        extracts=extracts,
        node_secret=secret,
    )
    assert counts["written"] > 0 and counts["series"] == len(series)
    grants = frozenset({Grant(Role.OUTPUT_CHECKER, node_scope(NODE))})
    checker = Actor(Account(id=2, username="carol", display_name="Carol", grants=grants))
    (held,) = extracts.extracts(by=checker)
    assert held.state is ExtractState.HELD and held.report == counts
    assert held.folder == "p_1/t_1.staging" and held.persons
    assert all(p.isdigit() for p in held.persons)


def test_the_build_stops_at_its_deadline_and_leaves_nothing(node, indexed, tmp_path):
    root = tmp_path / "extracts"
    with pytest.raises(BuildFailed) as failed:
        build_extract(
            order(chosen_series_ct(indexed), deadline=time.time() - 1),
            place(indexed["database"], indexed["headers"], root),
            extracts=custodian_approved([]),
            node_secret=lambda: SECRET,
        )
    assert failed.value.reason is ReasonCode.RESOURCE_LIMIT
    assert not staging_folder(root, "p_1", "t_1").exists()


def chosen_series_ct(indexed: dict) -> list[str]:
    with open_omop(DuckDBSource(engine="duckdb", path=indexed["database"])) as db:
        return chosen_series(db, parameters(series={"domain": "imaging", "modality": ["CT"]}))[1]


# ---- how it reads -------------------------------------------------------------------------


def test_the_result_reads_as_tables_text_and_csv():
    from datetime import UTC, datetime

    from fivesafes.analyses.results.download import result_csv
    from fivesafes.analyses.results.page import Shown
    from fivesafes.protocol.models import RunView, TaskView

    outputs = {"north": judged(found(123))["output"], "south": judged(found(4))["output"]}
    checked = {n: ImagingExtractOutput.model_validate(o) for n, o in outputs.items()}
    pooled = combine_extracts(checked, [], DEFAULT)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    view = TaskView(
        task_id="t1",
        project_id="p1",
        analysis="imaging_extract",
        state="complete",
        created_at=now,
        deadline=now,
        runs=[RunView(run_id=n, node=n, state="succeeded", output=o) for n, o in outputs.items()],
        combined=pooled,
    )
    result = ANALYSIS.read(view)
    assert (result.persons, result.written, result.nodes_holding) == (120, 380, ["north"])
    assert list(result.nodes_missing) == ["south"]
    frame = result.to_frame().set_index("node")
    assert frame.loc["north", "written"] == 380 and frame.loc["north", "held"] == "yes"
    assert frame.loc["north", "rejected"] == 30  # the released cells' sum: 3 is suppressed
    assert frame.loc["south"].isna().all()  # nothing said
    reasons = result.reasons_frame()
    assert set(reasons["reason"]) == {
        "secondary_capture",
        "burned_in_annotation",
        "person_identifier",
    }
    assert reasons.set_index("reason").loc["burned_in_annotation", "files"] is pd.NA
    text = str(result)
    assert "held for the output checkers at: north" in text
    assert "south: nothing said" in text and "rejected: secondary_capture: 30" in text
    page = Shown(view, nodes=[])
    ANALYSIS.show(view, page)
    assert [t.caption for t in page.tables] == ["Each node's extract", "Files not written, by why"]
    assert "table,node,persons,series,files,written" in result_csv(page)
