"""The clinical facts a review study's case may show, as the node computes and gates them
(``slides.clinical``): planted populations decide what is shown and what is withheld."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from fivesafes.slides.clinical import MALIGNANT, WITHHELD, case_facts

D1, D2, S1, S2 = 4112853, 4115276, 2000000001, 2000000002
FIELDS = ["age_band", "sex", "biopsy_site", "diagnosis_code"]


@pytest.fixture
def cdm(tmp_path) -> Path:
    path = tmp_path / "cdm.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE person (person_id BIGINT, year_of_birth INT, gender_concept_id INT)")
    con.execute("CREATE TABLE specimen (specimen_id BIGINT, person_id BIGINT, specimen_date DATE,"
                " anatomic_site_concept_id INT)")  # fmt: skip
    con.execute(
        "CREATE TABLE pathology_slide (slide_id VARCHAR, person_id BIGINT, specimen_id BIGINT)"
    )
    con.execute("CREATE TABLE condition_occurrence (person_id BIGINT, condition_concept_id INT,"
                " condition_start_date DATE)")  # fmt: skip
    con.execute(
        "CREATE TABLE concept_ancestor (ancestor_concept_id INT, descendant_concept_id INT)"
    )
    con.execute("CREATE TABLE concept (concept_id INT, concept_name VARCHAR)")
    con.executemany(
        "INSERT INTO concept_ancestor VALUES (?, ?)", [(MALIGNANT, D1), (MALIGNANT, D2)]
    )
    names = [(D1, "Lung cancer"), (D2, "Rare tumour"), (S1, "Lung structure"), (S2, "Rare site")]
    con.executemany("INSERT INTO concept VALUES (?, ?)", names)
    people = []
    # 12 women born 1956-1965 with D1: the first one's case shows everything
    people += [(i, 1956 + i % 10, 8532, D1) for i in range(1, 13)]
    # a man born 1930 with D2 (unique), and 11 men over 80 without it
    people += [(100, 1930, 8507, D2)] + [(101 + i, 1935 + i, 8507, None) for i in range(11)]
    # a man born 2000: 3 men in their twenties, and 9 older men
    people += [(200, 2000, 8507, None), (201, 1999, 8507, None), (202, 2001, 8507, None)]
    people += [(300 + i, 1970, 8507, None) for i in range(9)]
    for pid, born, sex, dx in people:
        con.execute("INSERT INTO person VALUES (?, ?, ?)", [pid, born, sex])
        if dx:
            con.execute(
                "INSERT INTO condition_occurrence VALUES (?, ?, ?)", [pid, dx, date(2024, 1, 1)]
            )
    specimens = [(1, 1, S1), (2, 100, S2), (3, 200, S1)] + [(10 + i, 300 + i, S1) for i in range(9)]
    for sid, pid, site in specimens:
        con.execute("INSERT INTO specimen VALUES (?, ?, ?, ?)", [sid, pid, date(2025, 3, 1), site])
    con.executemany("INSERT INTO pathology_slide VALUES (?, ?, ?)",
                    [("SLA", 1, 1), ("SLB", 100, 2), ("SLC", 200, 3)])  # fmt: skip
    con.close()
    return path


def test_what_a_case_shows_follows_the_population_it_shares_with(cdm):
    facts = case_facts(cdm, ["SLA", "SLB", "SLC", "SLX"], FIELDS, threshold=10)
    assert facts["SLA"] == {"age_band": "60 to 69", "sex": "female",
                            "diagnosis_code": f"Lung cancer ({D1})",
                            "biopsy_site": "Lung structure"}  # fmt: skip
    # a unique diagnosis is withheld; age band and sex are shared by 12 men over 80
    assert facts["SLB"] == {"age_band": "80 or over", "sex": "male",
                            "diagnosis_code": WITHHELD, "biopsy_site": WITHHELD}  # fmt: skip
    # three men in their twenties: the age band goes too; men alone are enough
    assert facts["SLC"]["age_band"] == WITHHELD and facts["SLC"]["sex"] == "male"
    assert set(facts["SLX"].values()) == {WITHHELD}  # no linked person: nothing, never a guess


def test_a_stricter_threshold_withholds_more_and_only_what_was_asked_is_computed(cdm):
    strict = case_facts(cdm, ["SLA"], FIELDS, threshold=13)
    assert strict["SLA"]["diagnosis_code"] == WITHHELD and strict["SLA"]["biopsy_site"] == WITHHELD
    assert case_facts(cdm, ["SLA"], ["sex"], threshold=10) == {"SLA": {"sex": "female"}}
    assert case_facts(cdm, ["SLA"], [], threshold=10) == {}
