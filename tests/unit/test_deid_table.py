"""Table E.1-1 of DICOM PS3.15 as the de-identification engine holds it (fivesafes.imaging.deid
.table), checked against a second, independent copy of the table, and the options' names and
CID 7050 codes (fivesafes.imaging.deid.options).

The reference is idiscore 1.2.0's ``_public_dicom.py``, a scrape of the edition of the
standard current on 2024-09-19, later than ours. idiscore is GPLv3 and is installed without
its dependencies for this test only: its file is parsed with ``ast`` as data, never imported.
Where the edition it scraped differs from ours (2024b), the difference is listed in
:data:`EDITION_DRIFT`, and must still be a difference, so the list cannot go stale silently.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.sr.codedict import codes

from fivesafes.imaging.deid import table
from fivesafes.imaging.deid.options import (
    BASIC_PROFILE,
    CODES,
    EDITION,
    OPTION_NAMES,
    Options,
    options_of,
)
from fivesafes.protocol.errors import InvalidRequest

# idiscore's rule set for each column we hold, by our option's name.
REFERENCE_SETS = {
    "retain_modified_dates": "retain_modified_dates",
    "retain_patient_characteristics": "retain_patient_characteristics",
    "retain_device_identity": "retain_device_id",
    "clean_descriptors": "clean_descriptors",
    "clean_structured_content": "clean_structured_content",
}
ACTION_CODES = {  # idiscore's ActionCodes, as the standard writes them
    "REMOVE": "X",
    "EMPTY": "Z",
    "DUMMY": "D",
    "UID": "U",
    "KEEP": "K",
    "CLEAN": "C",
    "REMOVE_OR_EMPTY": "X/Z",
    "REMOVE_OR_DUMMY": "X/D",
    "EMPTY_OR_DUMMY": "Z/D",
    "REMOVE_OR_EMPTY_OR_DUMMY": "X/Z/D",
    "REMOVE_OR_EMPTY_OR_UID": "X/Z/U*",
}
EDITION_DRIFT = {
    # Added to Table E.1-1 after 2024b (in the edition idiscore scraped): not in ours.
    ("basic", "00102161"): ("X", None),  # Ethnic Group Code Sequence
    ("basic", "300a0054"): ("U", None),  # Table Top Position Alignment UID
    ("retain_patient_characteristics", "00102161"): ("K", None),  # Ethnic Group Code Seq.
    # Private attributes: the table's row "(gggg,eeee) where gggg is odd" is not in
    # dicom-anonymizer's lists; the engine removes every private element itself.
    ("basic", "private"): ("X", None),
}


def reference() -> dict[str, dict[str, str]]:
    """idiscore's rule sets: name -> {tag ("0008002a", "50xxxxxx", "private"): code}."""
    found = [f for f in importlib.metadata.files("idiscore") or () if f.name == "_public_dicom.py"]
    assert found, "idiscore's _public_dicom.py is installed for this test"
    tree = ast.parse(Path(str(found[0].locate())).read_text(encoding="utf-8"))
    sets: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        (name,) = (t.id for t in node.targets if isinstance(t, ast.Name))
        rules = next(k.value for k in node.value.keywords if k.arg == "rules")
        assert isinstance(rules, ast.List)
        sets[name] = {}
        for rule in rules.elts:
            assert isinstance(rule, ast.Tuple)
            identifier, action = rule.elts
            assert isinstance(identifier, ast.Call) and isinstance(action, ast.Attribute)
            kind = identifier.func.id if isinstance(identifier.func, ast.Name) else ""
            argument = identifier.args[0] if identifier.args else None
            key = argument.value.lower() if isinstance(argument, ast.Constant) else "private"
            assert kind in ("SingleTag", "RepeatingGroup", "PrivateTags")
            sets[name][key] = ACTION_CODES[action.attr]
    return sets


def ours_basic() -> dict[str, str]:
    """Our Basic Profile (dicom-anonymizer's 2024b lists) keyed as the reference keys it."""
    codes_by_tag, masks = table.basic_profile()
    rows = {f"{tag:08x}": code for tag, code in codes_by_tag.items()}
    for group_mask, group, element_mask, element, code in masks:
        rows[_pattern(group, group_mask) + _pattern(element, element_mask)] = code
    return rows


def _pattern(value: int, mask: int) -> str:
    """A masked 16 bits as the standard writes a repeating group: ``50xx``."""
    digits = f"{value:04x}"
    return "".join("x" if not (mask >> (12 - 4 * i)) & 0xF else d for i, d in enumerate(digits))


def differences(ours: dict[str, str], theirs: dict[str, str]) -> dict[str, tuple]:
    return {
        tag: (theirs.get(tag), ours.get(tag))
        for tag in sorted(set(ours) | set(theirs))
        if ours.get(tag) != theirs.get(tag)
    }


def drift(column: str) -> dict[str, tuple]:
    return {tag: pair for (name, tag), pair in EDITION_DRIFT.items() if name == column}


def test_the_basic_profile_agrees_with_the_reference_but_for_the_listed_drift():
    assert differences(ours_basic(), reference()["basic_profile"]) == drift("basic")


@pytest.mark.parametrize("option", sorted(REFERENCE_SETS))
def test_each_option_column_agrees_with_the_reference_but_for_the_listed_drift(option):
    ours = {f"{tag:08x}": code for tag, code in table.option_columns()[option].items()}
    theirs = reference()[REFERENCE_SETS[option]]
    assert differences(ours, theirs) == drift(option)


def test_retain_safe_private_is_a_clean_of_every_private_attribute_in_the_reference():
    """The column says C (keep what is known safe) for all private attributes; our allow-list
    is what we know."""
    assert reference()["retain_safe_private"] == {"private": "C"}
    assert table.safe_private()


def test_the_options_file_parses_and_names_each_row_by_pydicoms_keyword():
    text = resources.files("fivesafes.imaging.deid").joinpath(table.DATA).read_text("utf-8")
    data = tomllib.loads(text)
    assert data["edition"] == EDITION == "2024b"
    columns = {k for k, v in data.items() if isinstance(v, dict)}
    assert columns == {*REFERENCE_SETS, "retain_safe_private"}
    assert columns <= {f.name for f in dataclasses.fields(Options)}
    for name in REFERENCE_SETS:
        rows = data[name].get("keep", []) + data[name].get("clean", [])
        assert rows, name
        for row in rows:
            assert keyword_for_tag(table.parse_tag(row["tag"])) == row["keyword"], row
        tags = [table.parse_tag(r["tag"]) for r in rows]
        assert len(tags) == len(set(tags)), f"{name} lists a tag twice"


def test_the_safe_private_allow_list_is_short_sourced_and_numeric():
    allowed = table.safe_private()
    assert 0 < len(allowed) <= 20
    for entry in allowed:
        assert entry.group % 2 == 1 and 0 <= entry.element <= 0xFF
        assert entry.vr in ("DS", "IS", "FL", "FD", "SS", "US", "SL", "UL", "SH"), entry
        assert "Table E.3.10-1" in entry.source or "conformance statement" in entry.source
    assert len({(e.creator, e.group, e.element) for e in allowed}) == len(allowed)


# The engine's reading of each code: the last of a combination, valid in the strictest case.
RESOLVED = [
    ("X", "X"),
    ("Z", "Z"),
    ("D", "D"),
    ("U", "U"),
    ("X/Z", "Z"),
    ("X/D", "D"),
    ("Z/D", "D"),
    ("X/Z/D", "D"),
    ("X/Z/U*", "U"),
]


@pytest.mark.parametrize(("code", "action"), RESOLVED)
def test_a_combined_code_resolves_to_its_last_action(code, action):
    assert table.RESOLVED[code] == action


def test_every_basic_code_is_one_the_engine_resolves():
    codes_by_tag, masks = table.basic_profile()
    assert set(codes_by_tag.values()) | {m[-1] for m in masks} <= set(table.RESOLVED)
    assert len(codes_by_tag) > 600


# What the engine does with an attribute, for a choice of options: a spec to read.
SPEC = [
    (Options(), "PatientID", "D"),  # Z/D: the pseudonym
    (Options(), "StudyDate", "Z"),
    (Options(), "AcquisitionDate", "Z"),  # X/Z
    (Options(), "InstitutionName", "D"),  # X/Z/D
    (Options(), "ProtocolName", "D"),  # X/D
    (Options(), "SOPInstanceUID", "U"),
    (Options(), "ReferencedImageSequence", "U"),  # X/Z/U*: its UIDs renewed
    (Options(), "PatientAge", "X"),
    (Options(), "SeriesDescription", "X"),
    (Options(), "ContentSequence", "D"),
    (Options(retain_patient_characteristics=True), "PatientAge", "K"),
    (Options(retain_patient_characteristics=True), "PatientSex", "K"),
    (Options(retain_patient_characteristics=True), "Allergies", "C"),
    (Options(retain_device_identity=True), "DeviceSerialNumber", "K"),
    (Options(retain_device_identity=True), "StationAETitle", "C"),
    (Options(retain_device_identity=True), "DestinationAE", "CD"),  # basic D: a value needed
    (Options(retain_device_identity=True), "CalibrationDate", "X"),  # dates: the dates option
    (Options(retain_device_identity=True, retain_modified_dates=True), "CalibrationDate", "S"),
    (Options(retain_modified_dates=True), "StudyDate", "S"),
    (Options(retain_modified_dates=True), "AcquisitionDateTime", "S"),
    (Options(retain_modified_dates=True), "StudyTime", "K"),
    (Options(retain_modified_dates=True), "CertifiedTimestamp", "X"),  # OB: cannot be shifted
    (Options(retain_modified_dates=True), "PatientBirthDate", "Z"),  # not in the column
    (Options(clean_descriptors=True), "SeriesDescription", "C"),
    (Options(clean_descriptors=True), "RTPlanLabel", "CD"),
    (Options(clean_descriptors=True), "ContentSequence", "D"),
    (Options(clean_structured_content=True), "ContentSequence", "CD"),  # its items cleaned
    (Options(clean_descriptors=True, retain_patient_characteristics=True), "Allergies", "C"),
]


@pytest.mark.parametrize(("options", "keyword", "action"), SPEC)
def test_the_action_for_an_attribute(options, keyword, action):
    assert table.table_for(options).actions[tag_for_keyword(keyword)] == action


def test_overlay_planes_and_curves_are_removed_whole():
    basic = table.table_for(Options())
    assert basic.masked(0x60003000) == "X"  # Overlay Data (the table)
    assert basic.masked(0x60020010) == "X"  # Overlay Rows: the plane goes with its data
    assert basic.masked(0x50000010) == "X"  # curves
    assert basic.masked(0x00080020) is None


def test_every_option_maps_to_its_cid_7050_code():
    """Codes and meanings as PS3.16 has them (pydicom's copy of CID 7050's scheme DCM)."""
    fields = {f.name for f in dataclasses.fields(Options)}
    assert set(CODES) == fields == set(OPTION_NAMES.values())
    by_value = {c.value: c.meaning for c in (getattr(codes.DCM, n) for n in codes.DCM.dir())}
    for code, meaning in (BASIC_PROFILE, *CODES.values()):
        assert by_value[code] == meaning
    assert {code for code, _ in CODES.values()} == {
        "113107",
        "113108",
        "113109",
        "113105",
        "113104",
        "113111",
        "113101",
    }


def test_options_of_reads_the_names_people_write():
    assert options_of([]) == Options()
    chosen = options_of(["retain-modified-dates", "Clean-Pixel-Data "])
    assert chosen == Options(retain_modified_dates=True, clean_pixel_data=True)
    assert chosen.method_codes() == (
        BASIC_PROFILE,
        CODES["retain_modified_dates"],
        CODES["clean_pixel_data"],
    )
    assert all(len(line) <= 64 for line in options_of(OPTION_NAMES).method_text())


def test_an_unknown_option_is_refused_in_words_without_repeating_it():
    with pytest.raises(InvalidRequest) as refused:
        options_of(["retain-dates", "DROP TABLE patients"])
    assert "DROP TABLE" not in refused.value.message
    assert "retain-dates" not in refused.value.message
    assert "retain-modified-dates" in refused.value.message
