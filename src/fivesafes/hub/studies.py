"""Review studies at the hub: the study engine (``fivesafes.pathology.study``) over the hub's
database, its projects and its review store.

What the engine cannot know, the hub checks here, in the same transaction as the action:

- a study belongs to a project, and only the project's members see it: a lead who left the
  project, or a reader removed from it, is told the study does not exist;
- its lead creates it as a researcher may submit work (a member, accredited, with a token that
  may submit); every reader is a member of the project; every node takes part in the project;
- its cases are slides its nodes released to the project, ready in the review store;
- a reader's feedback is on the predictions of the study's model sent with the case's slide;
- a node's custodian approves a version through the node's signed request (``approve``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.governance.people import Actor
from fivesafes.governance.permissions import (
    ProjectAccess,
    check_lead_study,
    check_read_case,
    check_see_study,
)
from fivesafes.hub.db import AUDIT, SLIDE_REVIEWS, STUDIES, Node, Project
from fivesafes.hub.projects import member_names, node_names, project_access
from fivesafes.hub.review import pack_path
from fivesafes.pathology.study import actions, results
from fivesafes.pathology.study.agreement import Answer
from fivesafes.pathology.study.design import StudyDesign, check_with_form
from fivesafes.pathology.study.forms import Form, FormError, shipped_form
from fivesafes.pathology.study.quality import QualityReport
from fivesafes.pathology.study.reads import Phase, Read
from fivesafes.pathology.study.results import AgreementTable
from fivesafes.pathology.study.sql_store import SqlStudies
from fivesafes.pathology.study.store import Assigned, Study, StudyCase
from fivesafes.protocol.errors import (
    Conflict,
    FivesafesError,
    Forbidden,
    InvalidRequest,
    NotFoundOrNoPermission,
)
from fivesafes.slides.pack import TilePack
from fivesafes.storage.types import utcnow

SHIPPED_FORMS = ("lung_biopsy",)


def store(session: Session) -> SqlStudies:
    return SqlStudies(session, STUDIES, AUDIT)


def form_of(design: StudyDesign) -> Form:
    """The form a design names: one shipped with the platform, at that version."""
    if design.form.form_id in SHIPPED_FORMS:
        form = shipped_form(design.form.form_id)
        if form.version == design.form.version:
            return form
    raise FormError("The study names a form (or a version of it) the hub does not have.")


def _project(session: Session, actor: Actor, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None or actor.username not in member_names(session, project_id):
        raise NotFoundOrNoPermission("project")
    return project


def _access(session: Session, project_id: str) -> ProjectAccess:
    project = session.get(Project, project_id)
    assert project is not None  # a study's project is never deleted
    return project_access(session, project)


def _checked_design(session: Session, project_id: str, design: StudyDesign) -> None:
    check_with_form(design, form_of(design))
    members = set(member_names(session, project_id))
    if any(r.username not in members for r in design.readers):
        raise InvalidRequest("Every reader must be a member of the project: add them first.")
    nodes = set(node_names(session, project_id))
    if any(n not in nodes for n in design.nodes):
        raise InvalidRequest("Every node of the study must take part in the project.")


def _study(session: Session, actor: Actor, study_id: str, *, lead: bool = True) -> Study:
    """The study, if ``actor`` is still a member of its project and (``lead``) may lead
    studies there; then the engine decides who is its lead and who its readers."""
    study = store(session).study(study_id)
    if study is None:
        raise NotFoundOrNoPermission("study")
    access = _access(session, study.project_id)
    if lead:
        check_lead_study(actor, access, _today())
    else:
        check_see_study(actor, access)
    return study


def _today() -> date:
    return utcnow().date()


def create(
    session: Session, actor: Actor, project_id: str, design: StudyDesign, now: datetime
) -> Study:
    project = _project(session, actor, project_id)
    check_lead_study(actor, project_access(session, project), now.date())
    _checked_design(session, project_id, design)
    return actions.create_study(store(session), project_id, design, by=actor.username, now=now)


def view(session: Session, actor: Actor, study_id: str) -> Study:
    _study(session, actor, study_id, lead=False)
    return actions.study_for(store(session), study_id, by=actor.username)


def studies_of(session: Session, actor: Actor) -> list[Study]:
    """The studies the actor leads or reads in, of the projects they are a member of."""
    found = []
    for study in store(session).studies():
        try:
            check_see_study(actor, _access(session, study.project_id))
        except FivesafesError:
            continue
        if actor.username == study.created_by or actor.username in {
            r.username for r in study.design.readers
        }:
            found.append(study)
    return found


def edit(session: Session, actor: Actor, study_id: str, design: StudyDesign) -> Study:
    study = _study(session, actor, study_id)
    _checked_design(session, study.project_id, design)
    return actions.edit_study(store(session), study_id, design, by=actor.username)


def propose(session: Session, actor: Actor, study_id: str) -> Study:
    _study(session, actor, study_id)
    return actions.propose_study(store(session), study_id, by=actor.username)


def add_cases(
    session: Session, actor: Actor, study_id: str, review_ids: list[str]
) -> list[StudyCase]:
    """Cases from the review store: slides released to the study's project, ready."""
    study = _study(session, actor, study_id)
    if len(set(review_ids)) != len(review_ids):
        raise InvalidRequest("A slide is named twice.")
    t = SLIDE_REVIEWS
    rows = session.execute(
        select(t.c.review_id, t.c.node).where(
            t.c.review_id.in_(review_ids), t.c.project_id == study.project_id, t.c.state == "ready"
        )
    ).all()
    if len(rows) != len(review_ids):
        raise InvalidRequest(
            "Every case must be a slide released to the study's project and ready for review."
        )
    released = [(r.review_id, r.node) for r in rows]
    return actions.add_cases(store(session), study_id, released, by=actor.username)


def allocate(session: Session, actor: Actor, study_id: str) -> list[Assigned]:
    _study(session, actor, study_id)
    return actions.allocate_reads(store(session), study_id, by=actor.username)


def reassign(session: Session, actor: Actor, study_id: str, reader: str) -> list[Assigned]:
    _study(session, actor, study_id)
    return actions.reassign_reader(store(session), study_id, reader, by=actor.username)


def lock(session: Session, actor: Actor, study_id: str, now: datetime) -> Study:
    _study(session, actor, study_id)
    return actions.lock_study(store(session), study_id, by=actor.username, now=now)


def approve(
    session: Session,
    node: Node,
    study_id: str,
    digest: str,
    by: str,
    now: datetime,
    facts: dict[str, dict[str, str]] | None = None,
) -> Study:
    """A node's custodian approved a version (the node's signed request says who), with the
    clinical facts its released slides may show as cases (each gated at the node; kept only
    for that node's own slides of the study's project, and only the fields the study asks)."""
    study = actions.approve_study(store(session), study_id, node.name, digest, by=by, now=now)
    if facts:
        _keep_facts(session, node, study, facts)
    return study


def _keep_facts(
    session: Session, node: Node, study: Study, facts: dict[str, dict[str, str]]
) -> None:
    t, kept = SLIDE_REVIEWS, STUDIES.facts
    theirs = set(
        session.scalars(
            select(t.c.review_id).where(
                t.c.review_id.in_(list(facts)), t.c.node == node.name,
                t.c.project_id == study.project_id,
            )
        )
    )  # fmt: skip
    asked = set(study.design.clinical_fields)
    if set(facts) - theirs or any(set(f) - asked for f in facts.values()):
        raise InvalidRequest(
            "Clinical facts are sent only for the node's own slides of the study's project, "
            "and only of the fields the study asks for."
        )
    for review_id, shown in facts.items():
        session.execute(
            kept.delete().where(kept.c.study_id == study.study_id, kept.c.review_id == review_id)
        )
        session.execute(
            kept.insert().values(study_id=study.study_id, review_id=review_id, facts=shown)
        )


def facts_of(session: Session, study: Study, review_id: str) -> dict[str, str]:
    """The clinical facts a case may show (as its node sent them), in the study's order."""
    kept = STUDIES.facts
    found = session.execute(
        select(kept.c.facts).where(kept.c.study_id == study.study_id, kept.c.review_id == review_id)
    ).scalar()
    shown = dict(found or {})
    return {f: shown[f] for f in study.design.clinical_fields if f in shown}


def proposed_for(session: Session, node: Node) -> list[Study]:
    """The studies a node takes part in that wait for approval or are open (a node pulls
    them, as it pulls projects)."""
    return [
        s
        for s in store(session).studies()
        if node.name in s.design.nodes and s.state.value in ("awaiting", "open")
    ]


# ---- a reader ---------------------------------------------------------------------------


def worklist(session: Session, actor: Actor, study_id: str) -> list[Assigned]:
    _study(session, actor, study_id, lead=False)
    return actions.worklist(store(session), study_id, by=actor.username)


def own_read(session: Session, actor: Actor, read_id: str) -> tuple[Study, Assigned]:
    """The actor's own read, and its study; to anyone else it does not exist."""
    assigned = store(session).assigned(read_id)
    study = store(session).study(assigned.study_id) if assigned is not None else None
    if assigned is None or study is None or assigned.read.reader != actor.username:
        raise NotFoundOrNoPermission("case")  # another reader's read is none of theirs
    check_read_case(actor, _access(session, study.project_id), _today())
    return study, assigned


def predictions_shown(
    study: Study, review_root: Path, session: Session, case: str
) -> frozenset[str]:
    """The predictions of the study's model sent with the case's slide."""
    found = next((c for c in store(session).cases(study.study_id) if c.case == case), None)
    if found is None:
        return frozenset()
    path = pack_path(review_root, found.review_id)
    if not path.is_file():
        return frozenset()
    pack = TilePack.open(path)
    try:
        return frozenset(
            p.prediction_id for p in pack.predictions() if p.model == study.design.model
        )
    finally:
        pack.close()


def shown_with(session: Session, assigned: Assigned, review_root: Path) -> list[str]:
    """The predictions a read shows now (none before its AI may be shown), by id."""
    study = store(session).study(assigned.study_id)
    if study is None or not assigned.read.ai_visible:
        return []
    return sorted(predictions_shown(study, review_root, session, assigned.read.case))


def reader_action(
    session: Session,
    actor: Actor,
    read_id: str,
    action: str,
    *,
    now: datetime,
    review_root: Path,
    answers: dict[str, Any] | None = None,
    phase: str = "unaided",
    feedback: dict[str, dict[str, Any]] | None = None,
    seconds: int = 0,
) -> Assigned:
    """One of a reader's steps on their read (open, save, lock, reveal, submit): the read as
    it is after it, with its place in the worklist."""
    study, assigned = own_read(session, actor, read_id)
    return Assigned(
        study.study_id,
        assigned.position,
        _step(
            session,
            actor,
            study,
            assigned,
            action,
            now,
            review_root,
            answers,
            phase,
            feedback,
            seconds,
        ),
    )


def _step(
    session: Session,
    actor: Actor,
    study: Study,
    assigned: Assigned,
    action: str,
    now: datetime,
    review_root: Path,
    answers: dict[str, Any] | None,
    phase: str,
    feedback: dict[str, dict[str, Any]] | None,
    seconds: int = 0,
) -> Read:
    form = form_of(study.design)
    s, by, read_id = store(session), actor.username, assigned.read.read_id
    if action == "open":
        return actions.open_read(s, read_id, by=by, now=now)
    if action == "lock":
        return actions.lock_read(s, read_id, form, by=by, now=now)
    if action == "reveal":
        return actions.reveal_ai(s, read_id, by=by, now=now)
    if action == "time":
        return actions.add_time(s, read_id, seconds, by=by)
    shown = predictions_shown(study, review_root, session, assigned.read.case)
    if action == "save":
        if phase not in ("unaided", "aided"):
            raise InvalidRequest("A read's phase is unaided or aided.")
        which: Phase = "aided" if phase == "aided" else "unaided"
        return actions.save_read(
            s, read_id, form, answers or {}, phase=which, by=by, feedback=feedback,
            predictions=shown,
        )  # fmt: skip
    if action == "submit":
        return actions.submit_read(s, read_id, form, by=by, now=now, predictions=shown)
    raise InvalidRequest("A read's steps are open, save, lock, reveal, submit and time.")


# ---- results (the study's lead) --------------------------------------------------------


def lead_study(
    session: Session, actor: Actor, study_id: str, doing: str = "see its results",
    *, acting: bool = False,
) -> Study:  # fmt: skip
    """The study, to its lead only (its results are the study team's); ``acting``: about to
    change it, so accredited today too."""
    study = _study(session, actor, study_id, lead=acting)
    actions.study_for(store(session), study_id, by=actor.username)
    if actor.username != study.created_by:
        raise Forbidden(f"Only the study's lead may {doing}.")
    return study


def ai_answers(session: Session, study: Study, review_root: Path) -> dict[str, Answer | None]:
    """Case -> the AI's answer to the design's ``ai_answer`` item, read from the predictions
    of the study's model sent with the case's slide (none: no answer)."""
    ai = study.design.ai_answer
    found: dict[str, Answer | None] = {}
    if ai is None:
        return found
    for case in store(session).cases(study.study_id):
        path = pack_path(review_root, case.review_id)
        if not path.is_file():
            found[case.case] = None
            continue
        pack = TilePack.open(path)
        try:
            ours = [p for p in pack.predictions() if p.model == study.design.model]
        finally:
            pack.close()
        drew = any(ai.when_class in (p.classes or "").split(",") and p.features for p in ours)
        found[case.case] = (ai.yes if drew else ai.no) if ours else None
    return found


def periods(session: Session, study: Study) -> dict[str, str]:
    """Case -> its period for the AI's quality over time: the month its slide reached the
    review store (a release's month: no scan date leaves a node)."""
    cases = store(session).cases(study.study_id)
    t = SLIDE_REVIEWS
    ready = dict(
        session.execute(
            select(t.c.review_id, t.c.ready_at).where(
                t.c.review_id.in_([c.review_id for c in cases])
            )
        ).all()
    )
    return {
        c.case: ready[c.review_id].strftime("%Y-%m") if ready.get(c.review_id) else "unknown"
        for c in cases
    }


def results_of(
    session: Session, actor: Actor, study_id: str, item: str | None, review_root: Path
) -> dict[str, Any]:
    """The study's results for its lead: progress at any time; once it is locked, agreement on
    ``item`` (the AI's answer item, or the form's first coded core item, unless named), each
    reader against their re-reads, the AI's quality per hospital and month, and the aided
    effect. A part that cannot be computed says why, in words."""
    study = lead_study(session, actor, study_id)
    s = store(session)
    form = form_of(study.design)
    shown: dict[str, Any] = {"study": study.study_id, "state": study.state.value,
                             "progress": results.progress(s, study_id)}  # fmt: skip
    if study.state.value not in ("locked", "closed"):
        shown["note"] = "Agreement and the AI's quality are shown once the study is locked."
        return shown
    item = item or _default_item(study, form)
    ai = ai_answers(session, study, review_root)
    answer_item = study.design.ai_answer
    versus_ai = ai if answer_item is not None and item == answer_item.item else None
    parts: dict[str, Callable[[], Any]] = {
        "agreement": lambda: results.agreement_table(s, study_id, form, item=item, ai=versus_ai),
        "intra_observer": lambda: results.intra_observer(s, study_id, form, item=item),
        "aided_effect": lambda: results.aided_vs_unaided(s, study_id, form, item=item),
    }
    if answer_item is not None:
        period_of = periods(session, study)
        parts["ai_quality"] = lambda: results.ai_quality(
            s, study_id, form, item=answer_item.item, ai=ai, period_of=period_of,
            positive=answer_item.yes,
        )  # fmt: skip
    shown["item"] = item
    for name, part in parts.items():
        try:
            shown[name] = part()
        except (FivesafesError, ValueError) as exc:
            shown[name] = {"note": str(exc)[:300]}
    return shown


def _default_item(study: Study, form: Form) -> str:
    if study.design.ai_answer is not None:
        return study.design.ai_answer.item
    coded = [i for i in form.items_for("case") if i.kind in ("choice", "ordinal") and i.core]
    return coded[0].id if coded else form.items_for("case")[0].id


def results_table(found: dict[str, Any], table: str) -> AgreementTable | QualityReport:
    """One table of ``results_of``'s answer, for a download; 409 in words when there is none
    (the study is not locked, or the table could not be computed)."""
    shown = found.get(table)
    if isinstance(shown, AgreementTable | QualityReport):
        return shown
    note = found.get("note") or (shown.get("note") if isinstance(shown, dict) else None)
    raise Conflict(str(note or "This table is not available."))
