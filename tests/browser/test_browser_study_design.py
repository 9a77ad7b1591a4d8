"""A study's lead designs and runs a review study in Chromium (issue 17): a real hub process and
the node's real commands (``tests/study_world``: synthetic slides released to the project).

* from the worklist, "Design a study": the project chosen, the form filled in as a person
  would (hospitals, clinical facts, two readers and their hospitals, the allocation, the AI's
  answer); a design that cannot hold (more reads per case than readers) comes back in words
  with what was typed kept, and nothing is made;
* saved, it is a draft; proposed, it waits for the node's custodian, who approves it with the
  node's command; the page shows the approval, the released slides are added as its cases and
  the reads allocated;
* the hub keeps exactly the design that was typed (compared with the API's view); an edit
  makes a new version that waits for approval again; approved again, the lead locks it (a
  box to tick first) and its results page opens;
* each page passes the accessibility checks; screenshots are saved.
"""

from __future__ import annotations

from datetime import date, timedelta

from federation import fs
from fivesafes.demo.local import CUSTODIAN
from portal import browse_as
from slide_review_world import MODEL, NODE
from study_world import api, study_world
from web_a11y import accessibility_problems


def test_a_lead_designs_proposes_and_runs_a_study(harness, tmp_path, page, screenshots):
    from playwright.sync_api import expect

    world = study_world(harness, tmp_path)
    browse_as(page, harness, "alice")
    page.goto(f"{harness.hub_url}/review/studies")
    page.get_by_role("button", name="Design a study").click()
    page.get_by_label("The project whose released slides the study reads").select_option(
        world["study_project"]
    )
    page.get_by_role("button", name="Go on").click()
    expect(page.get_by_role("heading", name="Design a review study")).to_be_visible()

    page.get_by_label("Title").fill("Lung biopsies designed in the portal")
    page.get_by_label("Purpose").fill("Agreement between two hospitals, and the demo model.")
    page.get_by_role("group", name="Hospitals whose cases are read").get_by_label(NODE).check()
    facts = page.get_by_role("group", name="Clinical facts shown beside a case")
    facts.get_by_label("Age band").check()
    facts.get_by_label("Sex").check()
    for reader, site in (("rita", "riverside"), ("ravi", "lakeside")):
        page.locator(f"#reader-{reader}").check()
        page.get_by_label(f"{reader}'s hospital").fill(site)
    page.get_by_label("Reads of each case").fill("3")  # more than the two readers
    page.get_by_label("The AI model whose predictions are reviewed").fill(MODEL)
    page.get_by_text("The AI's answer to one item").click()
    page.get_by_label("Item", exact=True).select_option("tumour_present")
    page.get_by_label('Its code for "yes"').select_option(label="Yes")
    page.get_by_label('Its code for "no"').select_option(label="No")
    page.get_by_label("When the AI drew a region of class").fill("Tumor")
    page.get_by_role("button", name="Save the draft").click()

    problems = page.get_by_role("alert")
    expect(problems).to_contain_text(
        "design: each case needs more reads than the study has readers"
    )
    expect(page.get_by_label("Title")).to_have_value("Lung biopsies designed in the portal")
    expect(page.locator("#reader-ravi")).to_be_checked()
    expect(page.get_by_label("ravi's hospital")).to_have_value("lakeside")
    lead = api(harness, world, "alice")
    assert lead.get("/studies").json() == []  # nothing was made
    assert not accessibility_problems(page.content())
    page.screenshot(path=str(screenshots / "hub-study-design-form.png"), full_page=True)

    page.get_by_label("Reads of each case").fill("2")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.locator("#study-state")).to_have_text("draft")
    expect(page.get_by_role("status")).to_contain_text("saved as a draft")
    (made,) = lead.get("/studies").json()
    sid = made["study_id"]
    assert made["design"] == {
        "title": "Lung biopsies designed in the portal",
        "purpose": "Agreement between two hospitals, and the demo model.",
        "nodes": [NODE],
        "clinical_fields": ["age_band", "sex"],
        "model": MODEL,
        "readers": [
            {"username": "ravi", "site": "lakeside"},
            {"username": "rita", "site": "riverside"},
        ],
        "allocation": {
            "reads_per_case": 2,
            "exclude_own_site": True,
            "reread_fraction": 0.0,
            "washout_days": 14,
        },
        "design": "sequential",
        "form": {"form_id": "lung_biopsy", "version": 1},
        "ai_answer": {"item": "tumour_present", "yes": "yes", "no": "no", "when_class": "Tumor"},
        "deadline": None,
    }

    page.get_by_role("button", name="Propose to the custodians").click()
    expect(page.locator("#study-state")).to_have_text("awaiting")
    expect(page.get_by_role("cell", name="waiting", exact=True)).to_be_visible()
    fs("node", "studies", "approve", sid, "--by", CUSTODIAN, "--yes", "-c", world["config"])
    page.reload()
    expect(page.locator("#study-state")).to_have_text("open")
    expect(page.get_by_role("cell", name="approved", exact=True)).to_be_visible()

    added = page.locator("#add-cases input[name=review_id]")
    expect(added).to_have_count(len(world["releases"]))
    page.get_by_role("button", name="Add the ticked slides as cases").click()
    expect(page.get_by_role("status")).to_contain_text("are the study's cases")
    expect(page.get_by_text(f"{len(world['releases'])} cases")).to_be_visible()
    page.get_by_role("button", name="Allocate the reads").click()
    expect(page.get_by_role("status")).to_contain_text("reads are allocated")
    reads = {r: api(harness, world, r).get(f"/studies/{sid}/worklist").json()
             for r in ("rita", "ravi")}  # fmt: skip
    assert all(len(v) == len(world["releases"]) for v in reads.values())
    assert not accessibility_problems(page.content())
    page.screenshot(path=str(screenshots / "hub-study-lead.png"), full_page=True)

    # an edit is a new version: the study waits for its custodian again
    page.get_by_role("button", name="Edit the design").click()
    expect(page.get_by_label("Title")).to_have_value("Lung biopsies designed in the portal")
    expect(page.get_by_label("rita's hospital")).to_have_value("riverside")
    page.get_by_label("Purpose").fill("Agreement between two hospitals; the model's quality.")
    passed = (date.today() - timedelta(days=1)).isoformat()  # a deadline already passed
    page.get_by_label("Deadline").fill(passed)
    page.get_by_role("button", name="Save a new version").click()
    expect(page.locator("#study-state")).to_have_text("awaiting")
    expect(page.get_by_role("cell", name="an earlier version", exact=True)).to_be_visible()
    edited = lead.get(f"/studies/{sid}").json()
    assert edited["version"] == 2  # everything else as it was: the form shows what is kept
    assert edited["design"] == made["design"] | {
        "purpose": "Agreement between two hospitals; the model's quality.",
        "deadline": passed,
    }
    read = reads["rita"][0]["read_id"]
    refused = api(harness, world, "rita").post(f"/studies/reads/{read}/open")
    assert refused.status_code == 409 and "approve" in refused.json()["error"]["message"]
    fs("node", "studies", "approve", sid, "--by", CUSTODIAN, "--yes", "-c", world["config"])

    # the lock: refused in words until the box is ticked
    page.reload()
    expect(page.locator("#study-state")).to_have_text("open")
    for reader in ("ravi", "rita"):  # the lead sees who has not read by the deadline
        row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=reader))
        expect(row).to_contain_text(f"overdue: {len(world['releases'])} to read")
    page.locator("#lock input[name=confirm]").evaluate("box => box.removeAttribute('required')")
    page.get_by_role("button", name="Lock the study").click()
    expect(page.get_by_role("alert")).to_contain_text("Tick the box to confirm")
    assert lead.get(f"/studies/{sid}").json()["state"] == "open"
    page.get_by_label("No read may change from now on").check()
    page.get_by_role("button", name="Lock the study").click()
    expect(page.locator("#study-state")).to_have_text("locked")
    page.get_by_role("link", name="Progress and results").click()
    expect(page.get_by_role("heading", name="Agreement")).to_be_visible()


def test_a_reader_sees_the_study_but_not_its_running(harness, tmp_path, page):
    """A reader's view of the study's page is its design and their worklist: no cases, no
    per-hospital counts, none of the lead's steps; a step posted anyway is refused."""
    from playwright.sync_api import expect

    from study_world import open_study

    world = study_world(harness, tmp_path)
    sid = open_study(harness, world)
    rita = browse_as(page, harness, "rita")
    page.goto(f"{harness.hub_url}/review/studies/{sid}")
    expect(page.get_by_role("link", name="your worklist")).to_be_visible()
    expect(page.get_by_role("heading", name="Cases and reads")).to_have_count(0)
    for step in ("Propose to the custodians", "Allocate the reads", "Lock the study"):
        expect(page.get_by_role("button", name=step)).to_have_count(0)
    locked = rita.post(f"/review/studies/{sid}/lock", data={"confirm": "lock"},
                       headers={"x-csrf-token": rita.csrf})  # fmt: skip
    assert locked.status_code == 403
    assert api(harness, world, "alice").get(f"/studies/{sid}").json()["state"] == "open"
