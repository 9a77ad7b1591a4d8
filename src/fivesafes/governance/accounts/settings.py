"""The ``[accounts]`` table of ``hub.toml`` and ``node.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from fivesafes.settings import config_base_dir, resolve_path


class AccountSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret_key_file: Path = Field(Path("accounts.key"), validate_default=True)
    require_totp: bool = True
    password_min_length: int = Field(default=12, ge=8, le=128)
    max_failed_logins: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=1440)
    session_hours: int = Field(default=12, ge=1, le=168)
    session_idle_minutes: int = Field(default=30, ge=1, le=1440)
    # the portal's cookies carry Secure (sent over HTTPS only); false for plain http on loopback
    secure_cookies: bool = True

    @field_validator("secret_key_file", mode="after")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, config_base_dir(info))


def with_accounts_table(data: Any) -> Any:
    """A config without ``[accounts]`` gets one with the defaults, read like any other (so the
    key file is found next to the config file, not in the current folder)."""
    if isinstance(data, dict) and "accounts" not in data:
        return {**data, "accounts": {}}
    return data
