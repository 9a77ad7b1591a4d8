"""Request dependencies: the service, the person behind a token (an ``Actor``, narrowed by the
token's scope), the node behind a signature."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Header, Request

from fivesafes.governance.people import Actor
from fivesafes.hub.db import Node
from fivesafes.hub.enrolment import check_request_signature
from fivesafes.hub.people import authenticate
from fivesafes.hub.service import HubService
from fivesafes.protocol.errors import Unauthenticated


async def get_service(request: Request) -> HubService:
    """The app's service. A coroutine, though it never waits: FastAPI runs a plain function
    dependency in its thread pool, a hand-over to another thread and back on every request."""
    service: HubService = request.app.state.service
    return service


Service = Annotated[HubService, Depends(get_service)]


async def current_actor(
    service: Service, authorization: Annotated[str | None, Header()] = None
) -> Actor:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("Send an API token as 'Authorization: Bearer <token>'.")
    token = authorization.removeprefix("Bearer ").strip()
    return await asyncio.to_thread(service.read, lambda s: authenticate(s, token))


async def current_node(request: Request, service: Service) -> Node:
    headers = request.headers
    name = headers.get("x-fivesafes-node")
    timestamp = headers.get("x-fivesafes-timestamp")
    signature = headers.get("x-fivesafes-signature")
    if not (name and timestamp and signature):
        raise Unauthenticated("The request is not signed by an enrolled node.")
    body = await request.body()
    path = request.url.path
    if request.url.query:
        path = f"{path}?{request.url.query}"
    node = service.nodes.known(name) or await asyncio.to_thread(service.enrolled_node, name)
    return check_request_signature(
        node, method=request.method, path=path, timestamp=timestamp, body=body, signature=signature
    )


Caller = Annotated[Actor, Depends(current_actor)]
Researcher = Caller  # the name routes used before roles: any account with a token
EnrolledNode = Annotated[Node, Depends(current_node)]
