"""Projecting headers into the index (fivesafes.imaging.project): the stated rules for bad input,
the roll-ups from instance to series and study, duplicates and the link to persons. Each test
indexes a few hand-made files, so its table of inputs reads as the rule it checks."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from fivesafes.imaging.index import IndexOptions, index_archive
from fivesafes.imaging.project import instance_of
from fivesafes.imaging.reading import TAGS, FileStat, Header
from fivesafes.imaging.rules import load_rules
from fivesafes.node.pseudonyms import pseudonym
from imaging_data import TODAY, image_values, write_image

KEY = bytes(range(32))


def header(**values: str | None) -> Header:
    given = {
        k: (str(v) if v is not None else None)
        for k, v in image_values(**values).items()
        if not isinstance(v, bytes | int)
    }
    return Header(
        FileStat("/a.dcm", 10, 0), {k: given.get(k) for k in TAGS}, None, True, b"", 0, "0" * 64, ()
    )


JUDGED = [
    # element, as written -> kept, issue
    ("SliceThickness", "2.5", 2.5, None),
    ("SliceThickness", "-1.25", None, "slice_thickness_negative"),
    ("SliceThickness", "1,5", None, "slice_thickness_invalid"),
    ("SliceThickness", "nan", None, "slice_thickness_invalid"),
    ("KVP", "0", None, "kvp_not_positive"),
    ("KVP", "120", 120.0, None),
    ("StudyDate", "20160528", date(2016, 5, 28), None),
    ("StudyDate", "2016.05.28", date(2016, 5, 28), None),
    ("StudyDate", "20990101", None, "study_date_future"),
    ("StudyDate", "20250602", None, "study_date_future"),  # the day after "today"
    ("StudyDate", "18000101", None, "study_date_before_1895"),
    ("StudyDate", "20160230", None, "study_date_invalid"),
    ("SeriesDate", "28/05/2016", None, "series_date_invalid"),
    ("StudyDate", None, None, "study_date_missing"),
    ("SeriesDate", None, None, None),  # common, and the study's date stands
    ("BurnedInAnnotation", "YES", "yes", None),
    ("BurnedInAnnotation", "no", "no", None),
    ("BurnedInAnnotation", "MAYBE", None, "burned_in_annotation_invalid"),
    ("InstanceNumber", "x", None, "instance_number_invalid"),
    ("NumberOfFrames", "99999999999", None, "number_of_frames_invalid"),
]
COLUMN = {
    "SliceThickness": "slice_thickness",
    "KVP": "kvp",
    "StudyDate": "study_date",
    "SeriesDate": "series_date",
    "BurnedInAnnotation": "burned_in_annotation",
    "InstanceNumber": "instance_number",
    "NumberOfFrames": "number_of_frames",
}


@pytest.mark.parametrize(("keyword", "written", "kept", "issue"), JUDGED)
def test_each_value_is_judged_by_a_stated_rule(keyword, written, kept, issue):
    instance = instance_of(header(**{keyword: written}), TODAY)
    assert getattr(instance, COLUMN[keyword]) == kept
    assert instance.issues == ((issue,) if issue else ())


def index(tmp_path, persons: dict[int, str] | None = None, **options):
    """Index ``tmp_path / 'files'`` into a DuckDB whose person table holds ``persons``
    (person_id: the identifier whose pseudonym it keeps)."""
    database = tmp_path / "data.duckdb"
    if not database.exists():
        with duckdb.connect(str(database)) as con:
            con.execute("CREATE TABLE person (person_id BIGINT, person_source_value VARCHAR)")
            for person_id, identifier in (persons or {}).items():
                con.execute(
                    "INSERT INTO person VALUES (?, ?)", [person_id, pseudonym(identifier, KEY)]
                )

    def pseudonym_of(patient_id: str) -> str | None:
        try:
            return pseudonym(patient_id, KEY)
        except Exception:
            return None

    report = index_archive(
        [tmp_path / "files"],
        database=database,
        header_store=tmp_path / "headers.sqlite",
        rules=load_rules(),
        pseudonym_of=pseudonym_of,
        options=IndexOptions(today=TODAY, **options),
    )
    return report, duckdb.connect(str(database), read_only=True)


def rows(con, sql):
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_flags_roll_up_to_the_series(tmp_path):
    files = tmp_path / "files"
    series = {"SeriesInstanceUID": "2.25.11", "SeriesDescription": "AXIAL 1.0"}
    write_image(files / "1.dcm", SOPInstanceUID="2.25.111", InstanceNumber="1", **series)
    write_image(
        files / "2.dcm",
        SOPInstanceUID="2.25.112",
        InstanceNumber="2",
        BurnedInAnnotation="YES",
        SliceThickness="3",
        **series,
    )
    write_image(
        files / "3.dcm",
        SOPInstanceUID="2.25.113",
        InstanceNumber="3",
        ContrastBolusAgent="Omnipaque 350",
        SliceThickness="3",
        **series,
    )
    plain = {
        "SeriesInstanceUID": "2.25.12",
        "SeriesNumber": "2",
        "SeriesDescription": "Scout",
        "BurnedInAnnotation": None,
    }
    write_image(files / "4.dcm", SOPInstanceUID="2.25.121", **plain)
    write_image(
        files / "5.dcm",
        SOPInstanceUID="2.25.122",
        Modality="OT",
        SeriesInstanceUID="2.25.13",
        SeriesNumber="3",
        BurnedInAnnotation="YES",
        SeriesDescription="Dose Report",
    )
    report, con = index(tmp_path)
    found = {r["series_instance_uid"]: r for r in rows(con, "SELECT * FROM imaging_series")}
    axial, scout, dose = found["2.25.11"], found["2.25.12"], found["2.25.13"]
    assert (axial["contrast"], axial["contrast_rule"]) == (
        "yes",
        "agent-recorded@ContrastBolusAgent",
    )
    assert axial["contrast_agent"] == "Omnipaque 350"
    assert axial["burned_in"] == "yes" and axial["n_instances"] == 3
    assert axial["slice_thickness"] == 3.0  # the median of 2.5, 3, 3
    assert (axial["body_part"], axial["body_part_rule"]) == ("CHEST", "chest@StudyDescription")
    assert (scout["contrast"], scout["burned_in"], scout["n_instances"]) == (
        "unknown",
        "unknown",
        1,
    )
    assert (dose["modality"], dose["burned_in"]) == ("OT", "yes")
    study = rows(con, "SELECT * FROM imaging_study")
    assert len(study) == 1 and study[0]["modalities"] == "CT\\OT"
    assert (study[0]["n_series"], study[0]["n_instances"]) == (3, 5)
    assert (study[0]["contrast"], study[0]["burned_in"], study[0]["body_parts"]) == (
        "yes",
        "yes",
        "CHEST",
    )
    assert report.series == 3 and report.studies == 1


def test_absurd_values_are_nulled_and_counted(tmp_path):
    files = tmp_path / "files"
    write_image(files / "1.dcm", SOPInstanceUID="2.25.1", SliceThickness="-5", StudyDate="20990101")
    write_image(files / "2.dcm", SOPInstanceUID="2.25.2", SliceThickness="-2")
    report, con = index(tmp_path)
    assert report.issues == {"slice_thickness_negative": 2, "study_date_future": 1}
    found = rows(
        con, "SELECT slice_thickness, study_date, issues FROM imaging_instance ORDER BY path"
    )
    assert found == [
        {
            "slice_thickness": None,
            "study_date": None,
            "issues": "slice_thickness_negative,study_date_future",
        },
        {
            "slice_thickness": None,
            "study_date": date(2020, 1, 2),
            "issues": "slice_thickness_negative",
        },
    ]


def test_duplicate_uids_keep_the_first_and_are_reported(tmp_path):
    files = tmp_path / "files"
    first = write_image(files / "a" / "1.dcm", SOPInstanceUID="2.25.7", PatientID="P1")
    (files / "b").mkdir()
    (files / "b" / "1.dcm").write_bytes(first.read_bytes())  # a copy
    write_image(files / "c" / "1.dcm", SOPInstanceUID="2.25.7", PatientID="P2")  # a conflict
    report, con = index(tmp_path)
    assert report.duplicates == {"same_header": 1, "different_header": 1} and report.indexed == 1
    assert rows(con, "SELECT path FROM imaging_instance") == [{"path": str(first)}]
    states = rows(con, "SELECT path, status, reason FROM imaging_files ORDER BY path")
    assert [(s["status"], s["reason"]) for s in states] == [
        ("indexed", None),
        ("duplicate", "same_header"),
        ("duplicate", "different_header"),
    ]
    con.close()
    # the conflict is kept out on later runs too: a new file with the same uid is a duplicate
    write_image(files / "d" / "1.dcm", SOPInstanceUID="2.25.7", PatientID="P3")
    again, con = index(tmp_path)
    assert again.read == 1 and again.duplicates == {"different_header": 1}
    assert rows(con, "SELECT count(*) AS n FROM imaging_instance") == [{"n": 1}]


def test_persons_are_linked_through_the_keyed_pseudonym_never_guessed(tmp_path):
    files = tmp_path / "files"
    cases = {
        "linked": ("943 476 5919", "2.25.21"),  # spaces: one identifier once normalised
        "no_match": ("0000000000", "2.25.22"),
        "ambiguous": ("SHARED", "2.25.23"),
        "no_identifier": ("\x01\x02", "2.25.24"),
    }
    for n, (patient, series) in enumerate(cases.values()):
        write_image(
            files / f"{n}.dcm",
            SOPInstanceUID=f"{series}.1",
            SeriesInstanceUID=series,
            PatientID=patient,
            StudyInstanceUID=f"{series}.0",
        )
    for n, patient in enumerate(("A", "B")):  # one series, two patients
        write_image(
            files / f"conflict{n}.dcm",
            SOPInstanceUID=f"2.25.25.{n}",
            SeriesInstanceUID="2.25.25",
            PatientID=patient,
            StudyInstanceUID="2.25.25.0",
        )
    persons = {1: "9434765919", 2: "SHARED", 3: "shared", 4: "A", 5: "B"}
    report, con = index(tmp_path, persons)
    found = {
        r["series_instance_uid"]: (r["link"], r["person_id"])
        for r in rows(con, "SELECT * FROM imaging_series")
    }
    assert found == {
        "2.25.21": ("linked", 1),
        "2.25.22": ("no_match", None),
        "2.25.23": ("ambiguous", None),
        "2.25.24": ("no_identifier", None),
        "2.25.25": ("conflict", None),
    }
    assert (
        report.links
        == {"linked": 1, "no_match": 1, "ambiguous": 1, "no_identifier": 1, "conflict": 1}
        and report.persons == 1
    )
    studies = {
        r["study_instance_uid"]: r["person_id"] for r in rows(con, "SELECT * FROM imaging_study")
    }
    assert studies["2.25.21.0"] == 1 and studies["2.25.25.0"] is None


def test_a_link_follows_the_person_table_on_the_next_run(tmp_path):
    """The link is made when the series are rolled up, so a CDM loaded after the index (or
    reloaded with new pseudonyms) links on the next run without reading a file."""
    write_image(tmp_path / "files" / "1.dcm", PatientID="LATER")
    _, con = index(tmp_path)
    assert rows(con, "SELECT link FROM imaging_series") == [{"link": "no_match"}]
    con.close()
    with duckdb.connect(str(tmp_path / "data.duckdb")) as con:
        con.execute("INSERT INTO person VALUES (9, ?)", [pseudonym("LATER", KEY)])
    report, con = index(tmp_path)
    assert report.read == 0
    assert rows(con, "SELECT link, person_id FROM imaging_series") == [
        {"link": "linked", "person_id": 9}
    ]
