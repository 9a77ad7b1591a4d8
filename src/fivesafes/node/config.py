"""The node's configuration (``node.toml``), read once at start-up.

The disclosure-control profile lives here and only here: nothing in a task can loosen it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fivesafes.data.source import DuckDBSource, PostgresSource, SparkSource, parse_data_source
from fivesafes.governance.accounts.settings import AccountSettings, with_accounts_table
from fivesafes.imaging.settings import ImagingSettings
from fivesafes.linkage.settings import LinkageSettings
from fivesafes.node.portal_settings import PortalSettings
from fivesafes.pool.settings import PoolSettings
from fivesafes.sdc.gate import GateSettings
from fivesafes.sdc.profiles import Profile
from fivesafes.settings import config_base_dir, resolve_path, resolve_sqlite_url


class NodeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    hub_url: str
    key_file: Path = Path("node.key")
    database_url: str = "sqlite:///node.db"
    allow_insecure_http: bool = False
    ca_file: Path | None = None
    poll_wait_seconds: int = Field(default=20, ge=1, le=120)
    retry_max_seconds: float = Field(default=15.0, gt=0, le=600)
    # a run's limits (fivesafes.node.worker): past its deadline a run is interrupted and ends
    # resource_limit; a task that expires sooner tightens the deadline
    run_limit_seconds: float = Field(default=300.0, ge=1, le=86_400)
    run_memory_mb: int = Field(default=4096, ge=256, le=4_194_304)
    # audit checkpoints (fivesafes.audit.checkpoints)
    audit_checkpoint_events: int = Field(default=1000, ge=1, le=10_000_000)
    audit_checkpoint_seconds: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    audit_witness_file: Path | None = Field(Path("audit-checkpoints.jsonl"), validate_default=True)
    # the patient data account: the key that maps an identifier to its pseudonym
    pseudonym_key_file: Path = Field(Path("pseudonym.key"), validate_default=True)

    @field_validator("audit_witness_file", mode="before")
    @classmethod
    def _no_witness(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(
        "key_file", "ca_file", "audit_witness_file", "pseudonym_key_file", mode="after"
    )
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, config_base_dir(info))

    @field_validator("database_url", mode="after")
    @classmethod
    def _resolve_db(cls, value: str, info: ValidationInfo) -> str:
        return resolve_sqlite_url(value, config_base_dir(info))

    @model_validator(mode="after")
    def _transport_is_safe(self) -> NodeSettings:
        check_hub_url(self.hub_url, allow_insecure_http=self.allow_insecure_http)
        return self


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node: NodeSettings
    data: DuckDBSource | PostgresSource | SparkSource
    gate: GateSettings = GateSettings()
    accounts: AccountSettings = AccountSettings()
    portal: PortalSettings = PortalSettings()  # the node portal (fivesafes node portal)
    imaging: ImagingSettings = ImagingSettings()  # the imaging index (fivesafes node imaging)
    linkage: LinkageSettings = LinkageSettings()  # identities and the secret (node identities)
    pool: PoolSettings = PoolSettings()  # when this node is a pool (fivesafes pool serve)

    @model_validator(mode="before")
    @classmethod
    def _accounts(cls, data: Any) -> Any:
        return with_accounts_table(data)

    @model_validator(mode="before")
    @classmethod
    def _imaging(cls, data: Any) -> Any:
        """An absent ``[imaging]``, ``[linkage]`` or ``[pool]`` is validated too, so that its
        paths are resolved against the config's folder (a class default would leave them
        relative to wherever it runs)."""
        if isinstance(data, dict):
            return {"imaging": {}, "linkage": {}, "pool": {}, **data}
        return data

    @model_validator(mode="after")
    def _headers_apart(self) -> NodeConfig:
        data = getattr(self.data, "path", None)
        if data is not None and Path(data).resolve() == self.imaging.header_store.resolve():
            raise ValueError("imaging.header_store must be a file of its own, not the data file")
        linkage = {self.linkage.identity_store.resolve(), self.linkage.secret_file.resolve()}
        if len(linkage) < 2 or (data is not None and Path(data).resolve() in linkage):
            raise ValueError("linkage.identity_store and linkage.secret_file must be files of "
                             "their own, not each other nor the data file")  # fmt: skip
        return self

    @property
    def profile(self) -> Profile:
        """The gate's profile: the named preset, tightened by the ``[gate]`` settings."""
        return self.gate.resolve()

    @field_validator("data", mode="before")
    @classmethod
    def _data(cls, value: Any, info: ValidationInfo) -> Any:
        source = (
            value
            if isinstance(value, DuckDBSource | PostgresSource | SparkSource)
            else parse_data_source(value)
        )
        if isinstance(source, DuckDBSource | SparkSource):
            source = source.model_copy(
                update={"path": resolve_path(source.path, config_base_dir(info))}
            )
        return source


def check_hub_url(url: str, *, allow_insecure_http: bool) -> None:
    """Refuse a plain-HTTP hub that is not on loopback, unless the config says so explicitly."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"hub_url must be an http(s) URL, not {url!r}")
    if parts.scheme == "https" or allow_insecure_http or _is_loopback(parts.hostname):
        return
    raise ValueError(
        "hub_url uses plain HTTP to a host that is not loopback; use https, or set "
        "allow_insecure_http = true if a trusted proxy terminates TLS on this machine"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
