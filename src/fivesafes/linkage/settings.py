"""``[linkage]`` in ``node.toml``: where the node keeps what linkage must keep apart.

    [linkage]
    identity_store = "identities.sqlite"  # its persons' direct identifiers (mode 600)
    secret_file = "linkage.secret"        # the federation's linkage secret (mode 600)

Relative paths are resolved against the folder of ``node.toml``. Neither may be the node's data
file: nothing that reads the data source can read them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from fivesafes.settings import config_base_dir, resolve_path


class LinkageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identity_store: Path = Field(Path("identities.sqlite"), validate_default=True)
    secret_file: Path = Field(Path("linkage.secret"), validate_default=True)

    @field_validator("identity_store", "secret_file", mode="after")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, config_base_dir(info))
