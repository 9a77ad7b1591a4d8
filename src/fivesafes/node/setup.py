"""Creating a node's folder, enrolling it with a hub, and a custodian's approval round-trip."""

from __future__ import annotations

from pathlib import Path

from fivesafes.governance.accounts.secret_box import create_key_file
from fivesafes.node import custodian
from fivesafes.node.accounts import acting
from fivesafes.node.config import NodeConfig
from fivesafes.node.db import Approval
from fivesafes.node.service import NodeService
from fivesafes.node.transport import enrol as enrol_request
from fivesafes.node.transport import hub_info
from fivesafes.protocol.errors import BadSignature, InvalidRequest
from fivesafes.protocol.models import ApprovalReport, EnrolRequest, ProjectRecord
from fivesafes.protocol.signing import generate_key, public_key_text, save_private_key
from fivesafes.sdc.gate import gate_table
from fivesafes.settings import create_config, load_config


def init_node(
    directory: Path,
    *,
    name: str,
    hub_url: str,
    data: dict[str, object],
    database_url: str = "sqlite:///node.db",
    profile: str = "default",
    threshold: int | None = None,
    rounding_base: int | None = None,
    allow_insecure_http: bool = False,
    ca_file: Path | None = None,
) -> NodeConfig:
    """Write ``node.toml`` and ``node.key`` into ``directory``."""
    node: dict[str, object] = {
        "name": name,
        "hub_url": hub_url,
        "key_file": "node.key",
        "database_url": database_url,
        "allow_insecure_http": allow_insecure_http,
    }
    if ca_file is not None:
        node["ca_file"] = str(ca_file.resolve())
    document = {
        "node": node,
        "data": data,
        "gate": gate_table(profile, threshold, rounding_base),
    }
    config = create_config(directory / "node.toml", document, NodeConfig)
    save_private_key(generate_key(), config.node.key_file)
    if not config.accounts.secret_key_file.exists():
        create_key_file(config.accounts.secret_key_file)  # TOTP secrets at rest (ADR 0016)
    return config


def enrol(service: NodeService, token: str, expect_fingerprint: str | None = None) -> str:
    """Exchange ``token`` for a registration and pin the hub's key; return its fingerprint."""
    settings = service.config.node
    info = hub_info(settings.hub_url, settings.ca_file)
    if expect_fingerprint and info.fingerprint != expect_fingerprint.strip():
        raise BadSignature(
            f"The hub's key fingerprint is {info.fingerprint}, not the expected one."
        )
    request = EnrolRequest(
        token=token, node_name=service.name, public_key=public_key_text(service.key)
    )
    response = enrol_request(settings.hub_url, request, settings.ca_file)
    if response.hub_public_key != info.public_key:
        raise BadSignature("The hub changed its key during enrolment; not trusting it.")
    service.unit(
        lambda s: custodian.trust_hub(
            s,
            node_name=service.name,
            hub_url=settings.hub_url,
            hub_name=response.hub_name,
            hub_public_key=response.hub_public_key,
            by="node-operator",
        )
    )
    return info.fingerprint


def fetch_project(service: NodeService, project_id: str) -> ProjectRecord:
    """The hub's signed record of a project, verified against the pinned hub key."""
    transport = service.transport()
    try:
        signed = transport.get_project(project_id)
    finally:
        transport.close()
    return custodian.verified_project(signed, service.registration())


def approve(
    service: NodeService,
    project_id: str,
    *,
    by: str,
    expect_version: int | None = None,
    analyses: list[str] | None = None,
    outputs_to_airlock: bool = False,
) -> Approval:
    """Record the custodian ``by``'s approval of the project's current version; tell the hub.

    With ``expect_version``, refuse if the project changed since the custodian reviewed it.
    ``analyses`` narrows what runs here; ``outputs_to_airlock`` holds every output for an
    output checker.
    """
    registration = service.registration()
    transport = service.transport()
    try:
        signed = transport.get_project(project_id)
        record = custodian.verified_project(signed, registration)
        if expect_version is not None and record.version != expect_version:
            raise InvalidRequest("The project changed while you reviewed it; review it again.")
        approval = service.unit(
            lambda s: custodian.approve_project(
                s,
                signed,
                registration,
                by=acting(s, by, service.name),
                analyses=analyses,
                outputs_to_airlock=outputs_to_airlock,
            )
        )
        transport.report_approval(
            ApprovalReport(project_id=project_id, version=approval.version, decision="approved")
        )
    finally:
        transport.close()
    return approval


def reject(
    service: NodeService,
    project_id: str,
    *,
    by: str,
    reason: str,
    expect_version: int | None = None,
) -> Approval:
    """Record the custodian ``by``'s rejection of the project's current version, with the
    reason; tell the hub (the reason is shown to the project's members)."""
    registration = service.registration()
    transport = service.transport()
    try:
        signed = transport.get_project(project_id)
        record = custodian.verified_project(signed, registration)
        if expect_version is not None and record.version != expect_version:
            raise InvalidRequest("The project changed while you reviewed it; review it again.")
        approval = service.unit(
            lambda s: custodian.reject_project(
                s, signed, registration, by=acting(s, by, service.name), reason=reason
            )
        )
        transport.report_approval(
            ApprovalReport(
                project_id=project_id,
                version=approval.version,
                decision="rejected",
                reason=approval.reason,
            )
        )
    finally:
        transport.close()
    return approval


def revoke(service: NodeService, project_id: str, *, by: str) -> Approval:
    approval = service.unit(
        lambda s: custodian.revoke_project(
            s, project_id, by=acting(s, by, service.name), node=service.name
        )
    )
    transport = service.transport()
    try:
        transport.report_approval(
            ApprovalReport(project_id=project_id, version=approval.version, decision="revoked")
        )
    finally:
        transport.close()
    return approval


def open_node(config_path: Path) -> NodeService:
    service = NodeService(load_config(config_path, NodeConfig))
    service.start()
    return service
