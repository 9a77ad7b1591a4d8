"""Indexing a PACS or archive through DICOMweb (PS3.18): the same index as from files
(:mod:`fivesafes.imaging.index`: the same judging, rules, person linking, tables and header
store), read from the service's QIDO-RS searches and WADO-RS metadata instead of a walk.

A run, step by step (docs/imaging.md, "Indexing through DICOMweb"):

1. **Studies.** The service's studies are listed (QIDO-RS, paged) with their number of
   instances (NumberOfStudyRelatedInstances). Studies read before and no longer listed leave
   the index and the header store.
2. **Series.** Of each study that is new, or whose number of instances changed (or is not
   given), the series are listed with theirs (NumberOfSeriesRelatedInstances); series gone
   leave; each series that is new or whose number changed is read:
3. **Instances.** Its instances are searched (QIDO-RS, paged) with ``includefield`` for
   exactly the attributes the index reads (:data:`dicom_json.INCLUDE_FIELDS`), each turned
   into the record a file's header gives (:func:`dicom_json.header_of`); its metadata (WADO-RS,
   one request per series; bulk data left as URIs) gives each instance's full header for the
   restricted store. An instance's location is its WADO-RS URL; it has no size and no mtime.
4. **Written** a series at a time: its instances, their states and the series' own, in one
   transaction (:class:`DicomwebState`); a crash loses at most the series in flight.
5. **Roll up**, as for files.

Nothing is read in parallel: the service is asked one thing at a time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fivesafes.imaging import dicom_json as dj
from fivesafes.imaging.dicomweb import DicomwebClient, DicomwebError, usable_uid
from fivesafes.imaging.dicomweb_state import DicomwebState
from fivesafes.imaging.headers import DICOM_JSON, HeaderStore, StoredHeader
from fivesafes.imaging.index import (
    Found,
    IndexOptions,
    Progress,
    Pseudonymise,
    Pseudonyms,
    new_run_id,
    now,
    run,
    write_batch,
)
from fivesafes.imaging.project import instance_of
from fivesafes.imaging.reading import Header
from fivesafes.imaging.report import IndexReport
from fivesafes.imaging.rules import Rules
from fivesafes.imaging.store import CdmRows, IndexStore, PersonRows
from fivesafes.imaging.worker import Outcome, Read

STUDY_FIELDS = (dj.NUMBER_OF_STUDY_INSTANCES,)
SERIES_FIELDS = (dj.NUMBER_OF_SERIES_INSTANCES,)


def index_dicomweb(
    client: DicomwebClient,
    *,
    database: Path,
    header_store: Path,
    rules: Rules,
    pseudonym_of: Pseudonymise,
    schema: str | None = None,
    options: IndexOptions = IndexOptions(),
    progress: Progress | None = None,
    person_rows: PersonRows | None = None,
    cdm_rows: CdmRows | None = None,
) -> IndexReport:
    """Index the DICOMweb service of ``client`` (not yet started) into the DuckDB file
    ``database``, keeping each instance's metadata in ``header_store``. Reads only the series
    that are new or whose number of instances changed since the last run. With
    ``person_rows`` (a node whose data is on PostgreSQL or Spark), ``database`` is the index's
    own file, made if absent (as :func:`fivesafes.imaging.index.index_archive`)."""
    tell = progress or (lambda stage, done, total: None)
    today = options.today or datetime.now(UTC).date()
    report = IndexReport(
        run_id=new_run_id(), roots=[client.url], rules=rules.label, source="dicomweb"
    )
    with (
        IndexStore(
            database,
            schema,
            options.memory_limit,
            create=person_rows is not None,
            person_rows=person_rows,
            cdm_rows=cdm_rows,
        ) as store,
        HeaderStore(header_store) as headers,
        client,
    ):
        reader = _Reader(client, store, headers, report, today, Pseudonyms(pseudonym_of), tell)
        run(store, headers, report, rules, lambda *_: reader.read(), tell)
    return report


class _Reader:
    def __init__(
        self,
        client: DicomwebClient,
        store: IndexStore,
        headers: HeaderStore,
        report: IndexReport,
        today: date,
        pseudonyms: Pseudonyms,
        tell: Progress,
    ) -> None:
        self.client, self.store, self.headers, self.report = client, store, headers, report
        self.today, self.pseudonyms, self.tell = today, pseudonyms, tell
        self.state = DicomwebState(store, client.url, client.location)

    def read(self) -> None:
        started = time.perf_counter()
        report, state = self.report, self.state
        report.studies_listed = state.list_studies(self._studies())
        self.tell("listing studies", report.studies_listed, None)
        gone = state.gone_studies()
        if gone and not report.studies_listed:  # a wrong URL, or a service that lost its data
            raise DicomwebError(
                f"The DICOMweb service at {self.client.url} lists no studies, though "
                f"{len(gone):,} were indexed from it: nothing was taken out of the index. "
                "Check the URL and the service."
            )
        report.removed += state.remove(self.headers, gone, [])
        total = state.count_to_read()
        self.tell("reading studies", 0, total)
        with self.store.writing_batches():
            for done, (study, instances) in enumerate(state.studies_to_read(), 1):
                self._study(study)
                state.study_read(study, instances, report.run_id, now())
                report.studies_read += 1
                self.tell("reading studies", done, total)
        report.reading_seconds = time.perf_counter() - started

    def _studies(self) -> Iterator[tuple[str, int | None]]:
        listed = 0
        for found in self.client.studies(STUDY_FIELDS):
            study = dj.uid(found, dj.STUDY_INSTANCE_UID)
            if study is None or not usable_uid(study):
                self.report.note_walk_problem(
                    self.client.url + "/studies", "a study without a usable StudyInstanceUID"
                )
                continue
            listed += 1
            if listed % 1000 == 0:
                self.tell("listing studies", listed, None)
            yield study, dj.count(found, dj.NUMBER_OF_STUDY_INSTANCES)

    def _study(self, study: str) -> None:
        report, state = self.report, self.state
        listed: dict[str, int | None] = {}
        for found in self.client.series(study, SERIES_FIELDS):
            series = dj.uid(found, dj.SERIES_INSTANCE_UID)
            if series is None or not usable_uid(series):
                report.note_walk_problem(
                    self.client.location(study), "a series without a usable SeriesInstanceUID"
                )
                continue
            listed.setdefault(series, dj.count(found, dj.NUMBER_OF_SERIES_INSTANCES))
        known = state.known_series(study)
        gone = [(study, series) for series in sorted(known) if series not in listed]
        report.removed += state.remove(self.headers, [], gone)
        report.found += len(listed)
        for series, instances in listed.items():
            if series in known and instances is not None and known[series] == instances:
                report.unchanged += 1
                continue
            if series in known:
                report.changed += 1
            else:
                report.new += 1
            self._series(study, series, instances, again=series in known)

    def _series(self, study: str, series: str, instances: int | None, again: bool) -> None:
        client, state = self.client, self.state
        prefix = client.location(study, series)
        # a series never read has no rows: its state is written with them (DicomwebState)
        replaced = state.paths_under(prefix) if again else []
        found = list(client.instances(study, series, dj.INCLUDE_FIELDS, instances))
        metadata = client.metadata(study, series)
        note = "header_not_in_metadata" if metadata is not None else "header_too_large_to_store"
        by_uid = {dj.uid(m, dj.SOP_INSTANCE_UID): m for m in metadata or ()}
        batch: list[Found] = []
        seen: set[str | None] = set()
        for position, obj in enumerate(found):
            sop = dj.uid(obj, dj.SOP_INSTANCE_UID)
            if sop is not None and sop in seen:
                continue  # listed twice (a page repeated): one instance
            seen.add(sop)
            location = (
                client.location(study, series, sop)
                if sop is not None and usable_uid(sop)
                else f"{prefix}instances/#{position + 1}"
            )
            batch.append(
                (location, None, None, self._outcome(obj, location, by_uid.get(sop), note))
            )
        record = state.series_read(study, series, instances, len(batch), self.report.run_id, now())
        write_batch(
            self.store,
            self.headers,
            batch,
            self.report,
            self.report.run_id,
            self.pseudonyms,
            replaced,
            also=record,
        )

    def _outcome(
        self, obj: object, location: str, metadata: dict[str, Any] | None, note: str
    ) -> Outcome:
        header = dj.header_of(obj, location, metadata, note)
        if not isinstance(header, Header):
            return header
        instance = instance_of(header, self.today)._replace(size=None, mtime=None, file_meta=None)
        stored = (
            StoredHeader(
                location,
                instance.sop_instance_uid,
                header.header_bytes,
                header.sha256,
                header.stored,
                DICOM_JSON,
            )
            if header.stored is not None
            else None
        )
        return Read(instance, stored)
