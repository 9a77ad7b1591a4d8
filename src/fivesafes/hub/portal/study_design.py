"""A study's lead in the portal: designing a review study and running it (issue 17,
docs/studies.md). The pages beside the reader's (``hub/portal/studies.py``):

| page                                   | what                                               |
| -------------------------------------- | -------------------------------------------------- |
| ``GET/POST /review/studies/new``        | the design form; a draft is made                   |
| ``GET      /review/studies/{id}``       | the study: its design, each node's approval, its   |
|                                        | cases and reads, and its lead's next step          |
| ``GET/POST /review/studies/{id}/edit``  | a new version (an open study waits for approval)   |
| ``POST /review/studies/{id}/propose``   | to the nodes' custodians                           |
| ``POST /review/studies/{id}/cases``     | released slides as its cases                       |
| ``POST /review/studies/{id}/allocate``  | who reads what                                     |
| ``POST /review/studies/{id}/reassign``  | a reader who dropped out                           |
| ``POST /review/studies/{id}/lock``      | no read changes after (ticked to confirm)          |

Every step goes through the same ``hub.studies`` functions and checks as ``/api/v1/studies``;
the form is read into the API's own :class:`StudyDesign`, so a design made here is checked
exactly as one sent to the API. A refusal the lead can act on (the state does not allow it,
the design does not hold) comes back on the page, in words; "not yours" is the one answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import Actor, via_session
from fivesafes.governance.permissions import check_lead_study
from fivesafes.governance.roles import Role
from fivesafes.hub import studies
from fivesafes.hub.api.deps import Service
from fivesafes.hub.db import SLIDE_REVIEWS, Node
from fivesafes.hub.portal import forms
from fivesafes.hub.portal.pages import page
from fivesafes.hub.portal.review import PackOverlays
from fivesafes.hub.projects import member_names, node_names, project_access, projects_visible_to
from fivesafes.hub.service import HubService
from fivesafes.pathology.study.design import CLINICAL_FIELDS, StudyDesign
from fivesafes.pathology.study.forms import shipped_form
from fivesafes.pathology.study.store import Study
from fivesafes.protocol.errors import FivesafesError, InvalidRequest
from fivesafes.storage.types import utcnow
from fivesafes.web.signin import Posting, SignedIn

PREFIX = "/review/studies"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
StudyId = Annotated[str, Path(pattern=r"^st_[0-9a-f]{16}$")]
ProjectId = Annotated[str | None, Query(max_length=64)]
EDIT, RUN = "change the study", "run the study"
MODELS_FROM = 200  # the model names offered are read from at most this many released slides
CLINICAL_LABELS = {"age_band": "Age band", "sex": "Sex", "biopsy_site": "Biopsy site",
                   "diagnosis_code": "Diagnosis code"}  # fmt: skip
DONE = {
    "created": "The study is saved as a draft. Propose it to the hospitals' custodians when "
    "its design is complete.",
    "edited": "The study's design is saved.",
    "proposed": "The study is proposed: each hospital's custodian approves it at their node.",
    "cases": "The slides are the study's cases now.",
    "allocated": "The reads are allocated: each reader has their worklist.",
    "reassigned": "The reader's unfinished reads went to the other readers.",
    "locked": "The study is locked: its results are ready.",
}


# ---- the design form ------------------------------------------------------------------


def design_data(form: FormData) -> dict[str, Any]:
    """The form's fields as a :class:`StudyDesign` is written in JSON (what the API takes)."""
    readers = [r for r in form.getlist("reader") if isinstance(r, str)]
    form_id, _, version = forms.field(form, "form").partition(":")
    data: dict[str, Any] = {
        "title": forms.field(form, "title"),
        "purpose": forms.field(form, "purpose"),
        "nodes": [n for n in form.getlist("nodes") if isinstance(n, str)],
        "clinical_fields": [c for c in form.getlist("clinical_fields") if isinstance(c, str)],
        "model": forms.field(form, "model"),
        "readers": [{"username": r, "site": forms.field(form, f"site_{r}")} for r in readers],
        "allocation": {
            "reads_per_case": forms.field(form, "reads_per_case") or "2",
            "exclude_own_site": forms.field(form, "exclude_own_site") == "on",
            "reread_fraction": _fraction(forms.field(form, "reread_percent")),
            "washout_days": forms.field(form, "washout_days") or "14",
        },
        "design": forms.field(form, "design") or "sequential",
        "form": {"form_id": form_id, "version": version},
    }
    if forms.field(form, "ai_item"):
        data["ai_answer"] = {name: forms.field(form, f"ai_{name}")
                             for name in ("item", "yes", "no", "when_class")}  # fmt: skip
    if forms.field(form, "deadline"):
        data["deadline"] = forms.field(form, "deadline")
    return data


def _fraction(percent: str) -> str | float:
    """The re-read share as typed in percent; what is not a number is left for the model to
    refuse in words."""
    try:
        return float(percent or "0") / 100
    except ValueError:
        return percent


def form_values(design: dict[str, Any]) -> dict[str, Any]:
    """What the form shows of a design (as JSON): back into its fields."""
    allocation = design.get("allocation") or {}
    ai = design.get("ai_answer") or {}
    ref = design.get("form") or {}
    try:
        percent = round(float(allocation.get("reread_fraction") or 0) * 100)
    except (TypeError, ValueError):
        percent = 0
    return {
        "title": design.get("title", ""),
        "purpose": design.get("purpose", ""),
        "nodes": list(design.get("nodes") or []),
        "clinical_fields": list(design.get("clinical_fields") or []),
        "model": design.get("model", ""),
        "readers": [r.get("username") for r in design.get("readers") or []],
        "sites": {r.get("username"): r.get("site", "") for r in design.get("readers") or []},
        "reads_per_case": allocation.get("reads_per_case", 2),
        "exclude_own_site": allocation.get("exclude_own_site", True),
        "reread_percent": percent,
        "washout_days": allocation.get("washout_days", 14),
        "design": design.get("design", "sequential"),
        "form": f"{ref.get('form_id', '')}:{ref.get('version', '')}",
        **{f"ai_{k}": ai.get(k, "") for k in ("item", "yes", "no", "when_class")},
        "deadline": design.get("deadline") or "",
    }


def _new_values() -> dict[str, Any]:
    first = sorted(studies.SHIPPED_FORMS)[0]
    return form_values({"form": {"form_id": first, "version": shipped_form(first).version},
                        "allocation": {}, "readers": []})  # fmt: skip


def _leads(session: Session, actor: Actor) -> list[Any]:
    """The projects where the actor may lead a study today."""
    found = []
    for project in projects_visible_to(session, actor):
        try:
            check_lead_study(actor, project_access(session, project), utcnow().date())
        except FivesafesError:
            continue
        found.append(project)
    return found


@dataclass(frozen=True)
class Reviewer:
    username: str
    name: str
    organisation: str


def choices(session: Session, service: HubService, actor: Actor, project_id: str | None
            ) -> dict[str, Any]:  # fmt: skip
    """What the form offers: the projects the actor may lead a study of; for the chosen one,
    its nodes, its members holding ``reviewer`` and the models of the slides released to it;
    the shipped forms and their coded items."""
    projects = _leads(session, actor)
    chosen = next((p for p in projects if p.id == project_id), None)
    if chosen is None and len(projects) == 1 and project_id is None:
        chosen = projects[0]
    offered: dict[str, Any] = {"projects": projects, "project": chosen, "nodes": [],
                               "reviewers": [], "models": [], "sites": []}  # fmt: skip
    offered["forms"] = [shipped_form(f) for f in sorted(studies.SHIPPED_FORMS)]
    offered["clinical"] = [(c, CLINICAL_LABELS[c]) for c in CLINICAL_FIELDS]
    offered["sites"] = list(session.scalars(select(Node.name).order_by(Node.name)))
    if chosen is None:
        return offered
    offered["nodes"] = node_names(session, chosen.id)
    for username in sorted(member_names(session, chosen.id)):
        account = service.account_store.find(session, username)
        if account is not None and account.holds(Role.REVIEWER) and not account.disabled:
            offered["reviewers"].append(
                Reviewer(username, account.display_name, account.organisation or "")
            )
    released = session.scalars(
        select(SLIDE_REVIEWS.c.review_id)
        .where(SLIDE_REVIEWS.c.project_id == chosen.id, SLIDE_REVIEWS.c.state == "ready")
        .limit(MODELS_FROM)
    )
    overlays = PackOverlays(service.review_root)
    offered["models"] = sorted({p.model for r in released for p in overlays.predictions(r)})
    return offered


async def _form_page(
    request: Request,
    service: HubService,
    web: WebSession,
    *,
    values: dict[str, Any],
    project_id: str | None,
    study: Study | None = None,
    problems: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    actor = via_session(web.account)
    offered = await asyncio.to_thread(
        service.read, lambda s: choices(s, service, actor, project_id)
    )
    chosen = next((f for f in offered["forms"] if values["form"] == f"{f.form_id}:{f.version}"),
                  offered["forms"][0])  # fmt: skip
    offered["ai_items"] = [i for i in chosen.items_for("case") if i.kind in ("choice", "ordinal")]
    title = "Design a review study" if study is None else f"Edit {study.design.title}"
    return page(request, service, web, "studies/design_form.html", title=title,
                status_code=422 if problems else 200, values=values, study=study,
                problems=problems or [], base=PREFIX, **offered)  # fmt: skip


@router.get("/new", response_class=HTMLResponse)
async def new_study(
    request: Request, service: Service, web: SignedIn, project: ProjectId = None
) -> HTMLResponse:
    """The design form; first the project, when the actor leads studies in more than one."""
    return await _form_page(request, service, web, values=_new_values(),
                            project_id=project)  # fmt: skip


REREAD = "allocation / reread fraction"  # typed in percent on the form


def _parsed(data: dict[str, Any]) -> tuple[StudyDesign | None, list[tuple[str, str]]]:
    """The design, or its problems as the form asks (one about the design as a whole said as
    such; the re-read share in percent, as it is typed)."""
    parsed, said = forms.parse(StudyDesign, data)
    problems = []
    for where, what in said:
        if where == REREAD:
            where, what = "re-read (%)", what.replace("0.5", "50").replace("0.0", "0")
        problems.append(("design" if where == "(parameters)" else where, what))
    return parsed, problems


def _problems_of(exc: FivesafesError) -> list[tuple[str, str]]:
    if exc.status in (403, 404):  # who may act: the error page, not the form
        raise exc
    return [("study", exc.message)]


@router.post("/new", response_class=HTMLResponse)
async def create_study(request: Request, service: Service, web: Posting) -> Response:
    actor = via_session(web.account)
    form = await request.form()
    project_id = forms.field(form, "project")[:64]
    data = design_data(form)
    parsed, problems = _parsed(data)
    if parsed is not None:
        design = parsed
        try:
            made: Study = await asyncio.to_thread(
                service.unit, lambda s: studies.create(s, actor, project_id, design, utcnow())
            )
        except FivesafesError as exc:
            problems = _problems_of(exc)
        else:
            return RedirectResponse(f"{PREFIX}/{made.study_id}?done=created", status_code=303)
    return await _form_page(request, service, web, values=form_values(data),
                            project_id=project_id or None, problems=problems)  # fmt: skip


@router.get("/{study_id}/edit", response_class=HTMLResponse)
async def edit_form(
    study_id: StudyId, request: Request, service: Service, web: SignedIn
) -> HTMLResponse:
    actor = via_session(web.account)
    study = await asyncio.to_thread(
        service.read, lambda s: studies.lead_study(s, actor, study_id, EDIT, acting=True)
    )
    values = form_values(study.design.model_dump(mode="json"))
    return await _form_page(request, service, web, values=values, project_id=study.project_id,
                            study=study)  # fmt: skip


@router.post("/{study_id}/edit", response_class=HTMLResponse)
async def edit_study(
    study_id: StudyId, request: Request, service: Service, web: Posting
) -> Response:
    actor = via_session(web.account)
    study = await asyncio.to_thread(
        service.read, lambda s: studies.lead_study(s, actor, study_id, EDIT, acting=True)
    )
    data = design_data(await request.form())
    parsed, problems = _parsed(data)
    if parsed is not None:
        design = parsed
        try:
            await asyncio.to_thread(
                service.unit, lambda s: studies.edit(s, actor, study_id, design)
            )
        except FivesafesError as exc:
            problems = _problems_of(exc)
        else:
            return RedirectResponse(f"{PREFIX}/{study_id}?done=edited", status_code=303)
    return await _form_page(request, service, web, values=form_values(data), study=study,
                            project_id=study.project_id, problems=problems)  # fmt: skip


# ---- the study's page and its lead's steps ---------------------------------------------


def study_page(session: Session, actor: Actor, study_id: str) -> dict[str, Any]:
    """The study as its project's members see it; its approvals, cases, reads and the slides
    it could take as cases for its lead."""
    study = studies.view(session, actor, study_id)
    store = studies.store(session)
    lead = actor.username == study.created_by
    approvals = store.approvals(study_id)
    deadline = study.design.deadline
    overdue = None if deadline is None else utcnow().date() > deadline
    shown: dict[str, Any] = {"study": study, "lead": lead, "overdue": overdue}
    shown["approvals"] = [
        (node, "approved" if a is not None and a.digest == study.design.digest else
         "an earlier version" if a is not None else "waiting", a)
        for node in study.design.nodes for a in [approvals.get(node)]
    ]  # fmt: skip
    if not lead:
        return shown
    cases = store.cases(study_id)
    reads = store.reads(study_id)
    per_site: dict[str, int] = {}
    for case in cases:
        per_site[case.site] = per_site.get(case.site, 0) + 1
    per_reader: dict[str, list[int]] = {r.username: [0, 0] for r in study.design.readers}
    for a in reads:
        if a.read.state.value == "withdrawn":
            continue
        counts = per_reader.setdefault(a.read.reader, [0, 0])
        counts[0] += 1
        counts[1] += a.read.state.value == "submitted"
    shown |= {"cases": len(cases), "per_site": per_site, "reads": len(reads),
              "per_reader": per_reader, "released": []}  # fmt: skip
    if study.state.value == "open" and not reads:
        taken = {c.review_id for c in cases}
        t = SLIDE_REVIEWS
        rows = session.execute(
            select(t.c.review_id, t.c.node, t.c.facts, t.c.ready_at)
            .where(t.c.project_id == study.project_id, t.c.state == "ready",
                   t.c.node.in_(study.design.nodes))
            .order_by(t.c.node, t.c.ready_at)
        ).all()  # fmt: skip
        shown["released"] = [r for r in rows if r.review_id not in taken]
    return shown


async def _study_response(
    request: Request,
    service: HubService,
    web: WebSession,
    study_id: str,
    *,
    done: str | None = None,
    problem: FivesafesError | None = None,
) -> HTMLResponse:
    actor = via_session(web.account)
    shown = await asyncio.to_thread(service.read, lambda s: study_page(s, actor, study_id))
    return page(request, service, web, "studies/study.html", title=shown["study"].design.title,
                status_code=problem.status if problem else 200, base=PREFIX,
                done=DONE.get(done or ""), problem=problem.message if problem else None,
                clinical_labels=CLINICAL_LABELS, **shown)  # fmt: skip


@router.get("/{study_id}", response_class=HTMLResponse)
async def study_view(
    study_id: StudyId, request: Request, service: Service, web: SignedIn,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:  # fmt: skip
    return await _study_response(request, service, web, study_id, done=done)


async def _step(
    request: Request, service: HubService, web: WebSession, study_id: str, done: str, work: Any
) -> Response:
    """One step of the study's lead: back to its page, told what happened or why not."""
    actor = via_session(web.account)
    form = await request.form()
    try:
        await asyncio.to_thread(service.unit, lambda s: work(s, actor, form))
    except FivesafesError as exc:
        if exc.status in (403, 404):
            raise
        return await _study_response(request, service, web, study_id, problem=exc)
    return RedirectResponse(f"{PREFIX}/{study_id}?done={done}", status_code=303)


@router.post("/{study_id}/propose", response_class=HTMLResponse)
async def propose(study_id: StudyId, request: Request, service: Service, web: Posting) -> Response:
    return await _step(request, service, web, study_id, "proposed",
                       lambda s, actor, _: studies.propose(s, actor, study_id))  # fmt: skip


@router.post("/{study_id}/cases", response_class=HTMLResponse)
async def add_cases(
    study_id: StudyId, request: Request, service: Service, web: Posting
) -> Response:
    def work(session: Session, actor: Actor, form: FormData) -> None:
        studies.lead_study(session, actor, study_id, RUN, acting=True)  # before what was sent
        chosen = [r for r in form.getlist("review_id") if isinstance(r, str)][:5000]
        if not chosen:
            raise InvalidRequest("Choose at least one released slide.")
        studies.add_cases(session, actor, study_id, chosen)

    return await _step(request, service, web, study_id, "cases", work)


@router.post("/{study_id}/allocate", response_class=HTMLResponse)
async def allocate(study_id: StudyId, request: Request, service: Service, web: Posting) -> Response:
    return await _step(request, service, web, study_id, "allocated",
                       lambda s, actor, _: studies.allocate(s, actor, study_id))  # fmt: skip


@router.post("/{study_id}/reassign", response_class=HTMLResponse)
async def reassign(study_id: StudyId, request: Request, service: Service, web: Posting) -> Response:
    def work(session: Session, actor: Actor, form: FormData) -> None:
        studies.lead_study(session, actor, study_id, RUN, acting=True)
        reader = forms.field(form, "reader")[:64]
        if not reader:
            raise InvalidRequest("Choose the reader who dropped out.")
        studies.reassign(session, actor, study_id, reader)

    return await _step(request, service, web, study_id, "reassigned", work)


@router.post("/{study_id}/lock", response_class=HTMLResponse)
async def lock(study_id: StudyId, request: Request, service: Service, web: Posting) -> Response:
    def work(session: Session, actor: Actor, form: FormData) -> None:
        studies.lead_study(session, actor, study_id, RUN, acting=True)
        if forms.field(form, "confirm") != "lock":
            raise InvalidRequest("Tick the box to confirm: once locked, no read can change.")
        studies.lock(session, actor, study_id, utcnow())

    return await _step(request, service, web, study_id, "locked", work)
