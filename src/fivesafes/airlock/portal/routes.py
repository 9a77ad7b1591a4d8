"""The airlock's pages (``/airlock/...``): a researcher's requests, composing, submitting,
revising, withdrawing and downloading the signed bundle (of an approved request, or of a
partly approved one's approved files); an output checker's queue (also what ``/airlock``
shows them first), the review page (each file beside its pre-screen and the author's context,
a vote per file, and returning the whole request to its author with a message: the votes
form with ``vote=return``) and consolidation. Handlers are plain functions (run in a worker
thread); each action is one call of the service's :class:`~fivesafes.airlock.service.Airlock`.

A refusal of *who* (403, 404) is the error page; a refusal of *what* (a blocked file, a vote
the review's rules do not allow, a file changed since approval) shows the page again with the
reason, never what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from fivesafes.airlock.files import MAX_FILE_BYTES, FileType, RequestFile
from fivesafes.airlock.permissions import can_review, check_act_as_author, check_review
from fivesafes.airlock.portal.preview import MEDIA_TYPES, extension, preview
from fivesafes.airlock.portal.site import AirlockSite
from fivesafes.airlock.review import Vote
from fivesafes.airlock.service import Airlock
from fivesafes.airlock.states import REVIEWING, RequestState
from fivesafes.governance.accounts import WebSession
from fivesafes.governance.errors import NotPermitted
from fivesafes.governance.people import Actor, via_session
from fivesafes.governance.roles import Role
from fivesafes.protocol.errors import FivesafesError, InvalidRequest, NotFoundOrNoPermission
from fivesafes.web.signin import Posting, SignedIn

FINAL = (RequestState.RELEASED, RequestState.WITHDRAWN, RequestState.REJECTED)
VOTES = [(Vote.APPROVE, "Approve"), (Vote.REQUEST_CHANGES, "Return for changes"),
         (Vote.REJECT, "Reject")]  # fmt: skip
RETURN = "return"  # the votes form's value for returning the whole request to its author
FILE_TYPES = [t.value for t in FileType]

Title = Annotated[str, Form(max_length=300)]
Text = Annotated[str, Form(max_length=4000)]


def actor(web: WebSession) -> Actor:
    return via_session(web.account)


def to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def or_again(work: Callable[[], Response], again: Callable[[str], Response]) -> Response:
    """``work``'s answer; a refusal of what the request's state or rules allow shows the page
    again with the reason (``again``), a refusal of who is acting the error page."""
    try:
        return work()
    except FivesafesError as exc:
        if exc.status in (401, 403, 404):
            raise
        return again(exc.message)


def airlock_router(site: AirlockSite) -> APIRouter:
    """The airlock's pages for one service (``site``), to mount on its portal app."""
    router = APIRouter(prefix="/airlock", include_in_schema=False)

    def airlock() -> Airlock:
        return site.airlock()

    def is_checker(who: Actor) -> bool:
        return who.account.holds(Role.OUTPUT_CHECKER, airlock().scope)

    # ---- the author ------------------------------------------------------------------------

    @router.get("")
    def requests(request: Request, web: SignedIn) -> Response:
        """A checker's queue first (what waits for their vote); the requests of whoever looks
        (an author's, and the way to make one where they may)."""
        who = actor(web)
        mine = [s for s in airlock().requests(by=who) if s.author == who.username]
        checker = is_checker(who)
        items = airlock().queue(by=who) if checker else []
        may_author = bool(site.read(lambda s: site.projects(s, who)))
        return site.page(request, web, "airlock/requests.html", title="Release requests",
                         requests=mine, checker=checker, items=items,
                         may_author=may_author)  # fmt: skip

    def compose(
        request: Request, web: WebSession, problem: str | None = None, title: str = ""
    ) -> Response:
        who = actor(web)
        projects = site.read(lambda s: site.projects(s, who))
        return site.page(request, web, "airlock/new.html", title="New release request",
                         status_code=422 if problem else 200, projects=projects,
                         problem=problem, values={"title": title})  # fmt: skip

    @router.get("/new")
    def new(request: Request, web: SignedIn) -> Response:
        return compose(request, web)

    @router.post("")
    def create(request: Request, web: Posting, title: Title = "", project: Title = "") -> Response:
        who = actor(web)

        def work() -> Response:
            site.read(lambda s: site.check_author(s, who, project or None))
            made = airlock().create(title=title, project_id=project or None, by=who)
            return to(f"/airlock/{made.id}")

        return or_again(work, lambda why: compose(request, web, why, title))

    def request_page(
        request: Request, web: WebSession, request_id: str, problem: str | None = None
    ) -> Response:
        who = actor(web)
        view = airlock().show(request_id, by=who)  # permission first: one answer
        released = any(v.released for v in view.history)
        return site.page(request, web, "airlock/request.html", title=view.title,
                         status_code=422 if problem else 200, view=view, problem=problem,
                         is_author=view.author == who.username,
                         may_review=can_review(who, airlock().scope, view.author),
                         final=view.state in FINAL, file_types=FILE_TYPES,
                         released=released)  # fmt: skip

    def author_action(request: Request, web: WebSession, request_id: str,
                      act: Callable[[Actor], object]) -> Response:  # fmt: skip
        def work() -> Response:
            act(actor(web))
            return to(f"/airlock/{request_id}")

        return or_again(work, lambda why: request_page(request, web, request_id, why))

    @router.get("/queue")
    def queue(request: Request, web: SignedIn) -> Response:
        who = actor(web)
        if not is_checker(who):
            raise NotPermitted("Only output checkers here have a review queue.")
        items = airlock().queue(by=who)
        return site.page(request, web, "airlock/queue.html", title="Review queue",
                         items=items)  # fmt: skip

    @router.get("/{request_id}")
    def show(request_id: str, request: Request, web: SignedIn) -> Response:
        return request_page(request, web, request_id)

    @router.post("/{request_id}/files")
    def add_file(
        request_id: str,
        request: Request,
        web: Posting,
        upload: Annotated[UploadFile | None, File()] = None,
        file_type: Annotated[str, Form(max_length=20)] = FileType.OUTPUT.value,
        context: Text = "",
    ) -> Response:
        def act(who: Actor) -> None:
            view = airlock().show(request_id, by=who)  # who acts, before what was sent
            check_act_as_author(who, airlock().scope, view.author)
            name = PurePosixPath(((upload and upload.filename) or "").replace("\\", "/")).name
            if upload is None or not name:
                raise InvalidRequest("Choose a file to add.")
            if file_type not in FILE_TYPES:
                raise InvalidRequest("A file's type is output, supporting or code.")
            content = upload.file.read(MAX_FILE_BYTES + 1)
            made = RequestFile(name, content, FileType(file_type), context.strip())
            airlock().add_file(request_id, made, by=who)

        return author_action(request, web, request_id, act)

    @router.post("/{request_id}/files/{name}/remove")
    def remove_file(request_id: str, name: str, request: Request, web: Posting) -> Response:
        return author_action(
            request, web, request_id, lambda who: airlock().remove_file(request_id, name, by=who)
        )

    @router.post("/{request_id}/submit")
    def submit(request_id: str, request: Request, web: Posting) -> Response:
        return author_action(
            request, web, request_id, lambda who: airlock().submit(request_id, by=who)
        )

    @router.post("/{request_id}/revise")
    def revise(request_id: str, request: Request, web: Posting) -> Response:
        return author_action(
            request, web, request_id, lambda who: airlock().revise(request_id, by=who)
        )

    @router.post("/{request_id}/withdraw")
    def withdraw(request_id: str, request: Request, web: Posting) -> Response:
        return author_action(
            request, web, request_id, lambda who: airlock().withdraw(request_id, by=who)
        )

    @router.post("/{request_id}/bundle")
    def bundle(request_id: str, request: Request, web: Posting) -> Response:
        """Release an approved request and download its signed bundle (again, once released)."""

        def work() -> Response:
            stored = airlock().release(request_id, by=actor(web))
            name = f"{request_id}-v{stored.version}.zip"
            return Response(stored.archive, media_type="application/zip", headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            })  # fmt: skip

        return or_again(work, lambda why: request_page(request, web, request_id, why))

    @router.get("/{request_id}/files/{name}")
    def file(request_id: str, name: str, web: SignedIn) -> Response:
        """One file's bytes, for its author and the checkers: a PNG shown in the page, anything
        else downloaded; never run by the browser."""
        try:
            content = airlock().file(request_id, name, by=actor(web))
        except InvalidRequest:  # no such file: the same answer as for a request
            raise NotFoundOrNoPermission("file") from None
        ext = extension(name)
        shown = "inline" if ext == ".png" else "attachment"
        return Response(content, media_type=MEDIA_TYPES.get(ext, "application/octet-stream"),
                        headers={
                            "Content-Disposition": f"{shown}; filename*=UTF-8''{quote(name)}",
                            "Content-Security-Policy": "sandbox; default-src 'none'",
                            "X-Content-Type-Options": "nosniff",
                            "Cache-Control": "no-store",
                        })  # fmt: skip

    # ---- the output checkers ---------------------------------------------------------------

    def checker_page(
        request: Request,
        web: WebSession,
        request_id: str,
        template: str,
        problem: str | None = None,
    ) -> Response:
        who = actor(web)
        view = airlock().show(request_id, by=who)  # permission first: one answer
        check_review(who, airlock().scope, view.author)  # four eyes
        names = [str(f["name"]) for f in view.files]
        previews = {n: preview(n, airlock().file(request_id, n, by=who)) for n in names}
        mine = {v.file: v for v in view.votes if v.checker == who.username}
        others = {v.file: v for v in view.votes if v.checker != who.username}
        voting = view.state in REVIEWING
        return site.page(request, web, template, title=f"Review: {view.title}",
                         status_code=422 if problem else 200, view=view, problem=problem,
                         previews=previews, mine=mine, others=others, votes=VOTES,
                         voting=voting and not view.consolidating, returning=voting,
                         return_value=RETURN)  # fmt: skip

    @router.get("/{request_id}/review")
    def review(request_id: str, request: Request, web: SignedIn) -> Response:
        return checker_page(request, web, request_id, "airlock/review.html")

    def ballot(request: Request, web: WebSession, request_id: str, template: str, value: str,
               cast: Callable[[Actor, Vote], str]) -> Response:  # fmt: skip
        """Cast the vote ``value`` (``cast`` says where to go next); a refusal of what the
        review allows shows ``template`` again with the reason."""

        def work() -> Response:
            who = actor(web)
            return to(cast(who, _vote(value, lambda: airlock().show(request_id, by=who))))

        return or_again(work, lambda why: checker_page(request, web, request_id, template, why))

    @router.post("/{request_id}/votes")
    def vote(
        request_id: str,
        request: Request,
        web: Posting,
        file: Title = "",
        value: Annotated[str, Form(alias="vote", max_length=20)] = "",
        comment: Text = "",
    ) -> Response:
        if value == RETURN:  # the whole request back to its author, with what to change

            def give_back() -> Response:
                airlock().return_request(request_id, comment, by=actor(web))
                return to(f"/airlock/{request_id}")

            return or_again(
                give_back,
                lambda why: checker_page(request, web, request_id, "airlock/review.html", why),
            )

        def cast(who: Actor, chosen: Vote) -> str:
            airlock().vote(request_id, file, chosen, comment.strip(), by=who)
            return f"/airlock/{request_id}/review"

        return ballot(request, web, request_id, "airlock/review.html", value, cast)

    @router.get("/{request_id}/consolidate")
    def consolidation(request_id: str, request: Request, web: SignedIn) -> Response:
        return checker_page(request, web, request_id, "airlock/consolidate.html")

    @router.post("/{request_id}/consolidate")
    def consolidate(
        request_id: str,
        request: Request,
        web: Posting,
        file: Title = "",
        value: Annotated[str, Form(alias="vote", max_length=20)] = "",
        comment: Text = "",
    ) -> Response:
        def cast(who: Actor, chosen: Vote) -> str:
            done = airlock().consolidate(request_id, file, chosen, comment.strip(), by=who)
            still = done.state is RequestState.UNDER_REVIEW and done.consolidating
            return f"/airlock/{request_id}/consolidate" if still else f"/airlock/{request_id}"

        return ballot(request, web, request_id, "airlock/consolidate.html", value, cast)

    return router


def _vote(value: str, may_see: Callable[[], object]) -> Vote:
    """The vote sent; when it is none, ``may_see`` first (who acts, before what was sent)."""
    try:
        return Vote(value)
    except ValueError:
        may_see()
        raise InvalidRequest("A vote is approve, return for changes or reject.") from None
