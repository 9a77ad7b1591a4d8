"""The node's linked persons as an analysis reads them (``analyses.linked.LinkedPersons``):
the blinding keys ``fivesafes node linkage pull`` kept in ``linkage_links``, read only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.node.db import LINKAGE


class SqlLinkedPersons:
    def __init__(self, sessions: sessionmaker[Session], node: str) -> None:
        self._sessions = sessions
        self._node = node

    @property
    def node(self) -> str:
        return self._node

    def blindings(self, project_id: str) -> dict[int, bytes]:
        K = LINKAGE.links
        with self._sessions() as session:
            rows = session.execute(
                select(K.c.person_id, K.c.blinding).where(
                    K.c.project_id == project_id, K.c.blinding.is_not(None)
                )
            ).all()
        return {int(person): bytes.fromhex(blind) for person, blind in rows}
