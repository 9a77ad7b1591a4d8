"""``[imaging]`` in ``node.toml``: where the imaging index keeps what it must keep apart, and
how it reads.

    [imaging]
    header_store = "imaging-headers.sqlite"  # the restricted header store (mode 600)
    index_file = "imaging-index.duckdb"      # the index's own tables, on a PostgreSQL or Spark node
    spark_folder = "imaging-spark"           # the Spark job's own tables (Parquet) and runs
    rules_file = "imaging-rules.toml"        # default: the rules shipped with fivesafes
    workers = 2                              # processes reading headers
    batch_files = 1000                       # files per written batch (what a crash can lose)
    memory_limit = "1GB"                     # DuckDB's, for the run's working tables
    extracts = "extracts"                    # de-identified extracts: a folder per project
    rejectors_file = "imaging-rejectors.toml"  # default: the rejectors shipped with fivesafes

Relative paths are resolved against the folder of ``node.toml``. The header store must not be
the node's data file: it is kept apart so that nothing that reads the data source can read it.

On a DuckDB node the index lives in the data file and ``index_file`` is not used. On a
PostgreSQL or Spark node the indexer keeps its working and state tables (``imaging_instance``,
``imaging_files``, ``imaging_runs``, …: paths, what was read) in ``index_file``, and publishes
only ``imaging_study`` and ``imaging_series`` into the node's data
(:mod:`fivesafes.imaging.publish`). The Spark job (``--spark``,
:mod:`fivesafes.imaging.spark_index`) keeps its tables in ``spark_folder`` and its per-partition
header stores in a folder beside the header store (``imaging-headers.spark/``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fivesafes.settings import config_base_dir, resolve_path


class ImagingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    header_store: Path = Field(Path("imaging-headers.sqlite"), validate_default=True)
    index_file: Path = Field(Path("imaging-index.duckdb"), validate_default=True)
    spark_folder: Path = Field(Path("imaging-spark"), validate_default=True)
    rules_file: Path | None = None
    workers: int = Field(default=2, ge=1, le=256)
    batch_files: int = Field(default=1000, ge=1, le=1_000_000)
    memory_limit: str = Field(
        default="1GB", pattern=r"^\d{1,6}(\.\d{1,3})?\s?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"
    )
    extracts: Path = Field(Path("extracts"), validate_default=True)
    """The root of the node's imaging extracts (``fivesafes.extracts.folders``): inside the
    TRE, where each project's workspace sees its released extracts."""
    rejectors_file: Path | None = None

    @field_validator(
        "header_store",
        "index_file",
        "spark_folder",
        "rules_file",
        "extracts",
        "rejectors_file",
        mode="after",
    )
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, config_base_dir(info))

    @model_validator(mode="after")
    def _apart(self) -> ImagingSettings:
        """The header store, the index file and the Spark folder are three places."""
        places = [self.header_store.resolve(), self.index_file.resolve()]
        if places[0] == places[1]:
            raise ValueError("imaging.index_file must be a file of its own, not the header store")
        folder = self.spark_folder.resolve()
        if any(place == folder or folder in place.parents for place in places):
            raise ValueError(
                "imaging.spark_folder must be a folder of its own, holding neither the header "
                "store nor the index file"
            )
        return self

    @property
    def spark_headers(self) -> Path:
        """The Spark job's restricted header stores (one per partition): a folder beside the
        header store, named after it (``imaging-headers.spark``)."""
        return self.header_store.with_name(self.header_store.stem + ".spark")
