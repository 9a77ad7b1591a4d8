"""``[pool]`` in ``pool.toml``: how the pool service listens, and where it keeps what it holds.

    [pool]
    host = "127.0.0.1"          # where the receiver listens (nodes push extracts to it)
    port = 8800
    store = "pool-store"        # received extracts, <pool_id>/<node>.extract (mode 600)
    certificates = "pool-certificates"  # <pool_id>.json: each signed certificate of destruction
    max_extract_bytes = 268435456       # the largest extract taken (256 MiB)
    sweep_seconds = 30          # how often expiry and the hub's word are checked

A pool is a node of the federation (``pool.toml`` is a ``node.toml`` with this table): its data
source (``[data]``, a DuckDB file) is the pooled CDM it merges. Relative paths are resolved
against the folder of ``pool.toml``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from fivesafes.settings import config_base_dir, resolve_path

MIB = 1 << 20


class PoolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", min_length=1, max_length=255)
    port: int = Field(default=8800, ge=1, le=65_535)
    store: Path = Field(Path("pool-store"), validate_default=True)
    certificates: Path = Field(Path("pool-certificates"), validate_default=True)
    max_extract_bytes: int = Field(default=256 * MIB, ge=MIB, le=4096 * MIB)
    sweep_seconds: float = Field(default=30.0, ge=1, le=3600)

    @field_validator("store", "certificates", mode="after")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, config_base_dir(info))
