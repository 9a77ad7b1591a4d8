"""Serving the node portal with uvicorn: on the address ``[portal]`` allows, over TLS when it
names a certificate."""

from __future__ import annotations

import uvicorn

from fivesafes.node.config import NodeConfig
from fivesafes.node.portal.app import create_portal_app
from fivesafes.node.portal_settings import check_bind
from fivesafes.node.service import NodeService


def serve(config: NodeConfig, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted; ``host`` and ``port`` override ``[portal]`` (a host that is
    not loopback must be the configured one, and a public one needs ``allow_public_bind``)."""
    settings = config.portal
    host = host or settings.host
    check_bind(host, configured=settings.host, allow_public_bind=settings.allow_public_bind)
    server_config = uvicorn.Config(
        create_portal_app(NodeService(config)),
        host=host,
        port=settings.port if port is None else port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(server_config).run()
