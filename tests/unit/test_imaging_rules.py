"""The mapping rules (fivesafes.imaging.rules): free text in DICOM headers to a body part and
contrast, with the rule that decided each value. The tables below are the shipped rules' spec:
real-world spellings and what they must mean."""

from __future__ import annotations

import pytest

from fivesafes.imaging.rules import RulesError, load_rules, normal, parse_rules

RULES = load_rules()

BODY_PART = [
    # BodyPartExamined, ProtocolName, SeriesDescription, StudyDescription -> term, rule
    (("CHEST", None, None, None), "CHEST", "chest@BodyPartExamined"),
    (("Chest", None, None, None), "CHEST", "chest@BodyPartExamined"),
    (("THORAX", None, None, None), "CHEST", "chest@BodyPartExamined"),
    (("LUNG", None, None, None), "CHEST", "chest@BodyPartExamined"),
    (("THX", None, None, None), "CHEST", "chest@BodyPartExamined"),
    ((None, "Thorax_Routine", None, None), "CHEST", "chest@ProtocolName"),
    ((None, None, None, "CT CHEST/LUNGS"), "CHEST", "chest@StudyDescription"),
    (
        (None, None, "Topogram 0.6 T20f", "Thorax^01_Thorax_Routine (Adult)"),
        "CHEST",
        "chest@StudyDescription",
    ),
    (("TSPINE", None, None, None), "SPINE", "spine@BodyPartExamined"),
    ((None, None, None, "CT THORACIC SPINE"), "SPINE", "spine@StudyDescription"),
    (("L-SPINE", None, None, None), "SPINE", "spine@BodyPartExamined"),
    ((None, "SAG T2 LUMBAR", None, None), "SPINE", "spine@ProtocolName"),
    (
        (None, None, None, "CT CHEST ABDOMEN PELVIS"),
        "CHESTABDPELVIS",
        "chest-abdomen-pelvis@StudyDescription",
    ),
    ((None, None, None, "CT CAP W"), "CHESTABDPELVIS", "chest-abdomen-pelvis@StudyDescription"),
    ((None, None, None, "CT ABDO/PELVIS"), "ABDOMENPELVIS", "abdomen-pelvis@StudyDescription"),
    (("ABD_PELVIS", None, None, None), "ABDOMENPELVIS", "abdomen-pelvis@BodyPartExamined"),
    (("HEAD", None, None, None), "HEAD", "head@BodyPartExamined"),
    (("BRAIN", None, None, None), "HEAD", "head@BodyPartExamined"),
    ((None, None, None, "MRI IAMs"), "HEAD", "head@StudyDescription"),
    (("THYROID", None, None, None), "NECK", "neck@BodyPartExamined"),
    (("BREAST", None, None, None), "BREAST", "breast@BodyPartExamined"),
    ((None, None, None, "Screening Mammography"), "BREAST", "breast@StudyDescription"),
    (("KNEE", None, None, None), "EXTREMITY", "extremity@BodyPartExamined"),
    ((None, None, None, "CT CORONARY ANGIO"), "HEART", "heart@StudyDescription"),
    (("WHOLEBODY", None, None, None), "WHOLEBODY", "whole-body@BodyPartExamined"),
    # the first field that decides wins, even if a later one says otherwise
    (("HEAD", None, None, "CT CHEST"), "HEAD", "head@BodyPartExamined"),
    # a text that says nothing passes the decision on; unmapped texts decide nothing
    (("OTHER", None, None, "CT CHEST"), "CHEST", "chest@StudyDescription"),
    (("PROT7", None, "IAC 0.6mm", "CT TEMPORAL BONES"), None, None),
    ((None, None, None, None), None, None),
]


@pytest.mark.parametrize(("texts", "term", "rule"), BODY_PART, ids=lambda v: str(v))
def test_body_part_spellings(texts, term, rule):
    keys = ("BodyPartExamined", "ProtocolName", "SeriesDescription", "StudyDescription")
    decided, _ = RULES.classify(dict(zip(keys, texts, strict=True)))
    assert (decided.value, decided.rule) == (term, rule)


CONTRAST = [
    # ContrastBolusAgent, ContrastBolusRoute, SeriesDescription, ProtocolName -> value, rule
    (("Omnipaque 350", None, None, None), "yes", "agent-recorded@ContrastBolusAgent"),
    (("ISOVUE-370", "IV", "5mm Axial", None), "yes", "agent-recorded@ContrastBolusAgent"),
    (("NONE", None, "Thorax C+", None), "no", "agent-none@ContrastBolusAgent"),
    (("None", None, None, None), "no", "agent-none@ContrastBolusAgent"),
    ((None, "Intravenous", None, None), "yes", "route-recorded@ContrastBolusRoute"),
    ((None, None, "Thorax C+  1.0  B31f", None), "yes", "description-with@SeriesDescription"),
    ((None, None, "CHEST W CONTRAST 2.5MM", None), "yes", "description-with@SeriesDescription"),
    ((None, None, "AX 2.5 POST", None), "yes", "description-with@SeriesDescription"),
    ((None, None, "Chest Portal Venous 3mm", None), "yes", "description-with@SeriesDescription"),
    ((None, None, "CTA Chest", None), "yes", "description-with@SeriesDescription"),
    ((None, None, "t1_mprage_sag_POST", None), "yes", "description-with@SeriesDescription"),
    ((None, None, "T1 SE +C", None), "yes", "description-with@SeriesDescription"),
    ((None, None, "Thorax KM 3.0 Br40", None), "yes", "description-with@SeriesDescription"),
    ((None, None, "CHEST NON CON 2.5MM", None), "no", "description-without@SeriesDescription"),
    (
        (None, None, "CT CHEST WITHOUT CONTRAST", None),
        "no",
        "description-without@SeriesDescription",
    ),
    ((None, None, "AX CHEST WO", None), "no", "description-without@SeriesDescription"),
    ((None, None, "HEAD W/O", None), "no", "description-without@SeriesDescription"),
    ((None, None, "Thorax nativ 5.0 B30f", None), "no", "description-without@SeriesDescription"),
    ((None, None, "Thorax C-", None), "no", "description-without@SeriesDescription"),
    ((None, None, "Lung 1.0 B70f", "Thorax_Routine"), "unknown", None),
    ((None, None, None, None), "unknown", None),
]


@pytest.mark.parametrize(("texts", "value", "rule"), CONTRAST, ids=lambda v: str(v))
def test_contrast_spellings(texts, value, rule):
    keys = ("ContrastBolusAgent", "ContrastBolusRoute", "SeriesDescription", "ProtocolName")
    _, decided = RULES.classify(dict(zip(keys, texts, strict=True)))
    assert (decided.value, decided.rule) == (value, rule)


def test_a_study_description_never_decides_contrast():
    """A study "with contrast" also holds its scout: only the series' own texts decide."""
    _, decided = RULES.classify({"StudyDescription": "CT CHEST WITH CONTRAST"})
    assert decided.value == "unknown"


def test_normal_form():
    assert normal("  Thorax^01_Thorax  Routine ") == "THORAX 01 THORAX ROUTINE"
    assert normal(None) == "" and normal("") == ""


def test_a_combined_region_is_found_by_its_parts():
    assert RULES.includes("CHEST") == {"CHEST", "CHESTABDOMEN", "CHESTABDPELVIS"}
    assert RULES.includes("SPINE") == {"SPINE"}


def test_the_shipped_rules_name_their_version():
    assert RULES.name == "fivesafes default" and RULES.version == "1"
    assert len(RULES.sha256) == 64 and RULES.label == "fivesafes default 1"


def test_considered_lists_what_no_rule_matched():
    texts = {"BodyPartExamined": "OTHER", "StudyDescription": "ct temporal bones"}
    assert RULES.body_part.considered(texts) == [("StudyDescription", "CT TEMPORAL BONES")]


OPERATOR_RULES = """
name = "north hospital"
version = "2025-06"

[body_part]
fields = ["BodyPartExamined", "StudyDescription"]

[body_part.vocabulary]
HEAD = []
TEMPORALBONE = ["HEAD"]

[[body_part.rules]]
id = "temporal-bone"
value = "TEMPORALBONE"
match = ['TEMPORAL BONES?', 'PETROUS']

[contrast]
fields = ["ContrastBolusAgent"]

[[contrast.rules]]
id = "any-agent"
value = "yes"
match = ['.']
"""


def test_an_operator_brings_their_own_rules(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(OPERATOR_RULES)
    rules = load_rules(path)
    part, contrast = rules.classify(
        {"StudyDescription": "CT Temporal Bones", "SeriesDescription": "C+"}
    )
    assert (part.value, part.rule) == ("TEMPORALBONE", "temporal-bone@StudyDescription")
    assert contrast.value == "unknown"  # SeriesDescription is not one of this file's fields
    assert rules.includes("HEAD") == {"HEAD", "TEMPORALBONE"}
    assert rules.label == "north hospital 2025-06"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("match = ['PETROUS']", "match = ['(unclosed']"), "is not a regular expression"),
        (('value = "TEMPORALBONE"', 'value = "TEMPORAL"'), "value must be one of"),
        (('id = "any-agent"', 'id = "Any Agent"'), "id must be lower case"),
        (
            ('fields = ["ContrastBolusAgent"]', 'fields = ["PatientName"]'),
            "must list header fields",
        ),
        (('version = "2025-06"', ""), "`name` and `version` must be given"),
        (("[contrast]", "[contrst]"), "unknown keys contrst"),
    ],
)
def test_a_broken_rules_file_is_refused_in_words(tmp_path, change, said):
    text = OPERATOR_RULES.replace("match = ['TEMPORAL BONES?', 'PETROUS']", "match = ['PETROUS']")
    assert change[0] in text
    path = tmp_path / "rules.toml"
    path.write_text(text.replace(change[0], change[1]))
    with pytest.raises(RulesError, match=said):
        load_rules(path)


def test_a_rule_id_used_twice_is_refused():
    raw = {
        "name": "x",
        "version": "1",
        "body_part": {
            "fields": ["BodyPartExamined"],
            "vocabulary": {"HEAD": []},
            "rules": [{"id": "a", "value": "HEAD", "match": ["HEAD"]}] * 2,
        },
        "contrast": {
            "fields": ["ContrastBolusAgent"],
            "rules": [{"id": "b", "value": "yes", "match": ["."]}],
        },
    }
    with pytest.raises(RulesError, match="used twice"):
        parse_rules(raw)


def test_a_missing_rules_file_is_said_without_a_stack(tmp_path):
    with pytest.raises(RulesError, match="Cannot read the rules file"):
        load_rules(tmp_path / "none.toml")
