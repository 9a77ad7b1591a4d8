"""The imaging extracts' pages (``/extracts/...``): the extracts someone may see (and as CSV),
one extract's report as tables, and, to who may release it while it is held, a random sample
of its files (each de-identified header beside a thumbnail of its first frame) and the forms
to release or withdraw it; its requester sees the report and the withdraw form only. Handlers
are plain functions (run in a worker thread); a release or withdrawal is the command line's
own (``extracts.release``: the folder moved or deleted with the record's change).

Who comes before what: the extract is read as the signed-in person (one answer, "does not
exist or you do not have permission", for an extract they may not see and one that does not
exist), then whether they may act, and only then its state or what was sent. A refusal of
*who* is the error page (or the one JSON shape, for htmx); a refusal of *what* (not held any
more, no reason) shows the extract's page again with the reason. Files are named by their
place in the extract's sorted files, never by a path; no page shows where the files came from,
the persons' ids or anything read from a file in an error.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from fivesafes.analyses.results.download import safe
from fivesafes.extracts.folders import staging_folder
from fivesafes.extracts.portal.report import files_written, report_tables
from fivesafes.extracts.portal.site import ExtractsSite
from fivesafes.extracts.release import release_extract, withdraw_extract
from fivesafes.extracts.sample import (
    DEFAULT_SAMPLE,
    MAX_SAMPLE,
    MAX_SEED,
    ShownFile,
    file_at,
    sample_page,
    thumbnail_png,
)
from fivesafes.extracts.store import Extract, ExtractState
from fivesafes.governance.accounts import WebSession
from fivesafes.governance.people import Actor, via_session
from fivesafes.protocol.errors import (
    FivesafesError,
    Forbidden,
    InvalidRequest,
    NotFoundOrNoPermission,
)
from fivesafes.web.signin import Posting, SignedIn

MAX_ID = 128  # characters of an extract's id (a task's)
MAX_FILE_INDEX = 10_000_000  # the place of a file among an extract's files, at most
MAX_REASON = 1_000  # characters of a withdrawal's reason (as the action allows)
DONE = {
    "released": "You released the extract: its files are in the project's workspace now.",
    "withdrawn": "The extract was withdrawn: its files are deleted.",
}
CSV_COLUMNS = ("extract_id", "project_id", "requester", "state", "files_written", "persons",
               "built_at")  # fmt: skip
SAY_WHY = "Say why the extract is withdrawn: the reason is kept and audited."

Sample = Annotated[int, Query(ge=1, le=MAX_SAMPLE)]
Seed = Annotated[int, Query(ge=0, le=MAX_SEED)]
FileIndex = Annotated[int, PathParam(ge=0, le=MAX_FILE_INDEX)]
Reason = Annotated[str, Form(max_length=MAX_REASON)]


def actor(web: WebSession) -> Actor:
    return via_session(web.account)


def to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def may(check: Callable[[Actor, Extract], None], who: Actor, extract: Extract) -> bool:
    """``check``'s answer as a bool (its ``can_*`` twin)."""
    try:
        check(who, extract)
    except (NotFoundOrNoPermission, Forbidden):
        return False
    return True


def _extract_id(value: str) -> str:
    """An id no extract could have is answered as one that does not exist."""
    if not value or len(value) > MAX_ID or not value.isascii() or not value.isprintable():
        raise NotFoundOrNoPermission("extract")
    return value


def extracts_router(site: ExtractsSite) -> APIRouter:
    """The extracts' pages for one service (``site``), to mount on its portal app."""
    router = APIRouter(prefix="/extracts", include_in_schema=False)

    def read(extract_id: str, who: Actor) -> Extract:
        return site.extracts().extract(_extract_id(extract_id), by=who)

    def link(extract: Extract, query: str = "") -> str:
        return f"/extracts/{quote(extract.extract_id, safe='')}{query}"

    @router.get("")
    def listing(request: Request, web: SignedIn) -> Response:
        """The extracts the signed-in person may see, newest first."""
        found = site.extracts().extracts(by=actor(web))
        rows = [(e, files_written(e.report)) for e in found]
        return site.page(request, web, "extracts/list.html", title="Imaging extracts",
                         rows=rows)  # fmt: skip

    @router.get(".csv")
    def listing_csv(web: SignedIn) -> Response:
        """The same list as CSV (text a spreadsheet would run as a formula is quoted)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for e in site.extracts().extracts(by=actor(web)):
            written = files_written(e.report)
            writer.writerow([
                safe(e.extract_id), safe(e.project_id), safe(e.requester), e.state.value,
                "" if written is None else written, len(e.persons),
                e.created_at.isoformat(timespec="seconds"),
            ])  # fmt: skip
        headers = {"Content-Disposition": 'attachment; filename="extracts.csv"',
                   "Cache-Control": "no-store"}  # fmt: skip
        return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers=headers)  # fmt: skip

    def extract_page(
        request: Request,
        web: WebSession,
        extract_id: str,
        *,
        sample: int = DEFAULT_SAMPLE,
        seed: int = 0,
        notice: str | None = None,
        problem: str | None = None,
        status_code: int = 200,
    ) -> Response:
        who = actor(web)
        found = read(extract_id, who)  # permission first: one answer
        held = found.state is ExtractState.HELD
        reviewer = may(site.check_release, who, found)
        total = 0
        files: list[ShownFile] = []
        if held and reviewer:  # the sample is the output checker's, before any release
            folder = staging_folder(site.root, found.project_id, found.task_id)
            total, files = sample_page(folder, found.extract_id, sample, seed)
        return site.page(
            request, web, "extracts/extract.html", title=f"Imaging extract {found.extract_id}",
            status_code=status_code, extract=found, held=held, reviewer=reviewer,
            tables=report_tables(found.report, len(found.persons)),
            written=files_written(found.report), total=total, files=files, sample=sample,
            seed=seed, next_seed=(seed + 1) % (MAX_SEED + 1), href=link(found),
            may_release=held and reviewer,
            may_withdraw=held and may(site.check_withdraw, who, found),
            is_requester=found.requester == who.username, notice=notice, problem=problem,
            max_reason=MAX_REASON,
        )  # fmt: skip

    @router.get("/{extract_id}")
    def extract(
        extract_id: str,
        request: Request,
        web: SignedIn,
        sample: Sample = DEFAULT_SAMPLE,
        seed: Seed = 0,
        done: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        return extract_page(request, web, extract_id, sample=sample, seed=seed,
                            notice=DONE.get(done or ""))  # fmt: skip

    @router.get("/{extract_id}/files/{n}/thumbnail.png")
    def thumbnail(extract_id: str, n: FileIndex, web: SignedIn) -> Response:
        """The first frame of the extract's ``n``-th file (in sorted order), as a PNG, to who
        may release the extract while it is held; anyone else, and a file that is not there,
        is told the file does not exist."""
        who = actor(web)
        found = read(extract_id, who)
        if found.state is not ExtractState.HELD or not may(site.check_release, who, found):
            raise NotFoundOrNoPermission("file")
        try:
            path = file_at(staging_folder(site.root, found.project_id, found.task_id), n)
        except IndexError:
            raise NotFoundOrNoPermission("file") from None
        png = thumbnail_png(path)
        if png is None:
            raise NotFoundOrNoPermission("image")
        return Response(png, media_type="image/png", headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        })  # fmt: skip

    def decide(
        request: Request, web: WebSession, extract: Extract, act: Callable[[], object], done: str
    ) -> Response:
        """Run ``act``, then back to the extract's page saying it is done; a refusal of what
        the extract's state allows shows the page again with the reason."""
        try:
            act()
        except FivesafesError as exc:
            if exc.status in (401, 403, 404):
                raise
            return extract_page(request, web, extract.extract_id, problem=exc.message,
                                status_code=exc.status)  # fmt: skip
        return to(link(extract, f"?done={done}"))

    @router.post("/{extract_id}/release")
    def release(extract_id: str, request: Request, web: Posting) -> Response:
        who = actor(web)
        found = read(extract_id, who)  # who may see it
        site.check_release(who, found)  # who may act, before anything is moved
        return decide(
            request, web, found,
            lambda: release_extract(site.extracts(), site.root, found.extract_id, by=who),
            "released",
        )  # fmt: skip

    @router.post("/{extract_id}/withdraw")
    def withdraw(extract_id: str, request: Request, web: Posting, reason: Reason = "") -> Response:
        who = actor(web)
        found = read(extract_id, who)
        site.check_withdraw(who, found)

        def act() -> None:
            if found.state is not ExtractState.HELD:
                raise InvalidRequest(
                    f"The extract is {found.state.value}, not held: nothing to decide."
                )
            if not reason.strip():
                raise InvalidRequest(SAY_WHY)
            withdraw_extract(site.extracts(), site.root, found.extract_id, reason.strip(), by=who)

        return decide(request, web, found, act, "withdrawn")

    return router
