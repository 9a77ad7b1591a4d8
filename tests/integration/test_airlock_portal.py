"""The airlock's pages over real HTTP, with a real hub process: a researcher composes a
request (a CSV uploaded with its type and context), submits it and sees the pre-screen; two
output checkers find it in their queues (never the author, who holds the role too), see each
file beside its pre-screen, vote blinded, disagree and consolidate; changes are requested, the
researcher revises (the history keeps version 1) and resubmits; after two approvals she
downloads the signed bundle, which verifies. Every action is the CLI's own (the same audit
events); someone who may not see a request gets the same "not found" as for none; a POST
without the session's CSRF token is refused; a blocked file is refused on the page."""

from __future__ import annotations

import io
import re
import zipfile

import httpx
import pytest

from fivesafes.airlock.bundle import verify_bundle
from fivesafes.protocol.signing import public_key_text
from portal import person, session_for, start_portal_hub, visible
from web_a11y import accessibility_problems

TABLE = b"region,count\nnorth,120\nsouth,40\n"
SMALL = b"region,count\nnorth,120\nsouth,3\n"


class World:
    def __init__(self, harness) -> None:
        self.harness = harness
        start_portal_hub(harness)
        harness.add_node("northfield", {"engine": "duckdb", "path": "/nonexistent"}, start=False)
        person(harness, "alice", roles=("researcher", "output_checker"), totp=False)
        person(harness, "bob", totp=False)  # a researcher outside the project
        for checker in ("carol", "dev", "olga"):
            person(harness, checker, roles=("output_checker",), totp=False)
        self.clients = {
            n: session_for(harness, n) for n in ("alice", "bob", "carol", "dev", "olga")
        }
        self.project = harness.project(["alice"], ["northfield"], approve=False, pi="alice")

    def get(self, who: str, path: str) -> httpx.Response:
        return self.clients[who].get(path)

    def post(self, who: str, path: str, data: dict | None = None, **kw) -> httpx.Response:
        client = self.clients[who]
        return client.post(path, data={"csrf": client.csrf, **(data or {})}, **kw)

    def draft(self, title: str, content: bytes = TABLE, name: str = "table.csv") -> str:
        made = self.post("alice", "/airlock", {"title": title, "project": self.project})
        assert made.status_code == 303, made.text
        rid = made.headers["location"].rsplit("/", 1)[1]
        added = self.upload(rid, name, content)
        assert added.status_code == 303, added.text
        return rid

    def upload(self, rid: str, name: str, content: bytes) -> httpx.Response:
        client = self.clients["alice"]
        return client.post(
            f"/airlock/{rid}/files",
            data={"csrf": client.csrf, "file_type": "output",
                  "context": "Adults by region, 2020; denominators: all adults"},
            files={"upload": (name, content, "text/csv")},
        )  # fmt: skip

    def vote(self, who: str, rid: str, vote: str, comment: str = "", file: str = "table.csv"):
        return self.post(who, f"/airlock/{rid}/votes",
                         {"file": file, "vote": vote, "comment": comment})  # fmt: skip

    def audit_types(self) -> list[str]:
        service = self.harness.hub()
        try:
            from fivesafes.hub.db import AUDIT

            table = AUDIT.events
            return [
                row.event_type
                for row in service.read(lambda s: s.execute(table.select()).all())
                if row.event_type.startswith("airlock_")
            ]
        finally:
            service.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from federation import Harness
    from fivesafes.demo.processes import Supervisor

    with Supervisor() as supervisor:
        yield World(Harness(tmp_path_factory.mktemp("airlock-portal"), supervisor))


def test_compose_submit_review_blinded_and_release_a_bundle_that_verifies(world):
    rid = world.draft("Smoking by region")
    page = world.get("alice", f"/airlock/{rid}").text
    assert "table.csv" in page and "Adults by region, 2020" in page and "draft" in page
    assert world.post("alice", f"/airlock/{rid}/submit").status_code == 303
    page = world.get("alice", f"/airlock/{rid}").text
    assert "submitted" in page and 'class="verdict-pass"' in page  # the pre-screen

    assert rid not in world.get("alice", "/airlock/queue").text  # never her own
    for checker in ("carol", "dev"):
        queue = world.get(checker, "/airlock/queue").text
        assert f"/airlock/{rid}/review" in queue and "your review" in queue
    own = world.vote("alice", rid, "approve")
    assert own.status_code == 403 and "own" in own.text
    assert world.get("alice", f"/airlock/{rid}/review").status_code == 403

    review = world.get("carol", f"/airlock/{rid}/review").text
    assert '<th scope="col">region</th>' in review and "<td>north</td>" in review  # as a table
    assert "Adults by region, 2020" in review and "Pre-screen" in review
    assert world.vote("carol", rid, "approve", "counts of 10 or more").status_code == 303
    blind = world.get("dev", f"/airlock/{rid}/review").text
    assert "counts of 10 or more" not in blind and "hidden until you have both voted" in blind
    assert world.vote("dev", rid, "approve").status_code == 303
    third = world.vote("olga", rid, "approve")
    assert third.status_code == 422 and "not under review" in third.text  # decided

    page = world.get("alice", f"/airlock/{rid}").text
    assert "approved" in page and "counts of 10 or more" in page  # decided: the votes shown
    bundle = world.post("alice", f"/airlock/{rid}/bundle")
    assert bundle.status_code == 200, bundle.text
    assert bundle.headers["content-type"] == "application/zip"
    service = world.harness.hub()
    try:
        key = public_key_text(service.key)
    finally:
        service.stop()
    manifest = verify_bundle(bundle.content, key)
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
        assert z.read("files/table.csv") == TABLE
    assert [f["name"] for f in manifest["files"]] == ["table.csv"]
    again = world.post("alice", f"/airlock/{rid}/bundle")  # released: the same bundle again
    assert again.status_code == 200 and again.content == bundle.content
    assert "released" in world.get("alice", f"/airlock/{rid}").text

    types = world.audit_types()
    expected = ["request_created", "files_changed", "request_submitted", "review_started",
                "voted", "decided", "released", "bundle_downloaded"]  # fmt: skip
    assert {f"airlock_{e}" for e in expected} <= set(types)


def test_disagreement_is_consolidated_then_revised_and_the_history_kept(world):
    rid = world.draft("Small cells", SMALL)
    world.post("alice", f"/airlock/{rid}/submit")
    page = world.get("alice", f"/airlock/{rid}").text
    assert "submitted" in page and "verdict-fail" in page and "fewer than 10" in page
    world.vote("carol", rid, "approve", "fine")
    world.vote("dev", rid, "request_changes", "south has 3")
    consolidation = world.get("carol", f"/airlock/{rid}/consolidate").text
    assert "south has 3" in consolidation and "fine" in consolidation  # both now visible
    assert f"/airlock/{rid}/consolidate" in world.get("dev", "/airlock/queue").text
    no_reason = world.post("carol", f"/airlock/{rid}/consolidate",
                           {"file": "table.csv", "vote": "request_changes"})  # fmt: skip
    assert no_reason.status_code == 422 and "says why" in no_reason.text
    agreed = world.post("carol", f"/airlock/{rid}/consolidate",
                        {"file": "table.csv", "vote": "request_changes",
                         "comment": "agreed: round south"})  # fmt: skip
    assert agreed.status_code == 303
    page = world.get("alice", f"/airlock/{rid}").text
    assert "changes requested" in page
    assert world.post("alice", f"/airlock/{rid}/revise").status_code == 303
    world.upload(rid, "table.csv", TABLE)
    world.post("alice", f"/airlock/{rid}/submit")
    page = world.get("alice", f"/airlock/{rid}").text
    assert "version 2" in page and "Version 1: changes requested" in page
    assert "agreed: round south" in page  # the history keeps version 1's votes
    assert world.get("carol", f"/airlock/{rid}/review").text.count("Vote on table.csv") == 1


def test_outsiders_get_one_not_found_and_posts_need_the_csrf_token(world):
    rid = world.draft("Not for bob")
    for path in (f"/airlock/{rid}", f"/airlock/{rid}/review", f"/airlock/{rid}/files/table.csv"):
        mine = world.get("bob", path)
        absent = world.get("bob", path.replace(rid, "ar_000000000000"))
        assert mine.status_code == absent.status_code == 404
        assert mine.text == absent.text
    assert world.get("bob", "/airlock/queue").status_code == 403  # not a checker
    for action in ("submit", "withdraw"):
        theirs = world.post("bob", f"/airlock/{rid}/{action}")
        absent = world.post("bob", f"/airlock/ar_000000000000/{action}")
        assert theirs.status_code == absent.status_code == 404 and theirs.text == absent.text
    client = world.clients["alice"]
    forged = client.post(f"/airlock/{rid}/submit", data={"csrf": "not the token"})
    assert forged.status_code == 403
    anon = httpx.get(f"{world.harness.hub_url}/airlock/{rid}")
    assert anon.status_code == 303 and anon.headers["location"].startswith("/sign-in")
    assert "draft" in world.get("alice", f"/airlock/{rid}").text  # nothing changed


def test_a_blocked_file_is_refused_on_the_page_and_a_png_is_shown_safely(world):
    rid = world.draft("Figures")
    refused = world.upload(rid, "rows.parquet", b"PAR1")
    assert refused.status_code == 422
    assert "rows.parquet: a .parquet file cannot leave" in refused.text
    assert "Traceback" not in refused.text
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    assert world.upload(rid, "figure.png", png).status_code == 303
    shown = world.get("alice", f"/airlock/{rid}/files/figure.png")
    assert shown.status_code == 200 and shown.content == png
    assert shown.headers["content-type"] == "image/png"
    assert "sandbox" in shown.headers["content-security-policy"]
    assert shown.headers["x-content-type-options"] == "nosniff"
    csv = world.get("alice", f"/airlock/{rid}/files/table.csv")
    assert csv.headers["content-disposition"].startswith("attachment")
    assert world.post("alice", f"/airlock/{rid}/withdraw").status_code == 303
    page = world.get("alice", f"/airlock/{rid}").text
    assert "withdrawn" in page and "Add a file" not in page
    listed = world.get("alice", "/airlock").text
    assert re.search(rf'href="/airlock/{rid}"', listed)
    assert "Figures" in listed


PERSON_ROWS = "".join(f"P{i:06d},{18 + i % 70},{'fm'[i % 2]},{11 + i % 7}\n" for i in range(612))
ROW_LEVEL = ("person_id,age,sex,visits\n" + PERSON_ROWS).encode()


def test_a_checker_arriving_at_the_airlock_sees_their_queue(world):
    rid = world.draft("For the queue")
    world.post("alice", f"/airlock/{rid}/submit")
    carol = world.get("carol", "/airlock").text
    assert "Waiting for your review" in carol and f"/airlock/{rid}/review" in carol
    assert accessibility_problems(carol) == []
    assert "You have none yet" not in carol and "New release request" not in carol
    alice = world.get("alice", "/airlock").text  # an author who is also a checker
    assert "Your release requests" in alice and f'href="/airlock/{rid}"' in alice
    assert f"/airlock/{rid}/review" not in alice  # never her own in her queue
    assert "New release request" in alice


def test_a_row_level_file_gets_one_headline_and_a_page_of_reasonable_height(world):
    rid = world.draft("Every person", ROW_LEVEL, "persons.csv")
    world.post("alice", f"/airlock/{rid}/submit")
    for who, path in (("carol", f"/airlock/{rid}/review"), ("alice", f"/airlock/{rid}")):
        page = world.get(who, path).text
        assert "looks like row-level data (one row per person: 612 rows" in page
        seen = visible(page)
        assert seen.visible <= 60, (who, seen.visible)  # was 612 findings and 200 rows
        assert seen.details and all("open" not in d for d in seen.details)  # folded away


def test_approved_files_are_released_and_the_others_returned_file_by_file(world):
    rid = world.draft("Two tables")
    assert world.upload(rid, "small.csv", SMALL).status_code == 303
    world.post("alice", f"/airlock/{rid}/submit")
    for checker in ("carol", "dev"):
        assert world.vote(checker, rid, "approve").status_code == 303
        no_reason = world.vote(checker, rid, "request_changes", file="small.csv")
        assert no_reason.status_code == 422 and "says why" in no_reason.text
        assert "fivesafes airlock review vote" in no_reason.text  # the way forward
        world.vote(checker, rid, "request_changes", "south has 3: merge it", file="small.csv")
    page = world.get("alice", f"/airlock/{rid}").text
    assert accessibility_problems(page) == []
    assert "partly approved" in page and "Release the approved files" in page
    assert "south has 3: merge it" in page  # the checkers' reason, for the author
    assert f"fivesafes airlock release {rid} --out BUNDLE.zip" in page
    bundle = world.post("alice", f"/airlock/{rid}/bundle")
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
        assert [n for n in z.namelist() if n.startswith("files/")] == ["files/table.csv"]
    page = world.get("alice", f"/airlock/{rid}").text
    assert "changes requested" in page and "1 file returned for changes" in page
    assert f"fivesafes airlock request revise {rid}" in page
    assert world.post("alice", f"/airlock/{rid}/revise").status_code == 303
    page = world.get("alice", f"/airlock/{rid}").text
    assert "small.csv" in page and "version 2" in page
    assert "Version 1: partly approved" in page


def test_a_checker_returns_the_request_to_the_researcher_with_a_message(world):
    rid = world.draft("Back to alice", ROW_LEVEL, "persons.csv")
    world.post("alice", f"/airlock/{rid}/submit")
    review = world.get("carol", f"/airlock/{rid}/review").text
    assert "Return to the researcher" in review and accessibility_problems(review) == []
    empty = world.post("carol", f"/airlock/{rid}/votes", {"vote": "return", "comment": " "})
    assert empty.status_code == 422 and "what to change" in empty.text
    own = world.post("alice", f"/airlock/{rid}/votes", {"vote": "return", "comment": "mine"})
    assert own.status_code == 403
    back = world.post(
        "carol",
        f"/airlock/{rid}/votes",
        {"vote": "return", "comment": "This is row-level data: count by age band"},
    )
    assert back.status_code == 303
    page = world.get("alice", f"/airlock/{rid}").text
    assert "changes requested" in page and "This is row-level data: count by age band" in page
    assert "returned by carol" in page or "carol returned" in page
    assert f"fivesafes airlock request revise {rid}" in page
    assert rid not in world.get("dev", "/airlock/queue").text  # nothing waits any more
