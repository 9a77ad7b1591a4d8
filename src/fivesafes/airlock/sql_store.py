"""The airlock's records in the service's own database (``airlock.tables``), one transaction's
view: constructed on the unit's session, it does nothing until asked.

A request is saved by writing what changed: the request's row; its current version's row
(files' hashes, submission, consolidation) and every decided version's outcome (with who
returned it and why) and released files; the current version's files (rewritten only while a
draft's files change), pre-screens and the votes cast since it was loaded. Earlier versions'
rows are never touched again: they are the history.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.orm import Session

from fivesafes.airlock.bundle import sha256
from fivesafes.airlock.files import FileType, PreScreen, RequestFile
from fivesafes.airlock.request import ReleaseRequest, Version
from fivesafes.airlock.review import FileVote, Vote
from fivesafes.airlock.states import RequestState
from fivesafes.airlock.store import StoredBundle, Summary
from fivesafes.airlock.tables import AirlockTables
from fivesafes.audit.chain import AuditTables
from fivesafes.governance.roles import Scope
from fivesafes.kit.store import SqlStore
from fivesafes.storage.types import utcnow


class SqlAirlockStore(SqlStore):
    def __init__(
        self,
        session: Session,
        tables: AirlockTables,
        audit_tables: AuditTables,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(session, audit_tables, clock=clock)
        self._t = tables

    # ---- reading -----------------------------------------------------------------------

    def _of(self, table: Any, request_id: str, version: int | None = None) -> Any:
        where = table.c.request_id == request_id
        return where if version is None else and_(where, table.c.version == version)

    def load(self, request_id: str) -> ReleaseRequest | None:
        t = self._t
        row = self._s.execute(select(t.requests).where(t.requests.c.id == request_id)).first()
        if row is None:
            return None
        files = [
            RequestFile(f.name, bytes(f.content), FileType(f.type), f.description)
            for f in self._s.execute(
                select(t.files)
                .where(self._of(t.files, request_id, row.version))
                .order_by(t.files.c.position)
            )
        ]
        screens = {
            s.name: PreScreen(s.verdict, list(s.findings), s.headline or "", list(s.summary or []))
            for s in self._s.execute(
                select(t.screens).where(self._of(t.screens, request_id, row.version))
            )
        }
        history = [
            Version(
                v.version,
                dict(v.files),
                self._votes(request_id, v.version),
                RequestState(v.outcome),
                returned_by=v.returned_by,
                message=v.message or "",
                released=tuple(v.released or ()),
            )
            for v in self._s.execute(
                select(t.versions)
                .where(self._of(t.versions, request_id), t.versions.c.outcome.is_not(None))
                .order_by(t.versions.c.version)
            )
        ]
        last = history[-1] if history else None
        approved = last.approved if last is not None and last.number == row.version else {}
        return ReleaseRequest(
            id=row.id,
            scope=Scope.parse(row.scope),
            author=row.author,
            title=row.title,
            project_id=row.project_id,
            state=RequestState(row.state),
            version=row.version,
            files=files,
            screens=screens,
            votes=self._votes(request_id, row.version),
            approved=approved,
            history=history,
        )

    def _votes(self, request_id: str, version: int) -> list[FileVote]:
        v = self._t.votes
        rows = self._s.execute(select(v).where(self._of(v, request_id, version)).order_by(v.c.seq))
        return [FileVote(r.checker, r.file, Vote(r.vote), r.comment) for r in rows]

    def summaries(self, scope: Scope, *, states: Collection[RequestState] = ()) -> list[Summary]:
        r, f = self._t.requests, self._t.files
        counted = (
            select(func.count())
            .where(f.c.request_id == r.c.id, f.c.version == r.c.version)
            .scalar_subquery()
        )
        query = select(r, counted.label("files")).where(r.c.scope == str(scope))
        if states:
            query = query.where(r.c.state.in_([s.value for s in states]))
        rows = self._s.execute(query.order_by(r.c.updated_at.desc(), r.c.id.desc()))
        return [
            Summary(
                id=row.id,
                scope=scope,
                author=row.author,
                title=row.title,
                project_id=row.project_id,
                run_id=row.run_id,
                state=RequestState(row.state),
                version=row.version,
                files=row.files,
                updated_at=row.updated_at,
            )
            for row in rows
        ]

    def from_run(self, run_id: str) -> str | None:
        r = self._t.requests
        found = self._s.execute(select(r.c.id).where(r.c.run_id == run_id)).scalar()
        return str(found) if found is not None else None

    def bundle(self, request_id: str) -> StoredBundle | None:
        b = self._t.bundles
        row = self._s.execute(
            select(b).where(b.c.request_id == request_id).order_by(b.c.version.desc()).limit(1)
        ).first()
        if row is None:
            return None
        return StoredBundle(
            request_id=row.request_id,
            version=row.version,
            manifest=dict(row.manifest),
            signature=row.signature,
            archive=bytes(row.archive),
            released_at=row.released_at,
            released_by=row.released_by,
        )

    # ---- writing -----------------------------------------------------------------------

    def add(self, request: ReleaseRequest, *, run_id: str | None = None) -> None:
        now = self._clock()
        self._s.execute(
            insert(self._t.requests).values(
                id=request.id,
                scope=str(request.scope),
                author=request.author,
                title=request.title,
                project_id=request.project_id,
                run_id=run_id,
                state=request.state.value,
                version=request.version,
                created_at=now,
                updated_at=now,
            )
        )
        self.save(request)

    def save(self, request: ReleaseRequest) -> None:
        t, now = self._t, self._clock()
        self._s.execute(
            update(t.requests)
            .where(t.requests.c.id == request.id)
            .values(state=request.state.value, version=request.version, updated_at=now)
        )
        self._save_version(request, now)
        self._save_files(request)
        self._save_screens(request)
        self._save_votes(request, now)

    def _save_version(self, request: ReleaseRequest, now: datetime) -> None:
        v = self._t.versions
        hashes = {f.name: sha256(f.content) for f in request.files}
        current = self._s.execute(select(v).where(self._of(v, request.id, request.version))).first()
        if current is None:
            self._s.execute(
                insert(v).values(request_id=request.id, version=request.version, files=hashes)
            )
        changes: dict[str, Any] = {}
        draft = request.state is RequestState.DRAFT
        if current is not None and draft and dict(current.files) != hashes:
            changes["files"] = hashes  # frozen from submission on: they are what is reviewed
        if request.state is not RequestState.DRAFT and (
            current is None or not current.submitted_at
        ):
            changes["submitted_at"] = now
        if request.consolidating and (current is None or current.consolidated is None):
            changes["consolidated"] = request.consolidating
        if changes:
            self._s.execute(
                update(v).where(self._of(v, request.id, request.version)).values(changes)
            )
        for decided in request.history:
            self._s.execute(
                update(v)
                .where(self._of(v, request.id, decided.number), v.c.outcome.is_(None))
                .values(
                    outcome=decided.outcome.value if decided.outcome else None,
                    decided_at=now,
                    returned_by=decided.returned_by,
                    message=decided.message or None,
                )
            )
            if decided.released:
                self._s.execute(
                    update(v)
                    .where(self._of(v, request.id, decided.number), v.c.released.is_(None))
                    .values(released=list(decided.released))
                )

    def _save_files(self, request: ReleaseRequest) -> None:
        """A draft's files (once submitted, a version's files are never written again)."""
        if request.state is not RequestState.DRAFT:
            return
        f = self._t.files
        where = self._of(f, request.id, request.version)
        stored = self._s.execute(
            select(f.c.name, f.c.sha256, f.c.type, f.c.description)
            .where(where)
            .order_by(f.c.position)
        ).all()
        wanted = [(x.name, sha256(x.content), x.type.value, x.description) for x in request.files]
        if [tuple(row) for row in stored] == wanted:
            return
        self._s.execute(delete(f).where(where))
        if request.files:
            self._s.execute(
                insert(f),
                [
                    {
                        "request_id": request.id,
                        "version": request.version,
                        "position": position,
                        "name": x.name,
                        "type": x.type.value,
                        "description": x.description,
                        "sha256": sha256(x.content),
                        "size": len(x.content),
                        "content": x.content,
                    }
                    for position, x in enumerate(request.files)
                ],
            )

    def _save_screens(self, request: ReleaseRequest) -> None:
        """The pre-screens, written once at submission."""
        if request.state is not RequestState.SUBMITTED:
            return
        s = self._t.screens
        where = self._of(s, request.id, request.version)
        stored = set(self._s.execute(select(s.c.name).where(where)).scalars())
        if stored or not request.screens:
            return
        if request.screens:
            self._s.execute(
                insert(s),
                [
                    {
                        "request_id": request.id,
                        "version": request.version,
                        "name": name,
                        "verdict": screen.verdict,
                        "findings": list(screen.findings),
                        "headline": screen.headline or None,
                        "summary": list(screen.summary),
                    }
                    for name, screen in request.screens.items()
                ],
            )

    def _save_votes(self, request: ReleaseRequest, now: datetime) -> None:
        v = self._t.votes
        cast = self._s.execute(
            select(func.count()).select_from(v).where(self._of(v, request.id, request.version))
        ).scalar_one()
        new = request.votes[cast:]
        if new:
            self._s.execute(
                insert(v),
                [
                    {
                        "request_id": request.id,
                        "version": request.version,
                        "seq": cast + n,
                        "checker": vote.checker,
                        "file": vote.file,
                        "vote": vote.vote.value,
                        "comment": vote.comment,
                        "cast_at": now,
                    }
                    for n, vote in enumerate(new, 1)
                ],
            )

    def put_bundle(self, stored: StoredBundle) -> None:
        self._s.execute(
            insert(self._t.bundles).values(
                request_id=stored.request_id,
                version=stored.version,
                manifest=stored.manifest,
                signature=stored.signature,
                archive=stored.archive,
                released_at=stored.released_at,
                released_by=stored.released_by,
            )
        )
