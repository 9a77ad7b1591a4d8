"""Releasing a node's slides for review at other hospitals (``fivesafes.pathology.releases``,
ADR 0029), wired to this node: its register of slides and their predictions (its DuckDB data
file, read-only), its database and audit log, its pseudonym key, and its outbound connection
to the hub.

``approve`` records the custodian's decision; ``push`` writes each approved slide's pack
(``slides.pack``: the DeepZoom tiles this node serves, the allow-listed facts, the predictions
of the models chosen) into a temporary folder and sends it to the hub's review store over the
node's own signed requests, in chunks, taking up where a broken push stopped; then it tells the
hub of every withdrawal not yet told. The node never listens: the hub is only ever answered.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.source import DuckDBSource
from fivesafes.node.accounts import acting
from fivesafes.node.db import AUDIT, SLIDE_RELEASES, Approval
from fivesafes.node.pseudonyms import load_key
from fivesafes.node.service import NodeService
from fivesafes.node.transport import HttpHubTransport, HubRejected
from fivesafes.pathology import releases
from fivesafes.pathology.releases import SlideRelease
from fivesafes.protocol.errors import InvalidRequest
from fivesafes.protocol.models import SlideFactsWire, SlideReviewOffer
from fivesafes.slides.catalogue import DuckDBSlides
from fivesafes.slides.pack import PackFacts, PackPrediction, write_pack
from fivesafes.slides.tiles import DeepZoom
from fivesafes.storage.types import utcnow

Progress = Callable[[str, int, int], None]


@dataclass
class PushReport:
    pushed: list[str] = field(default_factory=list)  # release ids
    deleted: list[str] = field(default_factory=list)
    bytes: int = 0
    tiles: int = 0


def _data(service: NodeService) -> DuckDBSource:
    data = service.config.data
    if not isinstance(data, DuckDBSource):
        raise InvalidRequest("Slides live in a DuckDB node's data file for now.")
    return data


def approve(
    service: NodeService, project_id: str, slide_ids: list[str], models: list[str], *, by: str
) -> list[SlideRelease]:
    """Record the custodian ``by``'s release of the slides for the project (not pushed yet)."""
    data = _data(service)
    catalogue = DuckDBSlides(data.path, data.schema_name)
    if any(catalogue.slide(s) is None for s in slide_ids):
        raise InvalidRequest("There is no registered slide with one of those ids at this node.")
    if models:
        having = _models_of(data, slide_ids)
        if not set(models) <= having:
            raise InvalidRequest(
                "A model named has no prediction for the slides named: see "
                "'fivesafes node slides predictions add'."
            )
    key = load_key(service.config.node.pseudonym_key_file)
    now = utcnow()
    return service.unit(
        lambda s: releases.approve_releases(
            s, (SLIDE_RELEASES, AUDIT, Approval.__table__), project_id=project_id,
            slide_ids=slide_ids, models=models, key=key, by=acting(s, by, service.name),
            node=service.name, now=now,
        )
    )  # fmt: skip


@dataclass(frozen=True)
class CohortSlides:
    """The slides a cohort finds at this node, and of them those not yet released."""

    found: int
    already: int
    chosen: list[str]


def cohort_slides(
    service: NodeService, project_id: str, cohort: Cohort, *, limit: int | None = None
) -> CohortSlides:
    """The slides of the cohort's persons that fit its slide criteria (opted-out persons are
    gone, as for every query at this node), less those released for the project already; at
    most ``limit`` of them, the first by id (keyed hashes: an arbitrary, not a chosen, few)."""
    from fivesafes.cohorts.compile import cohort_slides as slides_of
    from fivesafes.data.engines import open_omop

    db = open_omop(_data(service))
    try:
        found = sorted(str(s) for s in slides_of(cohort, db).to_pandas()["slide_id"])
    except ValueError as exc:
        raise InvalidRequest(f"The cohort cannot choose slides: {exc}.") from None
    finally:
        db.close()
    released = {r.slide_id for r in listed(service, project_id) if r.state != "withdrawn"}
    new = [s for s in found if s not in released]
    return CohortSlides(len(found), len(found) - len(new), new[:limit] if limit else new)


def withdraw(service: NodeService, release_id: str, reason: str, *, by: str) -> SlideRelease:
    """Record the withdrawal (the hub is told by ``push``, at once if it can be reached)."""
    now = utcnow()
    return service.unit(
        lambda s: releases.withdraw(
            s, (SLIDE_RELEASES, AUDIT), release_id, reason=reason,
            by=acting(s, by, service.name), node=service.name, now=now,
        )
    )  # fmt: skip


def listed(service: NodeService, project_id: str | None = None) -> list[SlideRelease]:
    return service.read(lambda s: releases.listed(s, SLIDE_RELEASES, project_id))


def push(service: NodeService, *, progress: Progress | None = None) -> PushReport:
    """Push every approved release to the hub's review store; tell it of every withdrawal."""
    report = PushReport()
    waiting = [r for r in listed(service) if r.to_push or r.to_delete_at_hub]
    if not waiting:
        return report
    transport = service.transport()
    try:
        for each in waiting:
            rid = each.release_id
            if each.to_delete_at_hub:
                try:
                    transport.delete_slide(rid, each.reason or "withdrawn")
                except HubRejected as exc:
                    if exc.http_status != 404:  # 404: the hub has nothing of it to delete
                        raise
                _told(service, rid)
                report.deleted.append(rid)
                continue
            size, tiles, digest = _push_one(service, transport, each, progress)
            _pushed(service, rid, size, tiles, digest)
            report.pushed.append(rid)
            report.bytes += size
            report.tiles += tiles
    finally:
        transport.close()
    return report


def _told(service: NodeService, rid: str) -> None:
    def told(session: Session) -> None:
        releases.mark_told(session, SLIDE_RELEASES, rid)

    service.unit(told)


def _pushed(service: NodeService, rid: str, size: int, tiles: int, digest: str) -> None:
    def pushed(session: Session) -> SlideRelease:
        return releases.mark_pushed(session, (SLIDE_RELEASES, AUDIT), rid, size=size,
                                    tiles=tiles, sha256=digest, node=service.name,
                                    now=utcnow())  # fmt: skip

    service.unit(pushed)


def _push_one(
    service: NodeService,
    transport: HttpHubTransport,
    release: SlideRelease,
    progress: Progress | None,
) -> tuple[int, int, str]:
    data = _data(service)
    catalogue = DuckDBSlides(data.path, data.schema_name)
    facts = catalogue.slide(release.slide_id)
    path = catalogue.file_of(release.slide_id)
    if facts is None or path is None:
        raise InvalidRequest("A released slide is no longer registered at this node.")
    with tempfile.TemporaryDirectory(prefix="fivesafes-pack-") as folder:
        target = Path(folder) / "slide.pack"
        deepzoom = DeepZoom.open(path)
        try:
            pack_facts = PackFacts(
                width=facts.width, height=facts.height, stain=facts.stain, mpp_x=facts.mpp_x,
                mpp_y=facts.mpp_y, objective_power=facts.objective_power,
                stored_levels=facts.level_count,
            )  # fmt: skip
            tell = None if progress is None else (lambda d, t: progress("tiles", d, t))
            tiles = write_pack(deepzoom, pack_facts, _predictions(data, release), target,
                               progress=tell)  # fmt: skip
        finally:
            deepzoom.close()
        size = target.stat().st_size
        digest = _sha256(target)
        offer = SlideReviewOffer(
            review_id=release.release_id, project_id=release.project_id,
            facts=SlideFactsWire(**vars(pack_facts)), bytes=size, sha256=digest,
        )  # fmt: skip
        received, chunk = transport.offer_slide(offer)
        with target.open("rb") as handle:
            while received < size:
                handle.seek(received)
                received = transport.send_slide_chunk(
                    release.release_id, received, handle.read(chunk)
                )
                if progress is not None:
                    progress("sending", received, size)
        transport.finish_slide(release.release_id)
    return size, tiles, digest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _query(data: DuckDBSource, sql: str, parameters: list[Any]) -> list[tuple[Any, ...]]:
    import duckdb

    with duckdb.connect(str(data.path), read_only=True) as con:
        if data.schema_name:
            con.execute(f"SET schema = '{data.schema_name}'")
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if not {"pathology_prediction", "pathology_prediction_data"} <= tables:
            return []
        return list(con.execute(sql, parameters).fetchall())


def _models_of(data: DuckDBSource, slide_ids: list[str]) -> set[str]:
    rows = _query(
        data, "SELECT DISTINCT model FROM pathology_prediction WHERE list_contains(?, slide_id)",
        [slide_ids],
    )  # fmt: skip
    return {r[0] for r in rows}


def _predictions(data: DuckDBSource, release: SlideRelease) -> list[PackPrediction]:
    if not release.models:
        return []
    rows = _query(
        data,
        "SELECT p.prediction_id, p.model, p.model_version, p.run_at, p.features, p.classes,"
        " p.heatmap_scale, d.geojson, d.heatmap_png FROM pathology_prediction p"
        " JOIN pathology_prediction_data d USING (prediction_id)"
        " WHERE p.slide_id = ? AND list_contains(?, p.model) ORDER BY p.run_at",
        [release.slide_id, list(release.models)],
    )
    # a prediction is named anew for each release, as the slide is: nothing links two releases
    return [PackPrediction(_renamed(release.release_id, row[0]), *row[1:]) for row in rows]


def _renamed(release_id: str, prediction_id: str) -> str:
    text = f"{release_id}\x00{prediction_id}".encode()
    return "PR" + hashlib.sha256(text).hexdigest()[:20].upper()
