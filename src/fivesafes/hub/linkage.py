"""The hub as the linkage unit (issue 18, docs/linkage.md, ADR 0030).

For a project whose terms ask for linkage across its nodes (``linkage = across_nodes``),
approved by each node's custodian, each node pushes its records' tokens and hardened
Bloom-filter encodings, each record under a random reference it chose for this run (never its
person id), in chunks. They wait in a file of the linkage store (``[hub] linkage_store``), one
per node and project. Once every node of the project has sent a complete upload under the same
key fingerprint, the hub matches them (``fivesafes.linkage.match.match_records``, each pair of
nodes: tokens first, then the encodings of the records tokens left unlinked, at the Dice
threshold of ``linkage.encodings``; a person found at several nodes is one cluster, and a
cluster holding two records of one node is ambiguous and linked to nothing), gives each
cluster a random link id (``lk_`` and 16 hex digits, new in every run), writes for each node
only its own references' link ids, and deletes every file of tokens and encodings. The hub
keeps counts: records per node, persons linked per pair of nodes (and how many of those by
encodings), link ids made (``linkage_results``). A node fetches its mapping and confirms it;
the mapping file is then deleted. Uploads whose fingerprints differ are refused at the last
upload, and the tokens and encodings deleted: the nodes hold different secrets (or versions
of it).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import shutil
import sqlite3
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import AUDIT, LINKAGE, Node, Project, ProjectNode
from fivesafes.hub.projects import node_names
from fivesafes.linkage.match import match_records
from fivesafes.protocol.errors import Conflict, InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.linkage import LinkMapping, TokenChunk, UploadState
from fivesafes.protocol.projects import Linkage
from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.profiles import Profile

U = LINKAGE.uploads.c
R = LINKAGE.results.c
DIFFERENT_KEYS = (
    "The nodes' keys differ (their fingerprints are not the same): they hold different linkage "
    "secrets. Nothing was linked, and every upload was dropped: run the key ceremony again."
)


def _folder(root: Path, project_id: str) -> Path:
    return root / project_id


def _tokens_file(root: Path, project_id: str, node: str) -> Path:
    """The node's tokens and encodings (tables ``tokens`` and ``encodings``)."""
    return _folder(root, project_id) / f"{node}.tokens"


def _links_file(root: Path, project_id: str, node: str) -> Path:
    return _folder(root, project_id) / f"{node}.links.json"


def _project(session: Session, node: Node, project_id: str, now: datetime) -> Project:
    link = session.get(ProjectNode, (project_id, node.id))
    project = session.get(Project, project_id)
    if link is None or project is None:
        raise NotFoundOrNoPermission("project")
    if project.linkage != Linkage.ACROSS_NODES:
        raise InvalidRequest("The project's terms do not ask for linkage across its nodes.")
    if link.approval != "approved" or link.approved_version != project.version:
        raise InvalidRequest("The hub has no approval of this project's version from this node.")
    if project.end_date < now.date():
        raise InvalidRequest("The project has ended: it links nothing more.")
    return project


def _append(path: Path, chunk: TokenChunk) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS tokens (ref TEXT, kind TEXT, token TEXT)")
        con.execute("CREATE TABLE IF NOT EXISTS encodings (ref TEXT, bits BLOB)")
        con.executemany(
            "INSERT INTO tokens VALUES (?, ?, ?)",
            ((r.ref, kind, token) for r in chunk.records for kind, token in r.tokens.items()),
        )
        encoded = [(r.ref, r.encoding) for r in chunk.records if r.encoding is not None]
        con.executemany(
            "INSERT INTO encodings VALUES (?, ?)",
            ((ref, base64.b64decode(text, validate=True)) for ref, text in encoded),
        )
        con.commit()
    finally:
        con.close()


Records = tuple[dict[str, dict[str, str]], dict[str, bytes]]  # ref -> tokens; ref -> encoding


def _read(path: Path) -> Records:
    found: dict[str, dict[str, str]] = defaultdict(dict)
    con = sqlite3.connect(path)
    try:
        for ref, kind, token in con.execute("SELECT ref, kind, token FROM tokens"):
            found[ref][kind] = token
        encodings = dict(con.execute("SELECT ref, bits FROM encodings"))
    finally:
        con.close()
    return dict(found), encodings


def receive(
    session: Session, root: Path, node: Node, project_id: str, chunk: TokenChunk, now: datetime
) -> UploadState:
    """Take a chunk of the node's upload; the last one of the last node runs the linkage."""
    _project(session, node, project_id, now)
    # one node's chunk at a time per project (PostgreSQL: a row lock; SQLite writes one at a
    # time anyway), so two last uploads cannot each miss the other and link nothing
    session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
    row = session.execute(
        select(U.run, U.records, U.state).where(U.project_id == project_id, U.node == node.name)
    ).one_or_none()
    path = _tokens_file(root, project_id, node.name)
    records = 0
    if row is None or row.run != chunk.run:  # a new run: whatever came before is dropped
        path.unlink(missing_ok=True)
        _links_file(root, project_id, node.name).unlink(missing_ok=True)
        session.execute(delete(LINKAGE.uploads).where(U.project_id == project_id,
                                                      U.node == node.name))  # fmt: skip
        session.execute(insert(LINKAGE.uploads).values(
            project_id=project_id, node=node.name, run=chunk.run, fingerprint=chunk.fingerprint,
            records=0, state="receiving", updated_at=now))  # fmt: skip
    elif row.state != "receiving":
        raise Conflict("This run's upload is complete: start another run to send again.")
    else:
        records = row.records
    refs = [r.ref for r in chunk.records]
    if len(set(refs)) != len(refs):
        raise InvalidRequest("A reference appears twice in the chunk.")
    _append(path, chunk)
    records += len(chunk.records)
    state = "complete" if chunk.final else "receiving"
    session.execute(update(LINKAGE.uploads).where(U.project_id == project_id, U.node == node.name)
                    .values(records=records, state=state, fingerprint=chunk.fingerprint,
                            updated_at=now))  # fmt: skip
    if chunk.final:
        append_event(session, AUDIT, AuditEventType.LINKAGE_TOKENS_RECEIVED, by=node.name,
                     details={"project_id": project_id, "records": records})  # fmt: skip
    waiting = _waiting(session, project_id)
    if chunk.final and not waiting:
        refused = _link(session, root, project_id, now)
        state = "refused" if refused else "linked"
        return UploadState(run=chunk.run, records=records, state=state, note=refused)
    return UploadState(run=chunk.run, records=records, state=state, waiting_for=waiting)


def _waiting(session: Session, project_id: str) -> list[str]:
    done = set(session.scalars(select(U.node).where(U.project_id == project_id,
                                                    U.state == "complete")))  # fmt: skip
    return [n for n in node_names(session, project_id) if n not in done]


def _link(session: Session, root: Path, project_id: str, now: datetime) -> str:
    """Link the project's complete uploads: "" when done, or why not in words."""
    uploads = session.execute(
        select(U.node, U.fingerprint, U.records).where(U.project_id == project_id)
    ).all()
    if len({u.fingerprint for u in uploads}) != 1:
        shutil.rmtree(_folder(root, project_id), ignore_errors=True)
        session.execute(delete(LINKAGE.uploads).where(U.project_id == project_id))
        return DIFFERENT_KEYS
    records = {u.node: _read(_tokens_file(root, project_id, u.node)) for u in uploads}
    clusters, pairs = _clusters(records)
    for node in records:
        mine = [{"ref": ref, "link_id": link} for (n, ref), link in clusters.items() if n == node]
        path = _links_file(root, project_id, node)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        path.write_text(json.dumps(mine))
        _tokens_file(root, project_id, node).unlink()
    session.execute(update(LINKAGE.uploads).where(U.project_id == project_id)
                    .values(state="linked", updated_at=now))  # fmt: skip
    session.execute(delete(LINKAGE.results).where(R.project_id == project_id))
    summary: dict[str, Any] = {
        "fingerprint": uploads[0].fingerprint,
        "records": {u.node: u.records for u in uploads},
        "pairs": pairs,
        "links": len(set(clusters.values())),
    }
    session.execute(insert(LINKAGE.results).values(project_id=project_id, linked_at=now,
                                                   **summary))  # fmt: skip
    append_event(session, AUDIT, AuditEventType.LINKAGE_RUN_COMPLETED, by="hub",
                 details={"project_id": project_id, "records": summary["records"],
                          "pairs": pairs, "links": summary["links"]})  # fmt: skip
    return ""


def _clusters(records: dict[str, Records]) -> tuple[dict[tuple[str, str], str], list[list[Any]]]:
    """(node, ref) -> link id for every record linked to another node's, and per pair of
    nodes the persons linked, and of those how many by encodings ([a, b, linked, by
    encodings]). Records linked across pairs form one cluster (union-find); a cluster with two
    records of one node is ambiguous and gets no link id."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root_of(x: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs: list[list[Any]] = []
    for a, b in itertools.combinations(sorted(records), 2):
        (tokens_a, encodings_a), (tokens_b, encodings_b) = records[a], records[b]
        by_tokens, by_encodings = match_records(tokens_a, tokens_b, encodings_a, encodings_b)
        for left, right in by_tokens + by_encodings:
            parent[root_of((a, str(left)))] = root_of((b, str(right)))
        pairs.append([a, b, len(by_tokens) + len(by_encodings), len(by_encodings)])
    members: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for record in list(parent):
        members[root_of(record)].append(record)
    links: dict[tuple[str, str], str] = {}
    for group in members.values():
        nodes = [n for n, _ in group]
        if len(group) < 2 or len(set(nodes)) != len(nodes):
            continue
        link = f"lk_{secrets.token_hex(8)}"
        links |= {record: link for record in group}
    return links, pairs


def mapping(
    session: Session, root: Path, node: Node, project_id: str, now: datetime
) -> LinkMapping:
    """The node's own references' link ids, once the project is linked."""
    _project(session, node, project_id, now)
    row = session.execute(
        select(U.run, U.state).where(U.project_id == project_id, U.node == node.name)
    ).one_or_none()
    if row is None or row.state not in ("linked",):
        state = "no upload" if row is None else row.state
        waiting = ", ".join(_waiting(session, project_id)) or "nothing"
        raise Conflict(f"This node's upload is not linked yet ({state}); waiting for: {waiting}.")
    links = json.loads(_links_file(root, project_id, node.name).read_text())
    return LinkMapping(run=row.run, links=links)


def delivered(session: Session, root: Path, node: Node, project_id: str, run: str,
              now: datetime) -> None:  # fmt: skip
    """The node has kept its mapping: the hub deletes it."""
    _project(session, node, project_id, now)
    row = session.execute(
        select(U.run, U.state).where(U.project_id == project_id, U.node == node.name)
    ).one_or_none()
    if row is None or row.run != run or row.state != "linked":
        raise Conflict("There is no linked upload of that run from this node.")
    _links_file(root, project_id, node.name).unlink(missing_ok=True)
    session.execute(update(LINKAGE.uploads).where(U.project_id == project_id, U.node == node.name)
                    .values(state="delivered", updated_at=now))  # fmt: skip
    append_event(session, AUDIT, AuditEventType.LINKAGE_MAPPING_DELIVERED, by=node.name,
                 details={"project_id": project_id})  # fmt: skip


def result(session: Session, project_id: str) -> dict[str, Any] | None:
    """The project's last linkage, counts only (the researcher's view gates them)."""
    row = session.execute(
        select(R.linked_at, R.records, R.pairs, R.links).where(R.project_id == project_id)
    ).one_or_none()
    if row is None:
        return None
    return {"linked_at": row.linked_at, "records": row.records, "pairs": row.pairs,
            "links": row.links}  # fmt: skip


def uploads(session: Session, project_id: str) -> list[dict[str, Any]]:
    return [
        {"node": r.node, "state": r.state, "records": r.records, "updated_at": r.updated_at}
        for r in session.execute(
            select(U.node, U.state, U.records, U.updated_at).where(U.project_id == project_id)
        )
    ]


def gated_view(session: Session, project: Project, profile: Profile) -> dict[str, Any]:
    """How the project's linkage stands, for its members: each node's upload, and once linked,
    the persons linked per pair of nodes, and how many of them by encodings, each through the
    hub's gate (below its threshold: not shown; otherwise rounded to its base)."""
    shown: dict[str, Any] = {"project_id": project.id, "uploads": uploads(session, project.id)}
    if project.linkage != Linkage.ACROSS_NODES:
        return shown | {"state": "not asked", "uploads": [],
                        "note": "The project's terms do not ask for linkage."}  # fmt: skip
    found = result(session, project.id)
    if found is None:
        return shown | {"state": "waiting"}

    def gate(n: int) -> tuple[int | None, str]:
        if n < profile.threshold:
            return None, f"fewer than {profile.threshold}"
        value = round_half_up(n, profile.rounding_base)
        return value, str(value)

    pairs = []
    for a, b, n, *by_encodings in found["pairs"]:  # a linkage before encodings: no fourth
        value, text = gate(n)
        pair = {"nodes": (a, b), "linked": value, "shown": text}
        if by_encodings:
            pair["by_encodings"], pair["shown_by_encodings"] = gate(by_encodings[0])
        pairs.append(pair)
    return shown | {"state": "linked", "linked_at": found["linked_at"], "pairs": pairs}
