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

IMAGING_INDEX_TABLES = frozenset({"imaging_study", "imaging_series"})
"""The imaging index's own readable tables, which an index made before the OMOP tables below
holds too: what the ``imaging`` data domain should require to be served."""

IMAGING_OMOP_TABLES = frozenset({"image_occurrence", "image_feature"})
"""The OMOP Medical Imaging extension's tables, built from the index at every run
(``fivesafes.imaging.omop_tables``)."""

IMAGING_TABLES = IMAGING_INDEX_TABLES | IMAGING_OMOP_TABLES
"""What analyses and cohorts may read of a node's imaging index (the ``imaging`` data domain,
``fivesafes.data.domains``; written by ``fivesafes node imaging index``): studies, series and
the OMOP image_occurrence and image_feature, with ``person_id``, never a path, a PatientID or a
header."""

PATHOLOGY_SLIDE_TABLES = frozenset({"pathology_slide"})
"""The registered slides (``fivesafes node slides add``): each slide's pseudonymous id, person,
specimen, stain and allow-listed facts, never a path, a label or the file's metadata
(``fivesafes.slides.register``); what the ``pathology`` domain requires to be served."""

PATHOLOGY_TABLES = PATHOLOGY_SLIDE_TABLES | {"pathology_prediction"}
"""What analyses and cohorts may read of a node's slides (the ``pathology`` data domain): the
slides, and the AI predictions imported for them (model, version, run time, counts:
``fivesafes.slides.predictions``; never the predictions' geometry or heatmaps)."""

READABLE_TABLES = CDM_TABLES | IMAGING_TABLES | PATHOLOGY_TABLES
"""Every table :meth:`OmopDatabase.table` opens: no others."""
