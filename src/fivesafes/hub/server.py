"""Serving the hub with uvicorn, over TLS when the config has a certificate."""

from __future__ import annotations

from types import FrameType

import uvicorn

from fivesafes.hub.app import create_app
from fivesafes.hub.config import HubConfig
from fivesafes.hub.service import HubService


class _Server(uvicorn.Server):
    """Ends long-polls at once on shutdown, so stopping never waits for a poll to time out."""

    def __init__(self, config: uvicorn.Config, service: HubService) -> None:
        super().__init__(config)
        self._service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._service.notifier.shutdown()
        super().handle_exit(sig, frame)


def serve(config: HubConfig) -> None:
    service = HubService(config)
    settings = config.hub
    server_config = uvicorn.Config(
        create_app(service),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if config.tls else None,
        ssl_keyfile=str(settings.tls_key) if config.tls else None,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    _Server(server_config, service).run()
