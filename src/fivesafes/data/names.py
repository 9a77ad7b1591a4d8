"""Which tables a node's data source may hold, by name (read by the source, its view layer and
the data domains alike)."""

from __future__ import annotations

CDM_TABLES = frozenset(
    {
        # clinical data
        "person", "observation_period", "visit_occurrence", "visit_detail",
        "condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure",
        "measurement", "observation", "death", "note", "note_nlp", "specimen",
        "fact_relationship",
        # health system and economics
        "location", "care_site", "provider", "payer_plan_period", "cost",
        # derived elements
        "drug_era", "dose_era", "condition_era", "episode", "episode_event",
        # metadata
        "metadata", "cdm_source",
        # vocabulary
        "concept", "vocabulary", "domain", "concept_class", "concept_relationship",
        "relationship", "concept_synonym", "concept_ancestor", "source_to_concept_map",
        "drug_strength",
    }
)  # fmt: skip
"""OMOP CDM v5.4 table names."""

IMAGING_TABLES = frozenset({"imaging_study", "imaging_series"})
"""What analyses and cohorts may read of a node's imaging index (the ``imaging`` data domain,
``fivesafes.data.domains``; written by ``fivesafes node imaging index``): studies and series
with ``person_id``, never a path, a PatientID or a header."""

READABLE_TABLES = CDM_TABLES | IMAGING_TABLES
"""Every table :meth:`OmopDatabase.table` opens: no others."""
