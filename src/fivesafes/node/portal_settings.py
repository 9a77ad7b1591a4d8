"""``[portal]`` in ``node.toml``: where the node's portal listens, and the rule that keeps it
inside the TRE.

The portal is a process of its own (``fivesafes node portal``), never the agent: the agent
never listens (pull-only nodes). It listens on loopback by default. A TRE-internal address
(private, link-local or unique-local) is accepted only when the configuration file names it in
``[portal] host``, not from a command-line flag alone; a public address, or every address
(``0.0.0.0``, ``::``), only with ``allow_public_bind = true``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fivesafes.protocol.errors import ConfigError
from fivesafes.settings import config_base_dir, resolve_path

DEFAULT_PORT = 8710


class PortalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    allow_public_bind: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @field_validator("tls_cert", "tls_key", mode="after")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, config_base_dir(info))

    @model_validator(mode="after")
    def _checked(self) -> PortalSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        check_bind(self.host, configured=self.host, allow_public_bind=self.allow_public_bind)
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if host == "localhost":
        return ipaddress.ip_address("127.0.0.1")
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ConfigError(
            f"The portal's host must be an IP address or localhost, not {host!r}."
        ) from None


def check_bind(host: str, *, configured: str, allow_public_bind: bool) -> None:
    """Refuse to listen where the portal should not be reachable: a loopback address is
    always fine; a TRE-internal one only if ``configured`` (``[portal] host``) names it; a
    public one or all addresses only with ``allow_public_bind``."""
    address = _address(host)
    if address.is_loopback:
        return
    if address.is_unspecified or address.is_global or address.is_multicast:
        if allow_public_bind:
            return
        raise ConfigError(
            f"The node portal will not listen on {host}: it is reachable from outside the "
            "TRE. Use a loopback or TRE-internal address, or set [portal] "
            "allow_public_bind = true if a firewall keeps it inside."
        )
    if host == configured or allow_public_bind:
        return
    raise ConfigError(
        f"The node portal listens on {host} only if node.toml names it: set [portal] "
        f'host = "{host}".'
    )
