"""Public routes: no token, no signature. Only what a TRE publishes about itself anyway."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from fivesafes.hub.api.deps import Service
from fivesafes.hub.register import RegisterCache, data_use_register
from fivesafes.protocol.register import Register
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["public"])


@router.get("/register")
async def register(request: Request, response: Response, service: Service) -> Register:
    """The data use register: every project a node approved, with its lay summary, purpose,
    organisations, nodes, dates and number of released outputs (``fivesafes.hub.register``)."""
    ttl = service.config.hub.register_cache_seconds
    cache: RegisterCache | None = getattr(request.app.state, "register_cache", None)
    if cache is None:
        cache = request.app.state.register_cache = RegisterCache(ttl)
    name = service.config.hub.name
    built = await asyncio.to_thread(
        cache.get, lambda: service.read(lambda s: data_use_register(s, name, utcnow()))
    )
    response.headers["Cache-Control"] = f"public, max-age={int(ttl)}"
    return built
