"""How a node talks to its hub: outbound HTTP(S) only, every request signed with its key.

The agent depends on the :class:`HubTransport` protocol, so it can be tested without a network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fivesafes.protocol.errors import FivesafesError
from fivesafes.protocol.linkage import LinkMapping, TokenChunk, UploadState
from fivesafes.protocol.models import (
    ApprovalReport,
    EnrolRequest,
    EnrolResponse,
    HubInfo,
    Lease,
    SignedProject,
    SignedResult,
    SlideReviewOffer,
    SubmitAck,
)
from fivesafes.protocol.pool import PoolEvent, PoolStatus
from fivesafes.protocol.signing import sign_request
from fivesafes.protocol.tls import verify_context


class HubUnreachable(FivesafesError):
    code = "hub_unreachable"
    status = 503


class HubRejected(FivesafesError):
    """The hub answered with an error; ``code`` is the hub's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.hub_code = code


class HubTransport(Protocol):
    def next_run(self, wait: float) -> Lease | None: ...
    def submit(self, result: SignedResult) -> SubmitAck: ...
    def working(self, run_id: str) -> None: ...
    def get_project(self, project_id: str) -> SignedProject: ...
    def report_approval(self, report: ApprovalReport) -> None: ...


def hub_info(hub_url: str, ca_file: Path | None = None) -> HubInfo:
    with httpx.Client(base_url=hub_url, verify=verify_context(ca_file), timeout=10) as client:
        return HubInfo.model_validate(_checked(_send(client, "GET", "/api/v1/hub")))


def enrol(hub_url: str, request: EnrolRequest, ca_file: Path | None = None) -> EnrolResponse:
    with httpx.Client(base_url=hub_url, verify=verify_context(ca_file), timeout=10) as client:
        body = request.model_dump_json().encode()
        response = _send(
            client,
            "POST",
            "/api/v1/enrol",
            content=body,
            headers={"content-type": "application/json"},
        )
        return EnrolResponse.model_validate(_checked(response))


class HttpHubTransport:
    """Signed requests to the hub over one pooled HTTP client."""

    def __init__(
        self, hub_url: str, node_name: str, key: Ed25519PrivateKey, ca_file: Path | None = None
    ) -> None:
        self._client = httpx.Client(
            base_url=hub_url, verify=verify_context(ca_file), timeout=httpx.Timeout(10.0)
        )
        self._node_name = node_name
        self._key = key

    def close(self) -> None:
        self._client.close()

    def _signed(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        timeout: float | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        headers = sign_request(self._node_name, self._key, method, path, body)
        if body:
            headers["content-type"] = content_type
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        return _send(self._client, method, path, content=body or None, headers=headers, **extra)

    def next_run(self, wait: float) -> Lease | None:
        response = self._signed("GET", f"/api/v1/node/runs/next?wait={wait:g}", timeout=wait + 15)
        if response.status_code == 204:
            return None
        return Lease.model_validate(_checked(response))

    def submit(self, result: SignedResult) -> SubmitAck:
        run_id = result.payload["run_id"]
        body = result.model_dump_json().encode()
        return SubmitAck.model_validate(
            _checked(self._signed("POST", f"/api/v1/node/runs/{run_id}/result", body))
        )

    def working(self, run_id: str) -> None:
        """Tell the hub this node is still running ``run_id`` (extends its lease)."""
        _checked(self._signed("POST", f"/api/v1/node/runs/{run_id}/working"))

    def get_project(self, project_id: str) -> SignedProject:
        return SignedProject.model_validate(
            _checked(self._signed("GET", f"/api/v1/node/projects/{project_id}"))
        )

    def list_projects(self) -> list[SignedProject]:
        """Every project that asks for this node, as the hub signed them."""
        found = _checked(self._signed("GET", "/api/v1/node/projects"))
        return [SignedProject.model_validate(item) for item in found]

    def report_approval(self, report: ApprovalReport) -> None:
        _checked(self._signed("POST", "/api/v1/node/approvals", report.model_dump_json().encode()))

    # ---- the review store: released slides pushed to the hub (ADR 0029) ---------------------

    def list_studies(self) -> list[dict[str, Any]]:
        """The review studies this node takes part in (as the hub says: the node checks)."""
        found = _checked(self._signed("GET", "/api/v1/node/studies"))
        return [dict(s) for s in found] if isinstance(found, list) else []

    def approve_study(
        self,
        study_id: str,
        digest: str,
        custodian: str,
        facts: dict[str, dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        sent = {"digest": digest, "custodian": custodian, "facts": facts or {}}
        body = json.dumps(sent).encode()
        found = _checked(self._signed("POST", f"/api/v1/node/studies/{study_id}/approval", body))
        return dict(found)

    def offer_slide(self, offer: SlideReviewOffer) -> tuple[int, int]:
        """Offer a released slide's pack: the bytes the hub has of it, and its chunk size."""
        body = offer.model_dump_json().encode()
        found = _checked(self._signed("POST", "/api/v1/node/slide-reviews", body))
        return int(found["received"]), int(found["chunk_bytes"])

    def send_slide_chunk(self, review_id: str, offset: int, data: bytes) -> int:
        path = f"/api/v1/node/slide-reviews/{review_id}/data?offset={offset}"
        found = _checked(self._signed("PUT", path, data, content_type="application/octet-stream"))
        return int(found["received"])

    def finish_slide(self, review_id: str) -> None:
        _checked(self._signed("POST", f"/api/v1/node/slide-reviews/{review_id}/finish",
                              timeout=120))  # fmt: skip

    # ---- linkage: tokens and encodings pushed to the hub's linkage unit, link ids back ------

    def push_linkage_tokens(self, project_id: str, chunk: TokenChunk) -> UploadState:
        body = chunk.model_dump_json().encode()
        path = f"/api/v1/node/linkage/{project_id}/tokens"
        return UploadState.model_validate(_checked(self._signed("POST", path, body, timeout=300)))

    def linkage_mapping(self, project_id: str) -> LinkMapping:
        path = f"/api/v1/node/linkage/{project_id}/mapping"
        return LinkMapping.model_validate(_checked(self._signed("GET", path, timeout=120)))

    def linkage_delivered(self, project_id: str, run: str) -> None:
        body = json.dumps({"run": run}).encode()
        _checked(self._signed("POST", f"/api/v1/node/linkage/{project_id}/delivered", body))

    # ---- pools: the terms fetched, what a node (or the pool) did told to the hub -----------

    def pool_status(self, pool_id: str) -> PoolStatus:
        path = f"/api/v1/node/pools/{pool_id}"
        return PoolStatus.model_validate(_checked(self._signed("GET", path)))

    def pool_event(self, pool_id: str, event: PoolEvent) -> PoolStatus:
        body = event.model_dump_json().encode()
        path = f"/api/v1/node/pools/{pool_id}/events"
        return PoolStatus.model_validate(_checked(self._signed("POST", path, body)))

    def delete_slide(self, review_id: str, reason: str) -> None:
        body = json.dumps({"reason": reason}).encode()
        _checked(self._signed("POST", f"/api/v1/node/slide-reviews/{review_id}/delete", body))


def _send(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise HubUnreachable(f"Cannot reach the hub: {type(exc).__name__}.") from exc


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "http_error", f"The hub answered HTTP {response.status_code}."
        raise HubRejected(response.status_code, code, message)
    return response.json() if response.content else None
