"""What the index read from a DICOMweb service, kept beside the index in the node's DuckDB file
(``imaging_dicomweb_studies``, ``imaging_dicomweb_series``): each study and series with the
number of instances the service said it had when it was read. A re-run compares:

- a study whose number of instances is the same is not looked into (its series are not even
  listed); a new one, or one whose number changed (or that the service does not count), has
  its series listed;
- of those series, only the new ones and those whose number of instances changed are read
  again; series and studies the service no longer lists leave the index.

A series' state is written in the same transaction as its instances (:meth:`series_read`),
so a series is either read and recorded, or neither: a crash loses the series in flight, and
the next run reads it again. A study's state is written once all its series are, so a study
interrupted half-way has its series listed again (and only the unread ones read).

Working tables (``imaging_dicomweb_listing``) are temporary, like the file walk's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

from fivesafes.imaging.headers import HeaderStore
from fivesafes.imaging.store import IndexStore

Prefix = Callable[[str, str | None], str]
"""The URL under which a study's (series None) or a series' instances are named."""

_LISTING = pa.schema([("k", pa.int64()), ("study", pa.string()), ("instances", pa.int64())])


class DicomwebState:
    """The state of the source ``source`` in ``store``; ``prefix`` names locations."""

    def __init__(self, store: IndexStore, source: str, prefix: Prefix) -> None:
        self.store = store
        self.source = source
        self.prefix = prefix

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.store.con

    # ---- studies ----------------------------------------------------------------------------

    def list_studies(self, found: Iterable[tuple[str, int | None]], chunk: int = 10_000) -> int:
        """Keep the studies the service lists (in its order; each once); how many."""
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE imaging_dicomweb_listing"
            " (k BIGINT, study VARCHAR, instances BIGINT)"
        )
        rows: list[tuple[int, str, int | None]] = []
        for k, (study, instances) in enumerate(found):
            rows.append((k, study, instances))
            if len(rows) >= chunk:
                self._append(rows)
                rows = []
        if rows:
            self._append(rows)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE imaging_dicomweb_listing AS"
            " SELECT row_number() OVER (ORDER BY k) AS k, study, instances"
            " FROM imaging_dicomweb_listing"
            " QUALIFY row_number() OVER (PARTITION BY study ORDER BY k) = 1"
        )
        return int(self.store.scalar("SELECT count(*) FROM imaging_dicomweb_listing"))

    def _append(self, rows: list[tuple[int, str, int | None]]) -> None:
        columns = list(zip(*rows, strict=True))
        batch = pa.Table.from_arrays(
            [pa.array(c, f.type) for c, f in zip(columns, _LISTING, strict=True)], schema=_LISTING
        )
        self.con.register("imaging_dicomweb_chunk", batch)
        self.con.execute(
            "INSERT INTO imaging_dicomweb_listing SELECT * FROM imaging_dicomweb_chunk"
        )
        self.con.unregister("imaging_dicomweb_chunk")

    def studies_to_read(self, page: int = 10_000) -> Iterator[tuple[str, int | None]]:
        """The listed studies that are new, or whose number of instances changed or is not
        given, in the service's order, fetched a page at a time."""
        total = int(self.store.scalar("SELECT count(*) FROM imaging_dicomweb_listing"))
        done = 0
        while done < total:
            rows = self.con.execute(
                "SELECT l.study, l.instances FROM imaging_dicomweb_listing AS l"
                " LEFT JOIN imaging_dicomweb_studies AS s"
                "   ON s.source = ? AND s.study_instance_uid = l.study"
                " WHERE l.k > ? AND l.k <= ?"
                "   AND (s.study_instance_uid IS NULL OR l.instances IS NULL"
                "        OR s.instances IS DISTINCT FROM l.instances)"
                " ORDER BY l.k",
                [self.source, done, done + page],
            ).fetchall()
            for study, instances in rows:
                yield study, None if instances is None else int(instances)
            done += page

    def count_to_read(self) -> int:
        return int(
            self.store.scalar(
                "SELECT count(*) FROM imaging_dicomweb_listing AS l"
                " LEFT JOIN imaging_dicomweb_studies AS s"
                "   ON s.source = ? AND s.study_instance_uid = l.study"
                " WHERE s.study_instance_uid IS NULL OR l.instances IS NULL"
                "   OR s.instances IS DISTINCT FROM l.instances",
                [self.source],
            )
        )

    def gone_studies(self) -> list[str]:
        """Studies read before (wholly or in part) that the service no longer lists."""
        rows = self.con.execute(
            "SELECT study_instance_uid FROM imaging_dicomweb_studies WHERE source = ?"
            " UNION SELECT study_instance_uid FROM imaging_dicomweb_series WHERE source = ?"
            " EXCEPT SELECT study FROM imaging_dicomweb_listing ORDER BY 1",
            [self.source, self.source],
        ).fetchall()
        return [row[0] for row in rows]

    def study_read(self, study: str, instances: int | None, run_id: str, at: datetime) -> None:
        """Every series of ``study`` is read: remember its number of instances."""
        con = self.con
        con.execute("BEGIN")
        try:
            con.execute(
                "DELETE FROM imaging_dicomweb_studies WHERE source = ? AND study_instance_uid = ?",
                [self.source, study],
            )
            con.execute(
                "INSERT INTO imaging_dicomweb_studies VALUES (?, ?, ?, ?, ?)",
                [self.source, study, instances, run_id, at],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    # ---- series -----------------------------------------------------------------------------

    def known_series(self, study: str) -> dict[str, int | None]:
        """The series of ``study`` read before, and their number of instances then."""
        rows = self.con.execute(
            "SELECT series_instance_uid, instances FROM imaging_dicomweb_series"
            " WHERE source = ? AND study_instance_uid = ?",
            [self.source, study],
        ).fetchall()
        return {series: None if n is None else int(n) for series, n in rows}

    def paths_under(self, prefix: str) -> list[str]:
        """The locations (instances' URLs) the index holds under ``prefix``."""
        rows = self.con.execute(
            "SELECT path FROM imaging_files WHERE path >= ? AND path < ? ORDER BY path",
            [prefix, _after(prefix)],
        ).fetchall()
        return [row[0] for row in rows]

    def series_read(
        self, study: str, series: str, instances: int | None, read: int, run_id: str, at: datetime
    ) -> Callable[[duckdb.DuckDBPyConnection], None]:
        """The statement recording a series as read, for the transaction writing its rows."""

        def record(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "DELETE FROM imaging_dicomweb_series WHERE source = ?"
                " AND study_instance_uid = ? AND series_instance_uid = ?",
                [self.source, study, series],
            )
            con.execute(
                "INSERT INTO imaging_dicomweb_series VALUES (?, ?, ?, ?, ?, ?, ?)",
                [self.source, study, series, instances, read, run_id, at],
            )

        return record

    # ---- what leaves the index --------------------------------------------------------------

    def remove(
        self, headers: HeaderStore, studies: Sequence[str], series: Sequence[tuple[str, str]]
    ) -> int:
        """Take out of the index (and the header store) the ``studies`` and the ``series``
        (study, series) the service no longer lists; how many series went."""
        if not studies and not series:
            return 0
        prefixes = [self.prefix(s, None) for s in studies] + [self.prefix(s, r) for s, r in series]
        con = self.con
        gone = int(
            self.store.scalar(
                "SELECT count(*) FROM imaging_dicomweb_series WHERE source = ?"
                " AND (list_contains(?, study_instance_uid)"
                "      OR list_contains(?, study_instance_uid || '/' || series_instance_uid))",
                [self.source, list(studies), [f"{s}/{r}" for s, r in series]],
            )
        )
        for prefix in prefixes:
            headers.drop_under(prefix, _after(prefix))
        con.execute("BEGIN")
        try:
            for prefix in prefixes:
                for table in ("imaging_instance", "imaging_files"):
                    con.execute(
                        f"DELETE FROM {table} WHERE path >= ? AND path < ?",  # noqa: S608
                        [prefix, _after(prefix)],
                    )
            for study in studies:
                for table in ("imaging_dicomweb_studies", "imaging_dicomweb_series"):
                    con.execute(
                        f"DELETE FROM {table} WHERE source = ?"  # noqa: S608
                        " AND study_instance_uid = ?",
                        [self.source, study],
                    )
            for study, one in series:
                con.execute(
                    "DELETE FROM imaging_dicomweb_series WHERE source = ?"
                    " AND study_instance_uid = ? AND series_instance_uid = ?",
                    [self.source, study, one],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return gone


def _after(prefix: str) -> str:
    """The first text after every text that starts with ``prefix`` (which ends with '/')."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
