"""An output checker reviews a held imaging extract in the node's portal, in Chromium, against a
real hub and a real ``fivesafes node portal`` process (ADR 0028, point 5).

The node holds four extracts of one approved project, each built as the node builds one:
pydicom's CT_small.dcm, MR2_UNCR.dcm and reportsi.dcm (a basic text SR) de-identified and
written, MR_small.dcm rejected (not ORIGINAL\\PRIMARY) and test-SR.dcm failing verification (a
finding by rule and element), by ``deid.run.deidentify_tree`` into the staging folder, then
held with ``node_extracts(service).hold``.

* the checker (a node account, ``output_checker``) sees the list and an extract: its report as
  tables, the sample's headers and thumbnails (images that loaded) and "no image" for the SR;
  a file index out of range is "not found" in words; releasing moves the staging folder into
  the project's workspace, withdrawing (with a reason) deletes it;
* the requester (a member of the project, signing in with a node account of her own name) sees
  her extract's report but neither its sample nor a Release button, and a forged release is
  refused in the one error shape, nothing moved; she may withdraw her own;
* a node account without a role, and a researcher of another project, are told the extract
  and its thumbnail do not exist.

Screenshots of the list and of the extract page are saved where ``FIVESAFES_SCREENSHOTS``
names (``docs/screenshots`` for the docs), else in the test's temporary folder.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from fivesafes.extracts.folders import released_folder, staging_folder
from fivesafes.extracts.store import Extract, ExtractState
from fivesafes.imaging.deid.keys import ProjectKeys
from fivesafes.imaging.deid.options import options_of
from fivesafes.imaging.deid.reject import load_rejectors
from fivesafes.imaging.deid.run import FileOutcome, Job, deidentify_tree
from fivesafes.node.accounts import node_accounts
from fivesafes.node.airlock import airlock_actor
from fivesafes.node.extracts import node_extracts
from fivesafes.storage.types import utcnow
from node_portal import TRE_ADMIN, node_person, start_node_portal
from portal import PASSWORD, Person, csrf_of
from portal import browser_sign_in as sign_in
from portal import sign_in as client_sign_in
from web_a11y import accessibility_problems

NODE = "northfield"
SECRET = bytes(range(32))
SOURCES = ("CT_small.dcm", "MR2_UNCR.dcm", "reportsi.dcm", "MR_small.dcm", "test-SR.dcm")
PERSONS = ("987654321", "987654322")  # person ids, never shown (only how many)
NOT_FOUND = "does not exist or you do not have permission"
RELEASE, WITHDRAW, FORGED, MINE = "t_release01", "t_withdraw01", "t_forged01", "t_mine01"


def no_role_account(harness, username: str) -> Person:
    """A node account holding no role here (a researcher signs in with one of their name)."""
    service = harness.node_service(NODE)
    try:
        store = service.account_store
        service.unit(
            lambda s: node_accounts().create(
                s, username=username, display_name=username.title(), grants=[], by=TRE_ADMIN
            )
        )
        service.unit(lambda s: store.set_password(s, username, PASSWORD, by=TRE_ADMIN))
        secret, _ = service.unit(lambda s: store.enrol_totp(s, username, by=TRE_ADMIN))
    finally:
        service.stop()
    return Person(username, secret, token="")


def hold_extract(service, root: Path, sources: Path, project: str, task: str) -> Path:
    """Build an extract of ``sources`` as the node does (``extracts.build``'s report, counts
    only) and hold it for the node's output checkers; its staging folder."""
    staging = staging_folder(root, project, task)
    job = Job(ProjectKeys.derive(SECRET, project), options_of([]), load_rejectors())
    findings: dict[str, Counter[str]] = {}

    def each(_path: str, outcome: FileOutcome) -> None:
        for rule, element in dict.fromkeys(outcome.findings):
            findings.setdefault(rule, Counter())[element] += 1

    report = deidentify_tree([sources], staging, job, each=each)
    counts = {
        **report.to_dict(),
        "series": 4,
        "not_local": 1,
        "findings": {rule: dict(sorted(c.items())) for rule, c in sorted(findings.items())},
    }
    counts.pop("seconds")
    node_extracts(service).hold(
        Extract(
            extract_id=task, project_id=project, task_id=task, requester="alice",
            state=ExtractState.HELD, options=(), folder=str(staging.relative_to(root)),
            report=counts, persons=PERSONS, created_at=utcnow(),
        )
    )  # fmt: skip
    return staging


class World:
    """A hub; northfield (not running its agent) with its portal; alice's approved project with
    four held extracts; zed's project; the people who look."""

    def __init__(self, harness) -> None:
        harness.start_hub()
        harness.add_node(NODE, {"engine": "duckdb", "path": "/nonexistent"}, start=False)
        harness.researcher("alice")
        harness.researcher("zed")
        self.project = harness.project(["alice"], [NODE], title="Imaging study")
        harness.project(["zed"], [NODE], title="Another study")
        self.people = {
            "otto": node_person(harness, NODE, "otto", ["output_checker"]),
            "alice": no_role_account(harness, "alice"),
            "sam": no_role_account(harness, "sam"),
            "zed": no_role_account(harness, "zed"),
        }
        self.sources = harness.root / "archive" / "Smith^John"  # a path that names a person
        self.sources.mkdir(parents=True)
        for name in SOURCES:
            shutil.copy(get_testdata_file(name), self.sources / name)
        service = harness.node_service(NODE)
        try:
            self.root = service.config.imaging.extracts
            self.staging = {
                task: hold_extract(service, self.root, self.sources, self.project, task)
                for task in (RELEASE, WITHDRAW, FORGED, MINE)
            }
        finally:
            service.stop()
        self.harness = harness
        self.url, _process = start_node_portal(harness, NODE)

    def extract(self, task: str) -> Extract:
        """The extract's record now, as the checker reads it."""
        service = self.harness.node_service(NODE)
        try:
            otto = service.read(lambda s: airlock_actor(s, "otto"))
            return node_extracts(service).extract(task, by=otto)
        finally:
            service.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from federation import Harness
    from fivesafes.demo.processes import Supervisor

    with Supervisor() as supervisor:
        yield World(Harness(tmp_path_factory.mktemp("extract-review"), supervisor))


def never_shown(world: World, html: str) -> None:
    """No person's id, nor anything of the archive's paths, on a page."""
    for secret in (*PERSONS, "Smith^John", str(world.sources), *SOURCES):
        assert secret not in html, secret


def test_an_output_checker_reviews_the_sample_and_releases_or_withdraws(world, page, screenshots):
    from playwright.sync_api import expect

    url = world.url
    sign_in(page, url, world.people["otto"], "/extracts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Imaging extracts")
    listed = page.get_by_role("table", name="Imaging extracts you may see, newest first")
    for task in (RELEASE, WITHDRAW, FORGED, MINE):
        row = listed.get_by_role("row").filter(has=page.get_by_role("link", name=task))
        expect(row).to_contain_text(world.project)
        expect(row).to_contain_text("alice")
        expect(row).to_contain_text("held")
        expect(row.get_by_role("cell").nth(3)).to_have_text("3")  # files written
        expect(row.get_by_role("cell").nth(4)).to_have_text("2")  # persons, how many
    expect(page.get_by_role("link", name="Imaging extracts")).to_have_attribute(
        "aria-current", "page"
    )  # in the node's navigation, beside the airlock
    assert accessibility_problems(page.content()) == []
    never_shown(world, page.content())
    page.screenshot(path=str(screenshots / "node-extracts-list.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download this list as CSV").click()
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.splitlines()[0] == (
        "extract_id,project_id,requester,state,files_written,persons,built_at"
    )
    assert f"{RELEASE},{world.project},alice,held,3,2," in csv_text

    listed.get_by_role("link", name=RELEASE).click()
    page.wait_for_url(f"{url}/extracts/{RELEASE}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Imaging extract {RELEASE}")
    files = page.get_by_role("table", name="Files", exact=True)
    expect(files.get_by_role("row", name="Files considered")).to_contain_text("5")
    expect(files.get_by_role("row", name="Files written")).to_contain_text("3")
    expect(page.get_by_role("table", name=re.compile("^Rejected"))).to_contain_text(
        "not_original_primary"
    )
    expect(page.get_by_role("table", name=re.compile("^Failed verification"))).to_contain_text(
        "person_identifier"
    )
    findings = page.get_by_role("table", name=re.compile("^Findings of verification"))
    finding = findings.get_by_role("row").filter(has_text="(0040,A043)[0].(0008,0102)")
    expect(finding).to_contain_text("person_identifier")
    expect(finding.get_by_role("cell").last).to_have_text("1")
    actions = page.get_by_role("table", name=re.compile("^De-identification actions"))
    expect(actions.get_by_role("row", name=re.compile("^X "))).to_contain_text("removed")

    sampled = page.locator("article.sampled-file")
    expect(sampled).to_have_count(3)  # every written file: fewer than the sample's six
    loaded = page.locator("article.sampled-file img").evaluate_all(
        "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(loaded) == 2 and all(done and 0 < w <= 256 and 0 < h <= 256
                                     for done, w, h in loaded), loaded  # fmt: skip
    expect(sampled.filter(has_text="(SR)")).to_contain_text("no image")
    ct = sampled.filter(has_text="(CT)")
    header = ct.get_by_role("region", name=re.compile("De-identified header"))
    expect(header.get_by_role("row").filter(has_text="(7FE0,0010)")).to_contain_text(
        "(32768 bytes)"
    )
    expect(header.get_by_role("row").filter(has_text="PatientIdentityRemoved").first
           ).to_contain_text("YES")  # fmt: skip
    box = ct.locator("figure.thumbnail").bounding_box()
    table = header.bounding_box()
    assert box and table and box["x"] + box["width"] <= table["x"] + 1  # side by side
    assert abs(box["y"] - table["y"]) < 5
    assert accessibility_problems(page.content()) == []
    never_shown(world, page.content())
    page.screenshot(path=str(screenshots / "node-extract-review.png"), full_page=True)

    again = page.url
    page.get_by_role("link", name="Another sample").click()  # a seed of its own, in the URL
    page.wait_for_url(re.compile(r"seed=1"))
    page.goto(again)  # the same page shows the same sample
    expect(page.locator("article.sampled-file h3")).to_have_count(3)

    missing = page.goto(f"{url}/extracts/{RELEASE}/files/999/thumbnail.png")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("alert")).to_contain_text(f"The file {NOT_FOUND}")
    bad = page.goto(f"{url}/extracts/{RELEASE}/files/-1/thumbnail.png")
    assert bad is not None and bad.status == 422 and "Traceback" not in page.content()
    too_many = page.goto(f"{url}/extracts/{RELEASE}?sample=25")
    assert too_many is not None and too_many.status == 422
    expect(page.get_by_role("main")).to_contain_text("sample")
    for query, status in (("sample=ZZSENTINEL", 422), ("seed=-1", 422), ("seed=ZZSENTINEL", 422)):
        answer = page.request.get(f"{url}/extracts/{RELEASE}?{query}")
        assert answer.status == status and "ZZSENTINEL" not in answer.text(), query
        assert "Traceback" not in answer.text() and "<html" in answer.text()
    long_id = page.request.get(f"{url}/extracts/{'t' * 500}")
    assert long_id.status == 404 and f"The extract {NOT_FOUND}" in long_id.text()

    page.goto(f"{url}/extracts/{RELEASE}")
    page.get_by_role("button", name="Release into the project's workspace").click()
    page.wait_for_url(f"{url}/extracts/{RELEASE}?done=released")
    expect(page.get_by_role("status")).to_contain_text("its files are in the project's workspace")
    expect(page.locator("h1 + p .extract-state")).to_have_text("released")
    expect(page.get_by_role("button", name=re.compile("Release|Withdraw"))).to_have_count(0)
    assert not world.staging[RELEASE].exists()
    released = released_folder(world.root, world.project, RELEASE)
    assert len([p for p in released.rglob("*.dcm") if p.is_file()]) == 3
    assert world.extract(RELEASE).state is ExtractState.RELEASED

    page.goto(f"{url}/extracts/{WITHDRAW}")
    page.get_by_role("button", name="Withdraw and delete the files").click()  # no reason
    assert page.url == f"{url}/extracts/{WITHDRAW}"  # the browser asks for one first
    page.get_by_label("Reason (required; kept and audited)").fill("Burned-in text in the MR.")
    page.get_by_role("button", name="Withdraw and delete the files").click()
    page.wait_for_url(f"{url}/extracts/{WITHDRAW}?done=withdrawn")
    expect(page.get_by_role("status")).to_contain_text("its files are deleted")
    expect(page.get_by_role("main")).to_contain_text("“Burned-in text in the MR.”")
    assert not world.staging[WITHDRAW].exists()
    assert not list(world.staging[WITHDRAW].parent.glob(f"{WITHDRAW}*"))
    done = world.extract(WITHDRAW)
    assert (done.state, done.decided_by, done.reason) == (
        ExtractState.WITHDRAWN,
        "otto",
        "Burned-in text in the MR.",
    )


def test_the_requester_sees_her_report_but_may_not_release_it(world, page):
    from playwright.sync_api import expect

    url = world.url
    sign_in(page, url, world.people["alice"], f"/extracts/{FORGED}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Imaging extract {FORGED}")
    expect(page.get_by_role("table", name="Files", exact=True)).to_contain_text("Files written")
    expect(page.locator("article.sampled-file")).to_have_count(0)  # the sample is the checker's
    expect(page.get_by_role("button", name=re.compile("^Release"))).to_have_count(0)
    expect(page.get_by_role("button", name="Withdraw and delete the files")).to_be_visible()
    assert accessibility_problems(page.content()) == []
    never_shown(world, page.content())

    token = page.locator("form input[name=csrf]").first.get_attribute("value")
    assert token
    forged = page.request.post(f"{url}/extracts/{FORGED}/release", form={"csrf": token})
    assert forged.status == 403
    refusal = f"Only an output checker of {NODE} releases an extract there."
    assert refusal in forged.text() and "<html" in forged.text()  # the error page
    as_json = page.request.post(f"{url}/extracts/{FORGED}/release",
                                headers={"HX-Request": "true", "X-CSRF-Token": token})  # fmt: skip
    assert as_json.status == 403
    assert as_json.json() == {"error": {"code": "forbidden", "message": refusal, "details": []}}
    thumbnail = page.request.get(f"{url}/extracts/{FORGED}/files/0/thumbnail.png")
    assert thumbnail.status == 404 and NOT_FOUND in thumbnail.text()
    assert world.staging[FORGED].is_dir()  # nothing moved
    assert len(list(world.staging[FORGED].rglob("*.dcm"))) == 3
    assert not released_folder(world.root, world.project, FORGED).exists()
    assert world.extract(FORGED).state is ExtractState.HELD

    page.goto(f"{url}/extracts/{MINE}")  # her own withdrawal: the files are deleted
    page.get_by_label("Reason (required; kept and audited)").fill("Asked for the wrong series.")
    page.get_by_role("button", name="Withdraw and delete the files").click()
    page.wait_for_url(f"{url}/extracts/{MINE}?done=withdrawn")
    expect(page.get_by_role("status")).to_contain_text("its files are deleted")
    assert not world.staging[MINE].exists()
    assert world.extract(MINE).decided_by == "alice"


@pytest.mark.parametrize("who", ["sam", "zed"])
def test_a_stranger_is_told_the_extract_does_not_exist(world, who):
    """A node account without a role, and a researcher of another project approved here."""
    client = client_sign_in(world.url, world.people[who])
    assert FORGED not in client.get("/extracts").text
    for path in (f"/extracts/{FORGED}", f"/extracts/{FORGED}/files/0/thumbnail.png",
                 "/extracts/t_nosuchtask"):  # fmt: skip
        answer = client.get(path)
        assert answer.status_code == 404 and f"The extract {NOT_FOUND}" in answer.text, path
    token = csrf_of(client.get("/extracts").text)
    refused = client.post(f"/extracts/{FORGED}/release", data={"csrf": token})
    assert refused.status_code == 404 and NOT_FOUND in refused.text
    assert world.staging[FORGED].is_dir()
