"""A node's part in a project's linkage, wired to its database and its outbound connection to
the hub's linkage unit (``hub/linkage.py``, docs/linkage.md). It never reads identities: the
operator's command (``fivesafes node linkage push``) makes the tokens and the hardened
Bloom-filter encodings from the identity store and hands them here with the persons they are
of.

``push`` checks the project (the hub's signed record, its ``linkage = across_nodes`` term, this
node's custodian's approval of that version), gives each record a random reference for this
run, keeps reference -> person in the node's database, and sends the tokens and encodings in
chunks over the node's own signed requests. ``pull`` fetches this node's link ids once every
node has sent and the hub has linked them (waiting while it links), keeps person -> link id
for the project, forgets the references, and tells the hub, which then deletes the mapping.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, insert, select

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.node import setup
from fivesafes.node.accounts import acting
from fivesafes.node.db import AUDIT, LINKAGE, Approval
from fivesafes.node.service import NodeService
from fivesafes.node.transport import HttpHubTransport, HubRejected
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.protocol.linkage import LinkMapping, TokenChunk, TokenRecord, UploadState
from fivesafes.protocol.projects import Linkage

CHUNK_RECORDS = 1000  # ~0.65 MB a request with encodings: under the hub's default of 1 MiB
WAIT_STEP_SECONDS = 1.0  # while the hub is linking, how often the mapping is asked for again


def check_project(service: NodeService, project_id: str) -> None:
    """The project asks for linkage across nodes, and this node approved its current version."""
    record = setup.fetch_project(service, project_id)
    approval = service.read(lambda s: s.get(Approval, project_id))
    if approval is None or approval.state != "approved" or approval.version != record.version:
        raise InvalidRequest("This node has not approved the project's current version.")
    if record.linkage is not Linkage.ACROSS_NODES:
        raise InvalidRequest("The project's terms do not ask for linkage across its nodes.")


def push(
    service: NodeService,
    project_id: str,
    fingerprint: str,
    records: Sequence[tuple[int, dict[str, str], bytes | None]],
    *,
    by: str,
    progress: Callable[[int], None] | None = None,
) -> UploadState:
    """Send ``records`` (person_id, tokens, hardened encoding or None) for the project under
    fresh references."""
    if not records:
        raise InvalidRequest("There is no person to send: the identity store is empty here.")
    run = secrets.token_hex(8)
    refs = {person: secrets.token_hex(8) for person, _, _ in records}
    if len(set(refs.values())) != len(refs):  # 64 random bits each: never in practice
        raise InvalidRequest("Two references came out the same; run it again.")
    R = LINKAGE.refs

    def keep(session: Any) -> None:
        session.execute(delete(R).where(R.c.project_id == project_id))
        session.execute(
            insert(R),
            [
                {"project_id": project_id, "run": run, "ref": ref, "person_id": person}
                for person, ref in refs.items()
            ],
        )

    service.unit(keep)
    transport = service.transport()
    state = None
    try:
        for start in range(0, len(records), CHUNK_RECORDS):
            part = records[start : start + CHUNK_RECORDS]
            chunk = TokenChunk(
                run=run,
                fingerprint=fingerprint,
                final=start + CHUNK_RECORDS >= len(records),
                records=[_record(refs[person], made, encoding) for person, made, encoding in part],
            )
            state = transport.push_linkage_tokens(project_id, chunk)
            if progress is not None:
                progress(len(part))
    finally:
        transport.close()
    assert state is not None
    service.unit(
        lambda s: append_event(
            s,
            AUDIT,
            AuditEventType.LINKAGE_PUSHED,
            by=acting(s, by, service.name).username,
            node=service.name,
            details={"project_id": project_id, "records": len(records)},
        )
    )
    return state


def _record(ref: str, tokens: dict[str, str], encoding: bytes | None) -> TokenRecord:
    text = None if encoding is None else base64.b64encode(encoding).decode("ascii")
    return TokenRecord(ref=ref, tokens=tokens, encoding=text)


def pull(
    service: NodeService,
    project_id: str,
    blinding: Callable[[str], str],
    *,
    by: str,
    wait_seconds: float = 0.0,
    on_wait: Callable[[], None] | None = None,
) -> int:
    """Keep this node's link ids for the project (its persons linked to another node's), each
    with its blinding key (``blinding(link_id)``, made by the operator's command from the
    linkage secret, for linked counts): how many persons. While the hub is still linking, ask
    again every second for up to ``wait_seconds`` (calling ``on_wait`` each time)."""
    transport = service.transport()
    try:
        found = _mapping(transport, project_id, wait_seconds, on_wait)
        R, K = LINKAGE.refs, LINKAGE.links

        def keep(session: Any) -> int:
            person_of = dict(
                session.execute(
                    select(R.c.ref, R.c.person_id).where(
                        R.c.project_id == project_id, R.c.run == found.run
                    )
                ).all()
            )
            if not person_of:
                raise InvalidRequest("This node holds no references of that run: push again.")
            rows = [
                {
                    "project_id": project_id,
                    "person_id": person_of[link.ref],
                    "link_id": link.link_id,
                    "blinding": blinding(link.link_id),
                }
                for link in found.links
                if link.ref in person_of
            ]
            session.execute(delete(K).where(K.c.project_id == project_id))
            if rows:
                session.execute(insert(K), rows)
            session.execute(delete(R).where(R.c.project_id == project_id))
            append_event(
                session,
                AUDIT,
                AuditEventType.LINKAGE_LINKS_KEPT,
                by=acting(session, by, service.name).username,
                node=service.name,
                details={"project_id": project_id, "persons": len(rows)},
            )
            return len(rows)

        kept = service.unit(keep)
        transport.linkage_delivered(project_id, found.run)
    finally:
        transport.close()
    return kept


def _mapping(
    transport: HttpHubTransport,
    project_id: str,
    wait_seconds: float,
    on_wait: Callable[[], None] | None,
) -> LinkMapping:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return transport.linkage_mapping(project_id)
        except HubRejected as exc:
            if exc.hub_code != "linkage_running" or time.monotonic() >= deadline:
                raise
        if on_wait is not None:
            on_wait()
        time.sleep(WAIT_STEP_SECONDS)


def linked(service: NodeService, project_id: str) -> dict[int, str]:
    """The node's persons linked in the project: person_id -> link id."""
    K = LINKAGE.links
    return dict(
        service.read(
            lambda s: s.execute(
                select(K.c.person_id, K.c.link_id).where(K.c.project_id == project_id)
            ).all()
        )
    )
