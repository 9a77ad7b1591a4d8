"""Imaging cohorts across a real federation: a hub and two nodes (OS processes on loopback),
each with its own synthetic CDM and DICOM archive, indexed for real. ``fed.count``,
``fed.attrition`` and ``fed.characterise`` of the PICTURES question answer through each node's
disclosure gate, equal to the planted truth; a project that did not ask for the imaging domain
cannot ask about imaging at all."""

from __future__ import annotations

import pytest

from cohort_reference import reference_persons
from fivesafes.client import FederationError
from fivesafes.cohorts.criteria import Cohort
from fivesafes.sdc import release_count
from fivesafes.sdc.profiles import DEFAULT
from imaging_cohorts import COHORTS, imaging_federation, indexed_sites

PICTURES, CT_CHEST_CONTRAST = COHORTS[0], COHORTS[1]
BOTH = ["omop", "imaging"]


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, dict]:
    """Two hospitals: each CDM indexed with its own archive; the planted truth of each."""
    return indexed_sites(tmp_path_factory, (("northfield", 1500, 21), ("riverside", 1000, 22)))


def planted(sites: dict[str, dict], raw: dict) -> dict[str, int]:
    cohort = Cohort.model_validate(raw)
    return {name: len(reference_persons(site["tables"], cohort)) for name, site in sites.items()}


def test_count_attrition_and_characterise_of_an_imaging_cohort(harness, sites):
    token, project = imaging_federation(harness, sites, domains=BOTH)
    truth = planted(sites, CT_CHEST_CONTRAST)
    assert min(truth.values()) >= 20  # large enough to be released at every node
    expected = {name: release_count(n, DEFAULT) for name, n in truth.items()}
    with harness.federation(token, project) as fed:
        count = fed.count(CT_CHEST_CONTRAST, timeout=90)
        assert count.complete
        assert {n.node: n.value for n in count.nodes} == {
            name: e.value for name, e in expected.items()
        }
        assert count.total == sum(e.value for e in expected.values())

        pictures = fed.count(PICTURES, timeout=90)  # narrower: under the threshold here
        small = {name: release_count(n, DEFAULT) for name, n in planted(sites, PICTURES).items()}
        assert {n.node: (n.value, n.suppressed) for n in pictures.nodes} == {
            name: (e.value, e.suppressed) for name, e in small.items()
        }

    with harness.federation(
        token, harness.project(["alice"], list(sites), data_domains=BOTH)
    ) as fed:
        attrition = fed.attrition(PICTURES, timeout=90)
        assert attrition.complete and not attrition.nodes_missing
        names = [step["name"] for step in attrition.steps]
        assert names[0] == "persons with an index date" and names[-1].startswith("criterion 1")
        for name, steps in attrition.nodes.items():
            first = steps[0]["count"]
            assert first["value"] == expected[name].value  # the index criterion's persons

    with harness.federation(
        token, harness.project(["alice"], list(sites), data_domains=BOTH)
    ) as fed:
        characterised = fed.characterise(CT_CHEST_CONTRAST, top=5, timeout=90)
        assert characterised.complete and not characterised.nodes_missing
        assert characterised.count == sum(e.value for e in expected.values())
        for name, output in characterised.nodes.items():
            assert output["count"]["value"] == expected[name].value


def test_a_project_without_the_imaging_domain_cannot_ask_about_imaging(harness, sites):
    token, project = imaging_federation(harness, sites, domains=["omop"])
    with harness.federation(token, project) as fed:
        with pytest.raises(FederationError, match="does not ask for the data domain imaging"):
            fed.count(CT_CHEST_CONTRAST, timeout=30)
        clinical = {"name": "smokers", "criteria": [COHORTS[0]["criteria"][1]]}
        assert fed.count(clinical, timeout=60).complete  # its OMOP questions still run
