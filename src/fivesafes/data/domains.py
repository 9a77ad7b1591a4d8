"""A node's data, by domain: each domain a family of tables with its own schema check.

A project is approved per domain (``data_domains`` in its record, kept in each node's
approval), and each analysis declares the domains it reads (``Analysis.domains``); a node runs
an analysis only for a project approved for every domain it reads
(``fivesafes.node.policy``: ``domain_not_approved``). Domains are read through the same data
source and engine adapters (``fivesafes.data.engines``: DuckDB, PostgreSQL, Spark), so a new
domain adds tables, not engines, and a new engine serves every domain.

| domain  | tables                          | required to serve it                               |
| ------- | ------------------------------- | -------------------------------------------------- |
| omop    | the OMOP CDM v5.4 tables        | person, observation_period, concept,               |
|         |                                 | concept_ancestor                                   |
| imaging | imaging_study, imaging_series,  | study and series (``fivesafes node imaging index``;|
|         | image_occurrence, image_feature | an index older than the OMOP imaging tables serves |
|         |                                 | the domain without them)                           |
| pathology | pathology_slide,              | pathology_slide (``fivesafes node slides add``)    |
|         | pathology_prediction            |                                                    |

The imaging domain is what analyses and cohorts may read of the imaging index: study and series
rows and the OMOP Medical Imaging extension's ``image_occurrence`` and ``image_feature``, with
``person_id`` and no path, PatientID or header (``fivesafes.imaging.tables``; the
instance and file tables are the indexer's and the extraction's, the full headers sit in a
restricted store of their own). The pathology domain is the registered slides
(``fivesafes.slides.register``): each slide's pseudonymous id, person, specimen, stain and
allow-listed facts; the files' paths sit in ``pathology_slide_file``, the node's own.
Identities (issue 18) add their own domain here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fivesafes.data.names import (
    CDM_TABLES,
    IMAGING_INDEX_TABLES,
    IMAGING_TABLES,
    PATHOLOGY_SLIDE_TABLES,
    PATHOLOGY_TABLES,
)


@dataclass(frozen=True)
class Domain:
    """A family of a node's tables: ``tables`` may be read, ``required`` must exist for the
    node to serve the domain (its schema check)."""

    name: str
    title: str
    tables: frozenset[str]
    required: frozenset[str]

    def missing(self, stored: Iterable[str]) -> list[str]:
        """The required tables a source lacks (names compared in lower case)."""
        present = {name.lower() for name in stored}
        return sorted(self.required - present)


OMOP = Domain(
    "omop",
    "OMOP CDM clinical records",
    CDM_TABLES,
    frozenset({"person", "observation_period", "concept", "concept_ancestor"}),
)

IMAGING = Domain(
    "imaging",
    "DICOM imaging index (studies and series)",
    IMAGING_TABLES,
    IMAGING_INDEX_TABLES,
)

PATHOLOGY = Domain(
    "pathology",
    "Whole-slide pathology images (registered slides, their AI predictions)",
    PATHOLOGY_TABLES,
    PATHOLOGY_SLIDE_TABLES,
)

DOMAINS: dict[str, Domain] = {domain.name: domain for domain in (OMOP, IMAGING, PATHOLOGY)}
"""Every domain a node's data source may hold, by name."""


def served(stored: Iterable[str]) -> dict[str, list[str]]:
    """Per domain, the required tables a source lacks (an empty list: the node serves it)."""
    names = list(stored)
    return {name: domain.missing(names) for name, domain in DOMAINS.items()}
