"""``[imaging]`` in ``node.toml``: where the imaging index keeps what it must keep apart, and
how it reads.

    [imaging]
    header_store = "imaging-headers.sqlite"  # the restricted header store (mode 600)
    rules_file = "imaging-rules.toml"        # default: the rules shipped with fivesafes
    workers = 2                              # processes reading headers
    batch_files = 1000                       # files per written batch (what a crash can lose)
    memory_limit = "1GB"                     # DuckDB's, for the run's working tables

Relative paths are resolved against the folder of ``node.toml``. The header store must not be
the node's data file: it is kept apart so that nothing that reads the data source can read it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from fivesafes.settings import config_base_dir, resolve_path


class ImagingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    header_store: Path = Field(Path("imaging-headers.sqlite"), validate_default=True)
    rules_file: Path | None = None
    workers: int = Field(default=2, ge=1, le=256)
    batch_files: int = Field(default=1000, ge=1, le=1_000_000)
    memory_limit: str = Field(
        default="1GB", pattern=r"^\d{1,6}(\.\d{1,3})?\s?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"
    )

    @field_validator("header_store", "rules_file", mode="after")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, config_base_dir(info))
