"""The node's table of released person sets: who is behind every output a project released.

Kept beside the node's other state (same declarative ``Base``, migration ``0002``). Importing
this module registers the table on ``fivesafes.node.db.Base.metadata``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fivesafes.node.db import Base


class PersonSetRow(Base):
    """One released output's persons, as a serialized 32-bit roaring bitmap, and its answer.

    ``output_key`` is the canonical key of the query; one row per key per project, so an
    identical query is answered from ``released_answer``. ``seq`` keeps the release order.
    """

    __tablename__ = "person_sets"
    __table_args__ = (
        UniqueConstraint("project_id", "output_key", name="uq_person_sets_project_output"),
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64))
    output_key: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(64))
    person_count: Mapped[int] = mapped_column(Integer)
    persons: Mapped[bytes] = mapped_column(LargeBinary)
    released_answer: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]
