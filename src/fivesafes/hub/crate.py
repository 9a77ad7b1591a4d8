"""A task's record as a Five Safes RO-Crate: the UK TRE interchange format for a piece of work.

``export_crate`` writes a folder (the crate's payload; ADR 0023)::

    ro-crate-metadata.json    RO-Crate 1.1 JSON-LD, following the Five Safes RO-Crate 0.4 profile
    request/task.json         the task payload exactly as the hub signed it, and the signature
    outputs/<node>.json       each node's run: state, reason, the output as released to the
                              researcher after the hub's gate, and the node's result signature
    outputs/combined.json     the hub's gated combination
    signature.json            the hub's Ed25519 signature over the SHA-256 of every file above

Every file is a ``File`` entity of the metadata with its ``sha256`` and ``contentSize``. The
entities follow the profile (``fivesafes.hub.crate_metadata``): the root dataset conforms to
``https://w3id.org/5s-crate/0.4`` and names the project as ``sourceOrganization``; the request
is a ``CreateAction`` by the requesting ``Person``; each node's custodian decision as the node
reported it is a sign-off ``AssessAction``; each node's run is a ``CreateAction`` with its
result, and each disclosure gate's verdict a disclosure-check ``AssessAction``.

Only what the researcher was given leaves the hub: the outputs as the hub's gate passed them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes import __version__
from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.combination import public
from fivesafes.hub.crate_metadata import METADATA, TaskRecord, crate_metadata
from fivesafes.hub.db import AUDIT, Node, Organisation, Project, ProjectNode, Run, Task, User
from fivesafes.protocol.errors import BadSignature, InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.signing import fingerprint, public_key_text, sign, verify

SIGNATURE = "signature.json"


@dataclass(frozen=True)
class CrateFile:
    path: str  # relative to the crate's root, with "/"
    sha256: str
    size: int


@dataclass
class CrateExport:
    root: Path
    task_id: str
    files: list[CrateFile] = field(default_factory=list)


def export_crate(
    session: Session,
    task_id: str,
    out: Path,
    *,
    hub_name: str,
    key: Ed25519PrivateKey,
    by: str,
    now: datetime | None = None,
) -> CrateExport:
    """Write the Five Safes RO-Crate of ``task_id`` into ``out`` (new or empty), and audit the
    export in the caller's transaction."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    record = task_record(session, task_id, hub_name)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidRequest(f"{out} is not an empty folder; choose a new one.")
    export = CrateExport(out, task_id)
    written = {"request/task.json": record.signed_task}
    for run in record.runs:
        written[f"outputs/{run['node']}.json"] = run
    written["outputs/combined.json"] = record.combined
    for path, document in written.items():
        export.files.append(_write(out, path, document))
    statement = {
        "crate": "five-safes-ro-crate",
        "task_id": task_id,
        "hub": hub_name,
        "exported_at": now.isoformat(),
        "files": {f.path: f.sha256 for f in export.files},
    }
    public = public_key_text(key)
    signed = {
        "statement": statement,
        "signature": sign(statement, key),
        "public_key": public,
        "fingerprint": fingerprint(public),
    }
    export.files.append(_write(out, SIGNATURE, signed))
    metadata = crate_metadata(record, export.files, now, __version__)
    _write(out, METADATA, metadata)
    append_event(
        session,
        AUDIT,
        AuditEventType.TASK_RECORD_EXPORTED,
        by=by,
        project_id=record.project["id"],
        task_id=task_id,
        details={"files": len(export.files) + 1, "signed": statement["files"]},
    )
    return export


def _write(root: Path, relative: str, document: Any) -> CrateFile:
    data = (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return CrateFile(relative, hashlib.sha256(data).hexdigest(), len(data))


def task_record(session: Session, task_id: str, hub_name: str) -> TaskRecord:
    """Everything the crate says about a task, read from the hub's database."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFoundOrNoPermission("task")
    project = session.get(Project, task.project_id)
    requester = session.get(User, task.requester_id)
    assert project is not None
    assert requester is not None
    organisations = {o.name: o.display_name for o in session.scalars(select(Organisation))}
    runs = []
    rows = session.execute(
        select(Run, Node).join(Node, Node.id == Run.node_id).where(Run.task_id == task_id)
    )
    for run, node in sorted(rows, key=lambda pair: pair[1].name):
        runs.append(
            {
                "run_id": run.id,
                "node": node.name,
                "node_organisation": organisations.get(node.organisation or ""),
                "state": run.state,
                "reason": run.reason,
                "message": run.message,
                "round": run.round,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "output": public(task.analysis, run.output),
                "node_signature": run.result_signature,
                "node_public_key": node.public_key,
            }
        )
    decisions = []
    links = session.execute(
        select(ProjectNode, Node.name)
        .join(Node, Node.id == ProjectNode.node_id)
        .where(ProjectNode.project_id == project.id)
        .order_by(Node.name)
    )
    for link, name in links:
        decisions.append(
            {
                "node": name,
                "decision": link.approval,
                "version": link.approved_version,
                "reported_at": link.reported_at.isoformat() if link.reported_at else None,
                "reason": getattr(link, "reason", None),
            }
        )
    return TaskRecord(
        hub=hub_name,
        task={
            "id": task.id,
            "analysis": task.analysis,
            "state": task.state,
            "created_at": task.created_at.isoformat(),
            "completed_at": task.completed_at.isoformat() if task.completed_at else None,
            "parameters": task.payload.get("parameters", {}),
            "project_version": task.payload.get("project_version"),
        },
        signed_task={"payload": task.payload, "signature": task.signature},
        project={
            "id": project.id,
            "title": project.title,
            "version": project.version,
            "lay_summary": getattr(project, "lay_summary", "") or None,
            "purpose": getattr(project, "purpose", "") or None,
            "start_date": project.start_date.isoformat(),
            "end_date": project.end_date.isoformat(),
        },
        requester={
            "username": requester.username,
            "name": requester.display_name,
            "organisation": organisations.get(getattr(requester, "organisation", None) or ""),
        },
        decisions=decisions,
        runs=runs,
        combined={
            "task_id": task.id,
            "analysis": task.analysis,
            "state": task.state,
            "completed_at": task.completed_at.isoformat() if task.completed_at else None,
            "combined": task.combined,
        },
    )


def verify_crate(root: Path, hub_public_key: str) -> dict[str, Any]:
    """Check a crate folder: the metadata's files are there with the sizes and SHA-256 it
    says, nothing else is, and the hub's signature covers them. Returns the metadata; raises
    ``BadSignature`` or ``InvalidRequest`` naming the first problem."""
    metadata = json.loads((root / METADATA).read_text())
    graph = {entity["@id"]: entity for entity in metadata["@graph"]}
    files = {i: e for i, e in graph.items() if _types(e) & {"File"}}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {METADATA}
    if set(files) != on_disk:
        raise InvalidRequest(f"files and metadata differ: {sorted(set(files) ^ on_disk)}")
    for path, entity in files.items():
        data = (root / path).read_bytes()
        if hashlib.sha256(data).hexdigest() != entity.get("sha256"):
            raise InvalidRequest(f"{path}: its SHA-256 is not the one the metadata gives")
        if str(len(data)) != entity.get("contentSize"):
            raise InvalidRequest(f"{path}: its size is not the one the metadata gives")
    signed = json.loads((root / SIGNATURE).read_text())
    if signed.get("public_key") != hub_public_key:
        raise BadSignature("The crate is not signed by this hub's key.")
    verify(signed["statement"], signed["signature"], hub_public_key)
    hashes = {p: e["sha256"] for p, e in files.items() if p != SIGNATURE}
    if signed["statement"]["files"] != hashes:
        raise BadSignature("The hub's signature does not cover these files.")
    return dict(metadata)


def _types(entity: dict[str, Any]) -> set[str]:
    kind = entity.get("@type", [])
    return {kind} if isinstance(kind, str) else set(kind)
