"""Serving the hub with uvicorn, over TLS when the config has a certificate."""

from __future__ import annotations

import uvicorn

from fivesafes.hub.api.app import create_app
from fivesafes.hub.config import HubConfig
from fivesafes.hub.service import HubService


def serve(config: HubConfig) -> None:
    app = create_app(HubService(config))
    settings = config.hub
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if config.tls else None,
        ssl_keyfile=str(settings.tls_key) if config.tls else None,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
