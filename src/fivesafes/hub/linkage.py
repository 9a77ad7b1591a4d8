"""The hub as the linkage unit (issue 18, docs/linkage.md, ADR 0030).

For a project whose terms ask for linkage across its nodes (``linkage = across_nodes``),
approved by each node's custodian, each node pushes its records' tokens and hardened
Bloom-filter encodings, each record under a random reference it chose for this run (never its
person id), in chunks. Each chunk waits as a Parquet file of the linkage store (``[hub]
linkage_store``: ``<project>/<node>.upload/``, one row per record: its reference, a column per
kind of token, its encoding). Once every node of the project has sent a complete upload under
the same key fingerprint, the uploads are ``linking`` and the request returns: the hub's
linkage worker (:func:`run_pending`, in the background, after a restart too) matches them in
DuckDB (``fivesafes.linkage.match_sql.match_records_sql``, each pair of nodes: tokens first,
then the encodings of the records tokens left unlinked, at the Dice threshold the run's own
strangers choose, ``linkage.calibrate``), spilling to disk beyond ``[hub]
linkage_memory_limit``. A person found at several nodes is one cluster, and a cluster holding
two records of one node is ambiguous and linked to nothing; each cluster gets a random link id
(``lk_`` and 16 hex digits, new in every run). The hub writes for each node only its own
references' link ids, and deletes every file of tokens and encodings. It keeps counts: records
per node, persons linked per pair of nodes (how many of those by encodings, at what threshold),
link ids made (``linkage_results``). A node fetches its mapping (while the hub is linking, it
is told so: ``linkage_running``) and confirms it; the mapping file is then deleted. Uploads
whose fingerprints differ are refused at the last upload, and the tokens and encodings deleted:
the nodes hold different secrets (or versions of it). A run that fails (out of memory, a file
gone) links nothing: its uploads are dropped and marked ``failed``, and the nodes send again."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import secrets
import shutil
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from fivesafes.audit.chain import append_event
from fivesafes.audit.events import AuditEventType
from fivesafes.hub.db import AUDIT, LINKAGE, Node, Project, ProjectNode
from fivesafes.hub.projects import node_names
from fivesafes.linkage.kinds import KINDS
from fivesafes.linkage.match_sql import Matched, Spill, connect, match_records_sql, parquet
from fivesafes.protocol.errors import (
    Conflict,
    FivesafesError,
    InvalidRequest,
    NotFoundOrNoPermission,
)
from fivesafes.protocol.linkage import LinkMapping, TokenChunk, UploadState
from fivesafes.protocol.projects import Linkage
from fivesafes.sdc.counts import round_half_up
from fivesafes.sdc.profiles import Profile

U = LINKAGE.uploads.c
R = LINKAGE.results.c
log = logging.getLogger("fivesafes.hub.linkage")
T = TypeVar("T")
Unit = Callable[[Callable[[Session], T]], T]
FAILED = (
    "The linkage failed at the hub (its operator has the log): nothing was linked, and every "
    "upload was dropped. Send again."
)
DIFFERENT_KEYS = (
    "The nodes' keys differ (their fingerprints are not the same): they hold different linkage "
    "secrets. Nothing was linked, and every upload was dropped: run the key ceremony again."
)


def _folder(root: Path, project_id: str) -> Path:
    return root / project_id


class LinkageRunning(FivesafesError):
    """The mapping was asked for while the hub is still linking the project's uploads."""

    code = "linkage_running"


def _upload(root: Path, project_id: str, node: str) -> Path:
    """The node's tokens and encodings: a Parquet file per chunk."""
    return _folder(root, project_id) / f"{node}.upload"


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


SCHEMA = pa.schema(
    [("ref", pa.string())] + [(kind, pa.string()) for kind in KINDS] + [("encoding", pa.binary())]
)


def _append(folder: Path, chunk: TokenChunk, first: int) -> None:
    """The chunk as a Parquet file of the upload (mode 600), one row per record, named by the
    place of its first record in the run: a chunk sent again after its request failed (the
    database rolled back, the file may be there) replaces its file rather than adding one."""
    folder.mkdir(parents=True, exist_ok=True)
    columns: dict[str, list[Any]] = {"ref": [r.ref for r in chunk.records]}
    for kind in KINDS:
        columns[kind] = [r.tokens.get(kind) for r in chunk.records]
    columns["encoding"] = [
        None if r.encoding is None else base64.b64decode(r.encoding, validate=True)
        for r in chunk.records
    ]
    table = pa.table(columns, schema=SCHEMA)
    writing = folder / f"{first:012d}.writing"
    with os.fdopen(os.open(writing, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb") as out:
        pq.write_table(table, out)
    writing.replace(folder / f"{first:012d}.parquet")


def receive(
    session: Session, root: Path, node: Node, project_id: str, chunk: TokenChunk, now: datetime
) -> UploadState:
    """Take a chunk of the node's upload; the last one of the last node runs the linkage."""
    _project(session, node, project_id, now)
    refs = [r.ref for r in chunk.records]
    if len(set(refs)) != len(refs):
        raise InvalidRequest("A reference appears twice in the chunk.")
    if any(kind not in KINDS for r in chunk.records for kind in r.tokens):
        raise InvalidRequest("A token is of a kind the linkage unit does not know.")
    # one node's chunk at a time per project (PostgreSQL: a row lock; SQLite writes one at a
    # time anyway), so two last uploads cannot each miss the other and link nothing
    session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
    row = session.execute(
        select(U.run, U.records, U.state).where(U.project_id == project_id, U.node == node.name)
    ).one_or_none()
    folder = _upload(root, project_id, node.name)
    records = 0
    if row is None or row.run != chunk.run:  # a new run: whatever came before is dropped
        shutil.rmtree(folder, ignore_errors=True)
        _links_file(root, project_id, node.name).unlink(missing_ok=True)
        # the others' uploads wait for this node again (a run matching them records nothing)
        session.execute(update(LINKAGE.uploads)
                        .where(U.project_id == project_id, U.state == "linking")
                        .values(state="complete", updated_at=now))  # fmt: skip
        session.execute(delete(LINKAGE.uploads).where(U.project_id == project_id,
                                                      U.node == node.name))  # fmt: skip
        session.execute(insert(LINKAGE.uploads).values(
            project_id=project_id, node=node.name, run=chunk.run, fingerprint=chunk.fingerprint,
            records=0, state="receiving", updated_at=now))  # fmt: skip
    elif row.state != "receiving":
        raise Conflict("This run's upload is complete: start another run to send again.")
    else:
        records = row.records
    _append(folder, chunk, first=records)
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
        refused = _start(session, root, project_id, now)
        state = "refused" if refused else "linking"
        return UploadState(run=chunk.run, records=records, state=state, note=refused)
    return UploadState(run=chunk.run, records=records, state=state, waiting_for=waiting)


def _waiting(session: Session, project_id: str) -> list[str]:
    done = set(session.scalars(select(U.node).where(U.project_id == project_id,
                                                    U.state == "complete")))  # fmt: skip
    return [n for n in node_names(session, project_id) if n not in done]


def _start(session: Session, root: Path, project_id: str, now: datetime) -> str:
    """Every upload is complete: "" when they are now ``linking`` (the worker's), or why not
    in words."""
    fingerprints = set(session.scalars(select(U.fingerprint).where(U.project_id == project_id)))
    if len(fingerprints) != 1:
        shutil.rmtree(_folder(root, project_id), ignore_errors=True)
        session.execute(delete(LINKAGE.uploads).where(U.project_id == project_id))
        return DIFFERENT_KEYS
    session.execute(update(LINKAGE.uploads).where(U.project_id == project_id)
                    .values(state="linking", updated_at=now))  # fmt: skip
    return ""


def pending(session: Session) -> list[str]:
    """The projects whose uploads are all complete and wait for the linkage worker."""
    linking = func.count().filter(U.state == "linking")
    return list(
        session.scalars(select(U.project_id).group_by(U.project_id).having(linking == func.count()))
    )


def run_pending(unit: Unit[Any], read: Unit[Any], root: Path, spill: Spill,
                now: Callable[[], datetime]) -> list[str]:  # fmt: skip
    """Link every project whose uploads wait (the hub's worker calls this): the projects
    linked or failed."""
    done = []
    for project_id in read(pending):
        run(unit, read, root, project_id, spill, now)
        done.append(project_id)
    return done


def run(unit: Unit[Any], read: Unit[Any], root: Path, project_id: str, spill: Spill,
        now: Callable[[], datetime]) -> str:  # fmt: skip
    """Match the project's uploads outside any transaction, then record the result unless an
    upload changed meanwhile (a node started another run: this one is dropped). The state:
    ``linked``, ``failed`` or ``dropped``."""
    started = read(lambda s: _runs(s, project_id))
    try:
        clusters, pairs = _clusters(
            {node: _upload(root, project_id, node) for node in started}, spill
        )
    except Exception as exc:  # noqa: BLE001 - any failure links nothing; its type is logged
        log.error("linkage run of a project failed: %s", type(exc).__name__)
        return str(unit(lambda s: _failed(s, root, project_id, started, now())))
    return str(unit(lambda s: _finish(s, root, project_id, started, clusters, pairs, now())))


def _runs(session: Session, project_id: str) -> dict[str, str]:
    rows = session.execute(
        select(U.node, U.run).where(U.project_id == project_id, U.state == "linking")
    )
    return {r.node: r.run for r in rows}


def _failed(session: Session, root: Path, project_id: str, started: dict[str, str],
            now: datetime) -> str:  # fmt: skip
    if _runs(session, project_id) != started:
        return "dropped"
    shutil.rmtree(_folder(root, project_id), ignore_errors=True)
    session.execute(update(LINKAGE.uploads).where(U.project_id == project_id)
                    .values(state="failed", updated_at=now))  # fmt: skip
    append_event(session, AUDIT, AuditEventType.LINKAGE_RUN_FAILED, by="hub",
                 details={"project_id": project_id})  # fmt: skip
    return "failed"


def _finish(
    session: Session,
    root: Path,
    project_id: str,
    started: dict[str, str],
    clusters: dict[tuple[str, str], str],
    pairs: list[list[Any]],
    now: datetime,
) -> str:
    rows = session.execute(
        select(U.node, U.run, U.state, U.fingerprint, U.records).where(U.project_id == project_id)
    ).all()
    if {r.node: r.run for r in rows if r.state == "linking"} != started or len(rows) != len(
        started
    ):
        return "dropped"  # a node began another run while this one was matched
    for node in started:
        mine = [{"ref": ref, "link_id": link} for (n, ref), link in clusters.items() if n == node]
        path = _links_file(root, project_id, node)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600))
        path.write_text(json.dumps(mine))
        shutil.rmtree(_upload(root, project_id, node), ignore_errors=True)
    session.execute(update(LINKAGE.uploads).where(U.project_id == project_id)
                    .values(state="linked", updated_at=now))  # fmt: skip
    session.execute(delete(LINKAGE.results).where(R.project_id == project_id))
    summary: dict[str, Any] = {
        "fingerprint": rows[0].fingerprint,
        "records": {r.node: r.records for r in rows},
        "pairs": pairs,
        "links": len(set(clusters.values())),
    }
    session.execute(insert(LINKAGE.results).values(project_id=project_id, linked_at=now,
                                                   **summary))  # fmt: skip
    append_event(session, AUDIT, AuditEventType.LINKAGE_RUN_COMPLETED, by="hub",
                 details={"project_id": project_id, "records": summary["records"],
                          "pairs": pairs, "links": summary["links"]})  # fmt: skip
    return "linked"


def _clusters(
    uploads: dict[str, Path], spill: Spill
) -> tuple[dict[tuple[str, str], str], list[list[Any]]]:
    """(node, ref) -> link id for every record linked to another node's, and per pair of
    nodes the persons linked, of those how many by encodings, and the encodings' threshold
    ([a, b, linked, by encodings, threshold]). Records linked across pairs form one cluster
    (union-find); a cluster with two records of one node is ambiguous and gets no link id."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root_of(x: tuple[str, str]) -> tuple[str, str]:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs: list[list[Any]] = []
    con = connect(spill)
    try:
        for a, b in itertools.combinations(sorted(uploads), 2):
            left, right = (parquet(uploads[n] / "*.parquet") for n in (a, b))
            done = Matched()
            by_tokens, by_encodings = match_records_sql(con, left, right, done=done)
            for lref, rref in by_tokens + by_encodings:
                parent[root_of((a, str(lref)))] = root_of((b, str(rref)))
            chosen = done.threshold.value if done.threshold else None
            pairs.append([a, b, len(by_tokens) + len(by_encodings), len(by_encodings), chosen])
    finally:
        con.close()
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
    if row is not None and row.state == "linking":
        raise LinkageRunning(
            "The hub is still linking this project's uploads: fetch the mapping in a moment."
        )
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
    states = {u["state"] for u in shown["uploads"]}
    if "linking" in states:
        return shown | {"state": "linking", "note": "Every node has sent: the hub is linking."}
    if "failed" in states:
        return shown | {"state": "failed", "note": FAILED}
    found = result(session, project.id)
    if found is None:
        return shown | {"state": "waiting"}

    def gate(n: int) -> tuple[int | None, str]:
        if n < profile.threshold:
            return None, f"fewer than {profile.threshold}"
        value = round_half_up(n, profile.rounding_base)
        return value, str(value)

    pairs = []
    for a, b, n, *more in found["pairs"]:  # older runs: no encodings, no threshold
        value, text = gate(n)
        pair = {"nodes": (a, b), "linked": value, "shown": text}
        if more:
            pair["by_encodings"], pair["shown_by_encodings"] = gate(more[0])
        if more[1:]:
            pair["encodings_threshold"] = more[1]
        pairs.append(pair)
    return shown | {"state": "linked", "linked_at": found["linked_at"], "pairs": pairs}
