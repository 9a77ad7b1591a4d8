"""Creating a hub's folder: its configuration and signing key."""

from __future__ import annotations

from pathlib import Path

from fivesafes.governance.accounts.secret_box import create_key_file
from fivesafes.hub.config import HubConfig
from fivesafes.hub.service import HubService
from fivesafes.protocol.errors import ConfigError
from fivesafes.protocol.signing import generate_key, save_private_key
from fivesafes.sdc.gate import gate_table
from fivesafes.settings import create_config


def init_hub(
    directory: Path,
    *,
    name: str = "hub",
    host: str = "127.0.0.1",
    port: int = 8700,
    database_url: str = "sqlite:///hub.db",
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    profile: str = "default",
    threshold: int | None = None,
    rounding_base: int | None = None,
) -> HubConfig:
    """Write ``hub.toml`` and ``hub.key`` into ``directory`` and create the database."""
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("Give both a TLS certificate and its key, or neither.")
    hub: dict[str, object] = {
        "name": name,
        "host": host,
        "port": port,
        "database_url": database_url,
        "key_file": "hub.key",
    }
    if tls_cert is not None and tls_key is not None:
        hub["tls_cert"] = str(tls_cert.resolve())
        hub["tls_key"] = str(tls_key.resolve())
    document = {"hub": hub, "gate": gate_table(profile, threshold, rounding_base)}
    config = create_config(directory / "hub.toml", document, HubConfig)
    save_private_key(generate_key(), config.hub.key_file)
    if not config.accounts.secret_key_file.exists():
        create_key_file(config.accounts.secret_key_file)  # TOTP secrets at rest (ADR 0016)
    service = HubService(config)
    service.start()  # creates and migrates the database now, not on first request
    service.stop()
    return config
