"""Public routes: no token, no signature. Only what a TRE publishes about itself anyway."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from fivesafes.hub.api.deps import Service
from fivesafes.hub.register import RegisterCache, data_use_register
from fivesafes.hub.service import HubService
from fivesafes.protocol.register import Register
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["public"])


@router.get("/register")
async def register(request: Request, response: Response, service: Service) -> Register:
    """The data use register: every project a node approved, with its lay summary, purpose,
    organisations, nodes, dates and number of released outputs (``fivesafes.hub.register``)."""
    built = await asyncio.to_thread(cached_register, request, service)
    response.headers["Cache-Control"] = (
        f"public, max-age={int(service.config.hub.register_cache_seconds)}"
    )
    return built


def cached_register(request: Request, service: HubService) -> Register:
    """The register, rebuilt at most every ``register_cache_seconds`` (the API's and the
    portal's page share it)."""
    ttl = service.config.hub.register_cache_seconds
    cache: RegisterCache | None = getattr(request.app.state, "register_cache", None)
    if cache is None:
        cache = request.app.state.register_cache = RegisterCache(ttl)
    name = service.config.hub.name
    built: Register = cache.get(
        lambda: service.read(lambda s: data_use_register(s, name, utcnow()))
    )
    return built
