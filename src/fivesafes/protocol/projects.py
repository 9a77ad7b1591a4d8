"""What a project declares about its data, as the wire carries it: the domains it asks a node
for, how sensitive its records are, and whether it links them (``fivesafes.governance.projects``
keeps the rules about them)."""

from __future__ import annotations

from enum import StrEnum


class DataDomain(StrEnum):
    """The kinds of data a project asks a node for (a closed list)."""

    OMOP = "omop"  # OMOP CDM clinical records
    IMAGING = "imaging"  # DICOM imaging and its metadata
    PATHOLOGY = "pathology"  # whole-slide pathology images


class Sensitivity(StrEnum):
    """How sensitive the records a project uses are, as its PI declares."""

    STANDARD = "standard"  # pseudonymised routine health records
    SENSITIVE = "sensitive"  # e.g. mental, sexual or reproductive health, substance misuse
    HIGHLY_SENSITIVE = "highly_sensitive"  # legally restricted records, genomic data


class Linkage(StrEnum):
    """Whether a project links records, as its PI declares."""

    NONE = "none"
    ACROSS_NODES = "across_nodes"  # persons matched between nodes of the federation
    EXTERNAL = "external"  # with data from outside the federation
