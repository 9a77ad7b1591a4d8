"""Routes of review studies (``hub/studies.py``; the engine is ``fivesafes.pathology.study``).

| route                                         | who                | what                    |
| --------------------------------------------- | ------------------ | ----------------------- |
| ``GET  /api/v1/studies``                       | any caller         | studies they lead or    |
|                                               |                    | read in                 |
| ``POST /api/v1/studies``                       | a project member   | a new study (a draft)   |
| ``GET  /api/v1/studies/{id}``                  | its lead, readers  | the study               |
| ``PUT  /api/v1/studies/{id}``                  | its lead           | a new version           |
| ``POST /api/v1/studies/{id}/propose``          | its lead           | to the nodes' custodians|
| ``POST /api/v1/studies/{id}/cases``            | its lead           | released slides as cases|
| ``POST /api/v1/studies/{id}/allocate``         | its lead           | who reads what          |
| ``POST /api/v1/studies/{id}/reassign``         | its lead           | a reader dropped out    |
| ``POST /api/v1/studies/{id}/lock``             | its lead           | no read changes after   |
| ``GET  /api/v1/studies/{id}/results``          | its lead           | progress; once locked,  |
|                                               |                    | agreement, AI quality   |
| ``GET  /api/v1/studies/{id}/results.csv``      | its lead           | one table as CSV        |
| ``GET  /api/v1/studies/{id}/results.parquet``  | its lead           | one table as Parquet    |
| ``GET  /api/v1/studies/{id}/worklist``         | a reader           | their own reads         |
| ``POST /api/v1/studies/reads/{read}/{step}``   | the read's reader  | open, save, lock,       |
|                                               |                    | reveal, submit          |
| ``GET  /api/v1/node/studies``                  | a node (signed)    | its studies             |
| ``POST /api/v1/node/studies/{id}/approval``    | a node (signed)    | its custodian's approval|

Every refusal is the one error shape; "not found" and "no permission" are one answer.
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from typing import Annotated, Any, Literal

import pandas
from fastapi import APIRouter, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fivesafes.hub import studies
from fivesafes.hub.api.deps import Caller, EnrolledNode, Service
from fivesafes.hub.api.researcher import CSVResponse, csv_response
from fivesafes.pathology.study import results
from fivesafes.pathology.study.design import StudyDesign
from fivesafes.pathology.study.reads import Read
from fivesafes.pathology.study.store import Assigned, Study
from fivesafes.protocol import bounded_json
from fivesafes.protocol.errors import InvalidRequest, MalformedRequest
from fivesafes.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["studies"])
StudyId = Annotated[str, Path(pattern=r"^st_[0-9a-f]{16}$")]
ReadId = Annotated[str, Path(pattern=r"^rd_[0-9a-f]{16}$")]
Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
MAX_READ_BODY = 512 * 1024
READ_BODY_DEPTH = 8  # an answers object, a prediction's answers, a polygon, a point


class StudyView(BaseModel):
    study_id: str
    project_id: str
    version: int
    state: str
    digest: str
    lead: str
    design: StudyDesign
    created_at: datetime
    locked_at: datetime | None


class NewStudy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: Annotated[str, Field(max_length=64)]
    design: StudyDesign


class Cases(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_ids: Annotated[list[Annotated[str, Field(pattern=r"^SL[0-9A-F]{20}$")]],
                          Field(min_length=1, max_length=5000)]  # fmt: skip


class Dropped(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reader: Username


class Counted(BaseModel):
    count: int


class ReadView(BaseModel):
    """A reader's own read: never another reader's, never the case's hospital."""

    read_id: str
    case: str
    position: int
    condition: str
    reread: bool
    state: str
    ai_visible: bool
    unaided: dict[str, Any] | None
    aided: dict[str, Any] | None
    feedback: dict[str, dict[str, Any]]
    seconds: int
    predictions: list[str] = []  # the AI's predictions shown, once they may be (by a step)


class ReadStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phase: Literal["unaided", "aided"] = "unaided"
    answers: dict[str, Any] = {}
    feedback: Annotated[dict[str, dict[str, Any]], Field(max_length=50)] = {}
    seconds: Annotated[int, Field(ge=0, le=3600)] = 0  # "time": the page's heartbeat


FactValue = Annotated[str, Field(max_length=120)]


class NodeApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    custodian: Username
    facts: Annotated[
        dict[
            Annotated[str, Field(pattern=r"^SL[0-9A-F]{20}$")],
            Annotated[dict[Annotated[str, Field(max_length=32)], FactValue], Field(max_length=4)],
        ],
        Field(max_length=5000),
    ] = {}


def _view(study: Study) -> StudyView:
    return StudyView(
        study_id=study.study_id,
        project_id=study.project_id,
        version=study.version,
        state=study.state.value,
        digest=study.design.digest,
        lead=study.created_by,
        design=study.design,
        created_at=study.created_at,
        locked_at=study.locked_at,
    )


def read_view(position: int, read: Read, predictions: list[str] | None = None) -> ReadView:
    return ReadView(
        predictions=predictions or [],
        read_id=read.read_id,
        case=read.case,
        position=position,
        condition=read.condition,
        reread=read.reread,
        state=read.state.value,
        ai_visible=read.ai_visible,
        unaided=read.unaided,
        aided=read.aided,
        feedback=read.feedback,
        seconds=read.seconds,
    )


@router.get("/studies")
async def list_studies(actor: Caller, service: Service) -> list[StudyView]:
    found = await asyncio.to_thread(service.read, lambda s: studies.studies_of(s, actor))
    return [_view(s) for s in found]


@router.post("/studies", status_code=201)
async def create_study(new: NewStudy, actor: Caller, service: Service) -> StudyView:
    study = await asyncio.to_thread(
        service.unit, lambda s: studies.create(s, actor, new.project_id, new.design, utcnow())
    )
    return _view(study)


@router.get("/studies/{study_id}")
async def get_study(study_id: StudyId, actor: Caller, service: Service) -> StudyView:
    study = await asyncio.to_thread(service.read, lambda s: studies.view(s, actor, study_id))
    return _view(study)


@router.put("/studies/{study_id}")
async def edit_study(
    study_id: StudyId, design: StudyDesign, actor: Caller, service: Service
) -> StudyView:
    study = await asyncio.to_thread(
        service.unit, lambda s: studies.edit(s, actor, study_id, design)
    )
    return _view(study)


@router.post("/studies/{study_id}/propose")
async def propose_study(study_id: StudyId, actor: Caller, service: Service) -> StudyView:
    study = await asyncio.to_thread(service.unit, lambda s: studies.propose(s, actor, study_id))
    return _view(study)


@router.post("/studies/{study_id}/cases")
async def add_cases(study_id: StudyId, cases: Cases, actor: Caller, service: Service) -> Counted:
    added = await asyncio.to_thread(
        service.unit, lambda s: studies.add_cases(s, actor, study_id, cases.review_ids)
    )
    return Counted(count=len(added))


@router.post("/studies/{study_id}/allocate")
async def allocate(study_id: StudyId, actor: Caller, service: Service) -> Counted:
    made = await asyncio.to_thread(service.unit, lambda s: studies.allocate(s, actor, study_id))
    cases = await asyncio.to_thread(service.read, lambda s: studies.store(s).cases(study_id))
    for case in cases:  # a reader now sees their cases only through their reads
        service.review_access.forget(case.review_id)
    return Counted(count=len(made))


@router.post("/studies/{study_id}/reassign")
async def reassign(study_id: StudyId, dropped: Dropped, actor: Caller, service: Service) -> Counted:
    made = await asyncio.to_thread(
        service.unit, lambda s: studies.reassign(s, actor, study_id, dropped.reader)
    )
    return Counted(count=len(made))


@router.post("/studies/{study_id}/lock")
async def lock_study(study_id: StudyId, actor: Caller, service: Service) -> StudyView:
    study = await asyncio.to_thread(
        service.unit, lambda s: studies.lock(s, actor, study_id, utcnow())
    )
    return _view(study)


ItemQuery = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


@router.get("/studies/{study_id}/results")
async def study_results(
    study_id: StudyId, actor: Caller, service: Service, item: ItemQuery = None
) -> JSONResponse:
    """The study's results, for its lead: progress at any time; agreement on ``item``, each
    reader against their re-reads, the AI's quality per hospital and month and the aided
    effect once the study is locked."""
    found = await asyncio.to_thread(
        service.read,
        lambda s: studies.results_of(s, actor, study_id, item, service.review_root),
    )
    return JSONResponse(jsonable_encoder(found))


@router.get("/studies/{study_id}/results.csv", response_class=CSVResponse)
async def study_results_csv(
    study_id: StudyId,
    actor: Caller,
    service: Service,
    item: ItemQuery = None,
    table: Literal["agreement", "ai_quality"] = "agreement",
) -> Response:
    """One table of the study's results as CSV (the study locked)."""
    found = await asyncio.to_thread(
        service.read,
        lambda s: studies.results_of(s, actor, study_id, item, service.review_root),
    )
    shown = studies.results_table(found, table)
    return csv_response(results.to_csv(shown), f"{study_id}-{table}.csv")


@router.get(
    "/studies/{study_id}/results.parquet",
    responses={200: {"content": {"application/vnd.apache.parquet": {}}}},
)
async def study_results_parquet(
    study_id: StudyId,
    actor: Caller,
    service: Service,
    item: ItemQuery = None,
    table: Literal["agreement", "ai_quality"] = "agreement",
) -> Response:
    """The same table as Parquet (its columns as the CSV's, numbers typed)."""
    text = (await study_results_csv(study_id, actor, service, item, table)).body
    frame = pandas.read_csv(io.BytesIO(bytes(text)), dtype={"period": str, "site": str})
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    name = f"{study_id}-{table}.parquet"
    return Response(
        out.getvalue(),
        media_type="application/vnd.apache.parquet",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/studies/{study_id}/worklist")
async def worklist(study_id: StudyId, actor: Caller, service: Service) -> list[ReadView]:
    mine: list[Assigned] = await asyncio.to_thread(
        service.read, lambda s: studies.worklist(s, actor, study_id)
    )
    return [read_view(a.position, a.read) for a in mine]


async def read_step_body(request: Request) -> ReadStep:
    """The step's body, read within bounds (size, and depth before it is parsed)."""
    body = await request.body()
    if not body:
        return ReadStep()
    if len(body) > MAX_READ_BODY:
        raise InvalidRequest(f"A read's answers are at most {MAX_READ_BODY // 1024} KiB.")
    try:
        data = bounded_json.loads(body, max_depth=READ_BODY_DEPTH)
    except ValueError:
        raise MalformedRequest("The body is not JSON, or is nested too deeply.") from None
    try:
        return ReadStep.model_validate(data)
    except ValidationError:
        raise InvalidRequest(
            "The body is an object with 'phase', 'answers' and 'feedback' (per prediction)."
        ) from None


@router.post("/studies/reads/{read_id}/{step}")
async def read_step(
    read_id: ReadId,
    step: Literal["open", "save", "lock", "reveal", "submit", "time"],
    request: Request,
    actor: Caller,
    service: Service,
) -> ReadView:
    """One step of the caller's own read."""
    body = await read_step_body(request)
    done: Assigned = await asyncio.to_thread(
        service.unit,
        lambda s: studies.reader_action(
            s,
            actor,
            read_id,
            step,
            now=utcnow(),
            review_root=service.review_root,
            answers=body.answers,
            phase=body.phase,
            feedback=body.feedback or None,
            seconds=body.seconds,
        ),
    )
    shown = await asyncio.to_thread(
        service.read, lambda s: studies.shown_with(s, done, service.review_root)
    )
    return read_view(done.position, done.read, shown)


# ---- nodes -------------------------------------------------------------------------------


@router.get("/node/studies", tags=["node"])
async def node_studies(node: EnrolledNode, service: Service) -> list[StudyView]:
    """The studies this node takes part in that wait for its custodian, or are open."""
    found = await asyncio.to_thread(service.read, lambda s: studies.proposed_for(s, node))
    return [_view(s) for s in found]


@router.post("/node/studies/{study_id}/approval", tags=["node"])
async def node_approval(
    study_id: StudyId, approval: NodeApproval, node: EnrolledNode, service: Service
) -> StudyView:
    """The node's custodian approved one version of the study."""
    study = await asyncio.to_thread(
        service.unit,
        lambda s: studies.approve(
            s, node, study_id, approval.digest, approval.custodian, utcnow(), approval.facts
        ),
    )
    return _view(study)
