"""The hub's configuration (``hub.toml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fivesafes.governance.accounts.settings import AccountSettings, with_accounts_table
from fivesafes.sdc.gate import GateSettings
from fivesafes.sdc.profiles import Profile
from fivesafes.settings import config_base_dir, resolve_path, resolve_sqlite_url


class HubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="hub", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    database_url: str = "sqlite:///hub.db"
    key_file: Path = Path("hub.key")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    lease_seconds: int = Field(default=60, ge=5, le=86_400)
    node_offline_after_seconds: int = Field(default=60, ge=5, le=86_400)
    max_poll_wait_seconds: int = Field(default=25, ge=1, le=120)
    max_request_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    token_lifetime_days: int = Field(default=30, ge=1, le=365)
    sweep_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # audit checkpoints (fivesafes.audit.checkpoints)
    audit_checkpoint_events: int = Field(default=1000, ge=1, le=10_000_000)
    audit_checkpoint_seconds: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    audit_witness_file: Path | None = Field(Path("audit-checkpoints.jsonl"), validate_default=True)
    # the public data use register (GET /api/v1/register) is rebuilt at most this often
    register_cache_seconds: float = Field(default=60.0, ge=0, le=86_400)
    # slides nodes released for review (fivesafes.hub.review): their packs, while they last
    review_store: Path = Field(Path("review-store"), validate_default=True)
    # linkage tokens nodes sent, until their project's linkage run (fivesafes.hub.linkage)
    linkage_store: Path = Field(Path("linkage-store"), validate_default=True)
    # the linkage worker's DuckDB: above this much memory it spills to the store's .spill folder
    linkage_memory_limit: str = Field(
        default="1GB", pattern=r"^[1-9][0-9]{0,5}(MB|GB|TB|MiB|GiB|TiB)$"
    )
    # pools (fivesafes.hub.pools): each pool's node name and the address its nodes push to
    pool_urls: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")],
        Annotated[str, StringConstraints(pattern=r"^https?://[^\s]{1,500}$")],
    ] = Field(default_factory=dict, max_length=100)

    @field_validator("audit_witness_file", mode="before")
    @classmethod
    def _no_witness(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(
        "key_file",
        "tls_cert",
        "tls_key",
        "audit_witness_file",
        "review_store",
        "linkage_store",
        mode="after",
    )
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, config_base_dir(info))

    @field_validator("database_url", mode="after")
    @classmethod
    def _resolve_db(cls, value: str, info: ValidationInfo) -> str:
        return resolve_sqlite_url(value, config_base_dir(info))


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hub: HubSettings = HubSettings()
    gate: GateSettings = GateSettings()
    accounts: AccountSettings = AccountSettings()

    @model_validator(mode="before")
    @classmethod
    def _accounts(cls, data: Any) -> Any:
        return with_accounts_table(data)

    @property
    def profile(self) -> Profile:
        """The gate's profile: the named preset, tightened by the ``[gate]`` settings."""
        return self.gate.resolve()

    @property
    def tls(self) -> bool:
        return self.hub.tls_cert is not None and self.hub.tls_key is not None
