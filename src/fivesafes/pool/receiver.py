"""The pool's HTTP receiver: where source nodes push their extracts (nodes call out; the pool
listens, and is a service of its own, never a node's data side).

| route (under ``/pool/v1/pools/{pool_id}``) | who | answers |
| --- | --- | --- |
| ``GET .../challenge?nonce=`` (32 hex digits) | anyone | :class:`PoolChallenge` |
| ``POST .../extract`` | a node of the terms, signed | :class:`PoolReceipt` |
| ``POST .../revoke`` | a node of the terms, signed | :class:`SignedCertificate` |
| ``GET`` the pool itself | a node of the terms, signed | :class:`PoolStatus` |

A signed request carries the headers ``sign_request`` makes (``X-Fivesafes-Node``,
``-Timestamp``, ``-Signature``), verified with the node's key in the hub's signed terms and the
hub's bound on clock skew; an extract also carries ``X-Fivesafes-Terms-Digest``, the digest of
the terms its custodian approved. A body is read up to ``[pool] max_extract_bytes`` (a
declared or streamed body over it is refused before it is kept). A pool the hub does not know
for this pool, and a node its terms do not name, are one answer: not found or no permission.

Errors have one boundary here, the platform's JSON shape (``fivesafes.protocol.errors``): a
refusal's code and message in words, a bad field named but never echoed, anything unexpected
``internal_error`` logged by its type only.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fivesafes import __version__
from fivesafes.pool.host import HubWord, hub_word
from fivesafes.pool.service import PoolService
from fivesafes.protocol.errors import (
    FivesafesError,
    InvalidRequest,
    MalformedRequest,
    NotFoundOrNoPermission,
    PayloadTooLarge,
    Unauthenticated,
    error_body,
    kind_for_status,
    public_error,
)
from fivesafes.protocol.pool import PoolChallenge, PoolReceipt, PoolStatus, SignedCertificate
from fivesafes.protocol.signing import (
    NODE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_request,
)
from fivesafes.protocol.validation import problems

log = logging.getLogger("fivesafes.pool.http")

DIGEST_HEADER = "X-Fivesafes-Terms-Digest"
SMALL_BODY = 64 * 1024  # a revocation or a question: no more
PoolId = Annotated[str, Path(pattern=r"^pl_[0-9a-f]{12}$")]
Nonce = Annotated[str, Query(pattern=r"^[0-9a-f]{32}$")]


def create_receiver_app(pool: PoolService) -> FastAPI:
    """The receiver around ``pool``; the caller starts and stops the sweeper."""
    app = FastAPI(
        title="fivesafes pool",
        version=__version__,
        description="A pool's receiver: source nodes push extracts, ask, and revoke.",
        docs_url=None,
        redoc_url=None,
    )
    _install_errors(app)
    limit = pool.host.settings.max_extract_bytes

    @app.get("/api/v1/health")
    async def health() -> dict[str, str]:
        """The pool's receiver answers (nothing about any pool)."""
        return {"status": "ok"}

    @app.get("/pool/v1/pools/{pool_id}/challenge")
    async def challenge(pool_id: PoolId, nonce: Nonce) -> PoolChallenge:
        return await run_in_threadpool(pool.challenge, pool_id, nonce)

    @app.post("/pool/v1/pools/{pool_id}/extract")
    async def extract(pool_id: PoolId, request: Request) -> PoolReceipt:
        body = await _body(request, limit, "The extract")
        word = await run_in_threadpool(hub_word, pool.host, pool_id)
        node = _node(word, request, body)
        approved = request.headers.get(DIGEST_HEADER, "")
        return await run_in_threadpool(pool.intake.receive, word, node, approved, body)

    @app.post("/pool/v1/pools/{pool_id}/revoke")
    async def revoke(pool_id: PoolId, request: Request) -> SignedCertificate:
        body = await _body(request, SMALL_BODY, "The request")
        word = await run_in_threadpool(pool.known, pool_id)
        node = _node(word, request, body)
        return await run_in_threadpool(pool.revoke, word, node)

    @app.get("/pool/v1/pools/{pool_id}")
    async def status(pool_id: PoolId, request: Request) -> PoolStatus:
        body = await _body(request, SMALL_BODY, "The request")
        word = await run_in_threadpool(pool.known, pool_id)
        _node(word, request, body)
        return await run_in_threadpool(pool.state, word)

    return app


async def _body(request: Request, limit: int, what: str) -> bytes:
    """The request's body, refused once it is (declared or read) over ``limit`` bytes."""
    too_large = PayloadTooLarge(f"{what} is larger than this pool takes ({limit:,} bytes).")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise MalformedRequest("The request's Content-Length is not a number.")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _node(word: HubWord, request: Request, body: bytes) -> str:
    """The node of the terms that signed the request; otherwise a refusal."""
    headers = request.headers
    name = headers.get(NODE_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not (name and timestamp and signature):
        raise Unauthenticated("The request is not signed by a node.")
    key = word.terms.node_keys.get(name)
    if key is None or name not in word.terms.variables:
        raise NotFoundOrNoPermission("pool")
    path = request.url.path
    if request.url.query:
        path = f"{path}?{request.url.query}"
    verify_request(key, request.method, path, timestamp, body, signature)
    return name


def _install_errors(app: FastAPI) -> None:
    """The platform's one error shape (as the hub's boundary, ``hub.api.errors``)."""

    @app.exception_handler(FivesafesError)
    async def _ours(_request: Request, exc: FivesafesError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        error = InvalidRequest(details=problems(exc.errors()))
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = kind_for_status(exc.status_code)
        message = "No such route." if exc.status_code == 404 else kind.message
        return JSONResponse(error_body(kind.code, message), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__
        )
        error = public_error(exc)
        return JSONResponse(error.body(), status_code=error.status)


class ReceiverServer:
    """The receiver served by uvicorn in a thread of its own (``start``/``stop``); on
    ``[pool] host`` and ``port``, or on a socket given (a test's, on a free port)."""

    def __init__(self, app: FastAPI, host: str, port: int, sock: socket.socket | None = None):
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._sockets = [sock] if sock is not None else None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": self._sockets}, name="pool-receiver"
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                self.stop()
                break
            time.sleep(0.05)
        if not self._server.started:
            raise RuntimeError("the pool's receiver did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
