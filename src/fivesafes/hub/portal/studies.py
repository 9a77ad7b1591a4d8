"""A reader's pages of review studies (``/review/studies``; issue 17, docs/studies.md): their
worklist, and one read: the case's slide in the viewer with the study's form beside it.

Everything a read page loads is named by the read (``/review/studies/reads/{read}/...``),
never by the slide's release or its hospital: the descriptor, the tiles (each written to the
reader's viewport trail, as on ``/review/slides``), and the AI's predictions, which answer
"does not exist" until the read may show them (a sequential read's unaided part locked). Only
the read's own reader gets anything; to anyone else a read does not exist. The steps (open,
save, lock, reveal, submit) are POSTs with the session's CSRF token, answered as JSON, through
the same ``hub.studies.reader_action`` as the API.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.analyses.results.svg import drawn
from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import via_session
from fivesafes.hub import studies
from fivesafes.hub.api.deps import Service
from fivesafes.hub.api.researcher import csv_response
from fivesafes.hub.api.studies import read_step_body, read_view
from fivesafes.hub.db import SLIDE_REVIEWS
from fivesafes.hub.portal.pages import page
from fivesafes.hub.portal.review import PackOverlays, region_of
from fivesafes.hub.service import HubService
from fivesafes.pathology.portal.routes import NOSNIFF, TILE_CACHE, _index, _prediction, listing_of
from fivesafes.pathology.study.forms import Form
from fivesafes.pathology.study.quality import QualityReport
from fivesafes.pathology.study.results import to_csv
from fivesafes.pathology.study.store import Assigned, Study
from fivesafes.protocol.errors import NotFoundOrNoPermission
from fivesafes.storage.types import utcnow
from fivesafes.web.signin import Posting, SignedIn

PREFIX = "/review/studies"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
ReadId = Annotated[str, Path(pattern=r"^rd_[0-9a-f]{16}$")]
StudyId = Annotated[str, Path(pattern=r"^st_[0-9a-f]{16}$")]
SEEN_SECONDS = 5.0  # a tile's read checked again after this
CLINICAL_LABELS = {"age_band": "Age band", "sex": "Sex", "biopsy_site": "Biopsy site",
                   "diagnosis_code": "Diagnosis"}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """What a read page needs of its case, found by the hub (never shown: ``review_id``)."""

    study: Study
    assigned: Assigned
    review_id: str
    facts: dict[str, Any]


def _case(session: Session, web: WebSession, read_id: str) -> Case:
    actor = via_session(web.account)
    study, assigned = studies.own_read(session, actor, read_id)
    cases = studies.store(session).cases(study.study_id)
    found = next((c for c in cases if c.case == assigned.read.case), None)
    if found is None:
        raise NotFoundOrNoPermission("case")
    facts = session.execute(
        select(SLIDE_REVIEWS.c.facts).where(
            SLIDE_REVIEWS.c.review_id == found.review_id, SLIDE_REVIEWS.c.state == "ready"
        )
    ).scalar()
    if facts is None:  # withdrawn by its node since: the read cannot show it
        raise NotFoundOrNoPermission("case")
    return Case(study, assigned, found.review_id, dict(facts))


class _Seen:
    """Each reader's reads checked in the last few seconds, for tiles (many per second)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str], tuple[float, Case]] = {}

    def case(self, service: HubService, web: WebSession, read_id: str) -> Case:
        key, tick = (web.account.username, read_id), time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] > tick:
            return kept[1]
        found: Case = service.read(lambda s: _case(s, web, read_id))
        with self._lock:
            if len(self._kept) > 10_000:
                self._kept.clear()
            self._kept[key] = (tick + SEEN_SECONDS, found)
        return found


SEEN = _Seen()


@router.get("", response_class=HTMLResponse)
async def worklists(request: Request, service: Service, web: SignedIn) -> HTMLResponse:
    """The studies the signed-in person leads or reads in, and their own reads in order."""
    actor = via_session(web.account)

    def gather(session: Session) -> list[dict[str, Any]]:
        shown = []
        for study in studies.studies_of(session, actor):
            reads = studies.store(session).reads(study.study_id, actor.username)
            mine = [a for a in reads if a.read.state.value != "withdrawn"]
            shown.append({"study": study, "reads": mine})
        return shown

    found = await asyncio.to_thread(service.read, gather)
    return page(request, service, web, "studies/worklist.html", title="Review studies",
                studies=found, base=PREFIX, today=utcnow().date())  # fmt: skip


def _form_context(form: Form, case: Case) -> dict[str, Any]:
    read = case.assigned.read
    phase = "unaided" if read.condition == "unaided" or not read.ai_visible else "aided"
    answers = (read.unaided if phase == "unaided" else read.aided) or {}
    return {
        "form": form,
        "case_items": form.items_for("case"),
        "prediction_items": form.items_for("prediction"),
        "phase": phase,
        "answers": answers,
        "feedback": read.feedback,
    }


@router.get("/reads/{read_id}", response_class=HTMLResponse)
async def read_page(
    read_id: ReadId, request: Request, service: Service, web: SignedIn
) -> HTMLResponse:
    """One read: the case in the viewer, the form beside it, the step it is at."""
    case = await asyncio.to_thread(service.read, lambda s: _case(s, web, read_id))
    clinical = await asyncio.to_thread(
        service.read, lambda s: studies.facts_of(s, case.study, case.review_id)
    )
    form = studies.form_of(case.study.design)
    read = case.assigned.read
    base = f"{PREFIX}/reads/{read_id}"
    predictions = []
    if read.ai_visible:
        overlays = PackOverlays(service.review_root)
        model = case.study.design.model
        predictions = [p for p in overlays.predictions(case.review_id) if p.model == model]
    return page(
        request, service, web, "studies/read.html", title=f"Case {read.case}",
        read=read, position=case.assigned.position, study=case.study, base=base,
        dzi=f"{base}/dzi.json", predictions_url=f"{base}/predictions.json" if read.ai_visible
        else "", predictions=predictions, width=case.facts.get("width"),
        height=case.facts.get("height"), worklist=PREFIX, clinical=clinical,
        clinical_labels=CLINICAL_LABELS, **_form_context(form, case),
    )  # fmt: skip


@router.get("/reads/{read_id}/dzi.json")
def descriptor(read_id: ReadId, service: Service, web: SignedIn) -> Response:
    case = SEEN.case(service, web, read_id)
    dzi = service.review_tiles.descriptor(case.review_id)
    body = dzi.as_json(f"{PREFIX}/reads/{read_id}/tiles/")
    return JSONResponse(body, headers={"Cache-Control": "no-store", **NOSNIFF})


@router.get("/reads/{read_id}/tiles/{level}/{col}_{row}.jpeg")
def tile(
    read_id: ReadId, level: str, col: str, row: str, service: Service, web: SignedIn
) -> Response:
    """A tile of the case's slide; written to the reader's viewport trail."""
    case = SEEN.case(service, web, read_id)
    where = _index(level), _index(col), _index(row)
    found = service.review_tiles.tile(case.review_id, *where)
    region = region_of(case.facts, *where)
    service.trail.saw(web.account.username, case.review_id, case.study.project_id, where[0],
                      region)  # fmt: skip
    headers = {"Cache-Control": TILE_CACHE, "ETag": found.etag, **NOSNIFF}
    return Response(found.data, media_type="image/jpeg", headers=headers)


def _shown(service: HubService, web: WebSession, read_id: str) -> Case:
    """The case, if its read may show the AI now (checked afresh: never from the cache); one
    answer for a read that is not theirs, not there, or not yet showing the AI."""
    try:
        case: Case = service.read(lambda s: _case(s, web, read_id))
    except NotFoundOrNoPermission:
        raise NotFoundOrNoPermission("prediction") from None
    if not case.assigned.read.ai_visible:
        raise NotFoundOrNoPermission("prediction")
    return case


@router.get("/reads/{read_id}/predictions.json")
def predictions(read_id: ReadId, service: Service, web: SignedIn) -> Response:
    case = _shown(service, web, read_id)
    model = case.study.design.model
    here = f"{PREFIX}/reads/{read_id}/predictions"
    listed = [p for p in PackOverlays(service.review_root).predictions(case.review_id)
              if p.model == model]  # fmt: skip
    body = {
        "slide": {"id": case.assigned.read.case, "width": case.facts.get("width"),
                  "height": case.facts.get("height")},
        "predictions": [listing_of(p, f"{here}/{p.prediction_id}") for p in listed],
    }  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": "no-store", **NOSNIFF})


def _prediction_data(
    service: HubService, web: WebSession, read_id: str, prediction_id: str, kind: str
) -> Response:
    case = _shown(service, web, read_id)
    overlays = PackOverlays(service.review_root)
    pid = _prediction(prediction_id)
    ours = {p.prediction_id for p in overlays.predictions(case.review_id)
            if p.model == case.study.design.model}  # fmt: skip
    data = None
    if pid in ours:
        read = overlays.annotations if kind == "annotations" else overlays.heatmap
        data = read(case.review_id, pid)
    if data is None:
        raise NotFoundOrNoPermission("prediction")
    media = "application/geo+json" if kind == "annotations" else "image/png"
    return Response(data, media_type=media, headers={"Cache-Control": "no-store", **NOSNIFF})


@router.get("/reads/{read_id}/predictions/{prediction_id}/annotations.json")
def prediction_annotations(
    read_id: ReadId, prediction_id: str, service: Service, web: SignedIn
) -> Response:
    return _prediction_data(service, web, read_id, prediction_id, "annotations")


@router.get("/reads/{read_id}/predictions/{prediction_id}/heatmap.png")
def prediction_heatmap(
    read_id: ReadId, prediction_id: str, service: Service, web: SignedIn
) -> Response:
    return _prediction_data(service, web, read_id, prediction_id, "heatmap")


@router.post("/reads/{read_id}/{step}")
async def step(
    read_id: ReadId,
    step: Literal["open", "save", "lock", "reveal", "submit", "time"],
    request: Request,
    service: Service,
    web: Posting,
) -> JSONResponse:
    """One step of the reader's own read, from the page (the CSRF token in its header)."""
    body = await read_step_body(request)
    actor = via_session(web.account)
    done: Assigned = await asyncio.to_thread(
        service.unit,
        lambda s: studies.reader_action(
            s, actor, read_id, step, now=utcnow(), review_root=service.review_root,
            answers=body.answers, phase=body.phase, feedback=body.feedback or None,
            seconds=body.seconds,
        ),
    )  # fmt: skip
    return JSONResponse(read_view(done.position, done.read).model_dump(mode="json"))


# ---- the study's results, for its lead -------------------------------------------------


def quality_chart(report: QualityReport) -> str | None:
    """The AI's accuracy per hospital and month against the panel, with 95% intervals; a
    month whose interval lies wholly below the hospital's baseline is marked (drift)."""
    if not any(site.periods for site in report.sites):
        return None

    def draw() -> Any:
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(7.0, 3.2))
        months = sorted({str(p.period) for site in report.sites for p in site.periods})
        where = {m: i for i, m in enumerate(months)}
        for site in report.sites:
            xs = [where[str(p.period)] for p in site.periods]
            acc = [p.performance.accuracy for p in site.periods]
            ys = [a.estimate for a in acc]
            errors = [[y - a.low for y, a in zip(ys, acc, strict=True)],
                      [a.high - y for y, a in zip(ys, acc, strict=True)]]  # fmt: skip
            line = axes.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=site.site)
            drifted = [(x, y) for x, y, p in zip(xs, ys, site.periods, strict=True) if p.drift]
            if drifted:
                dx, dy = [x for x, _ in drifted], [y for _, y in drifted]
                axes.scatter(dx, dy, s=140, facecolors="none", edgecolors="red", linewidths=2,
                             zorder=5)  # fmt: skip
            line.lines[0].set_linewidth(1.5)
        axes.set_xticks(range(len(months)), months)
        axes.set_ylim(0, 1.02)
        axes.set_ylabel("AI accuracy vs the panel")
        axes.legend(frameon=False, fontsize=8)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        return figure

    return drawn(draw)


@router.get("/{study_id}/results", response_class=HTMLResponse)
async def results_page(
    study_id: StudyId, request: Request, service: Service, web: SignedIn,
    item: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = None,
) -> HTMLResponse:  # fmt: skip
    """The study's progress and, once locked, its results, for its lead."""
    actor = via_session(web.account)
    found = await asyncio.to_thread(
        service.read, lambda s: studies.results_of(s, actor, study_id, item, service.review_root)
    )
    study = await asyncio.to_thread(service.read, lambda s: studies.view(s, actor, study_id))
    form = studies.form_of(study.design)
    coded = [i for i in form.items_for("case") if i.kind in ("choice", "ordinal", "integer")]
    quality = found.get("ai_quality")
    chart = quality_chart(quality) if isinstance(quality, QualityReport) else None
    title = f"Results: {study.design.title}"
    return page(request, service, web, "studies/results.html", title=title, study=study,
                found=found, items=coded, chart=chart, base=f"{PREFIX}/{study_id}")  # fmt: skip


@router.get("/{study_id}/results.csv")
async def results_csv(
    study_id: StudyId, service: Service, web: SignedIn,
    table: Literal["agreement", "ai_quality"] = "agreement",
    item: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = None,
) -> Response:  # fmt: skip
    actor = via_session(web.account)
    found = await asyncio.to_thread(
        service.read, lambda s: studies.results_of(s, actor, study_id, item, service.review_root)
    )
    shown = studies.results_table(found, table)
    return csv_response(to_csv(shown), f"{study_id}-{table}.csv")
