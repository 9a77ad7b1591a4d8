"""A pathologist reads a case of a review study in Chromium (issue 17): a real hub process, a
node's real commands (``tests/study_world``: synthetic slides released, the study approved by
the node's custodian and allocated).

* the worklist names the case by its study pseudonym; the read page opens it in the viewer with
  the form beside it, and no AI panel;
* the reader answers (a conditional item appears only when it applies), the page saves as they
  go, they lock the unaided read, then show the AI: its predictions are listed and drawn;
* for each prediction they disagree and draw a corrected region on the slide (three clicks),
  change their diagnosis in the light of the AI, and submit;
* what the hub kept is what they did: the unaided read as locked, the aided read, a region of
  three points inside the slide for each prediction; the page passes the accessibility checks;
  a screenshot is saved (``FIVESAFES_SCREENSHOTS``, else a temporary folder).
"""

from __future__ import annotations

from portal import browse_as
from study_world import api, open_study, study_world
from web_a11y import accessibility_problems

LOADED = """() => {
  const v = window.slideViewer;
  return !!v && v.world.getItemCount() === 1 && v.world.getItemAt(0).getFullyLoaded();
}"""


def test_a_reader_reads_a_case_unaided_then_with_the_ai(harness, tmp_path, page, screenshots):
    from playwright.sync_api import expect

    world = study_world(harness, tmp_path)
    sid = open_study(harness, world)
    browse_as(page, harness, "rita")

    page.goto(f"{harness.hub_url}/review/studies")
    expect(
        page.get_by_role("heading", name="Lung biopsies read at two other hospitals")
    ).to_be_visible()
    mine = api(harness, world, "rita").get(f"/studies/{sid}/worklist").json()
    first = mine[0]
    page.get_by_role("link", name=first["case"]).click()
    page.wait_for_url(f"{harness.hub_url}/review/studies/reads/{first['read_id']}")
    page.wait_for_function(LOADED, timeout=30_000)
    expect(page.get_by_role("heading", name=f"Case {first['case']}")).to_be_visible()
    expect(page.get_by_role("heading", name="The AI's predictions")).to_have_count(0)
    for release in world["releases"]:
        assert release not in page.content()

    # the unaided read: the histological type is asked only once carcinoma is present
    histology = page.get_by_role("group", name="Histological type")
    expect(histology).to_be_hidden()
    page.get_by_role("group", name="Is the specimen adequate for diagnosis?").get_by_label(
        "Adequate", exact=True
    ).check()
    page.get_by_role("group", name="Is carcinoma present?").get_by_label("Yes").check()
    expect(histology).to_be_visible()
    histology.get_by_label("Squamous cell carcinoma").check()
    page.get_by_role("group", name="How confident are you in this diagnosis?").get_by_label(
        "4: very"
    ).check()
    expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="Lock my unaided read").click()
    page.get_by_role("button", name="Show the AI's predictions").click()
    page.wait_for_function(LOADED, timeout=30_000)
    panel = page.get_by_role("region", name="The AI's predictions")
    expect(panel.get_by_role("article").first).to_be_visible(timeout=15_000)

    # the aided read: a view of each prediction, a region drawn on the slide
    blocks = page.locator("fieldset.prediction")
    shown = blocks.count()
    assert shown >= 1
    viewer = page.locator("#slide-viewer")
    for i in range(shown):
        block = blocks.nth(i)
        block.get_by_label("Disagree").check()
        block.get_by_label("4: very").check()
        block.get_by_role("button", name="Draw on the slide").click()
        viewer.scroll_into_view_if_needed()
        box = viewer.bounding_box()
        for dx, dy in ((0.3, 0.3), (0.6, 0.3), (0.45, 0.6)):
            page.mouse.click(box["x"] + box["width"] * dx, box["y"] + box["height"] * dy)
            page.wait_for_timeout(150)
        block.get_by_role("button", name="Finish drawing").click()
        expect(block.locator("output")).to_have_text("3 points")
    page.get_by_role("group", name="Histological type").get_by_label("Adenocarcinoma").check()
    expect(page.get_by_role("status").filter(has_text="Saved at")).to_be_visible(timeout=10_000)
    assert not accessibility_problems(page.content())
    page.screenshot(path=str(screenshots / "hub-study-read.png"), full_page=True)
    page.get_by_role("button", name="Submit this read").click()
    page.wait_for_url(f"{harness.hub_url}/review/studies")

    kept = next(r for r in api(harness, world, "rita").get(f"/studies/{sid}/worklist").json()
                if r["read_id"] == first["read_id"])  # fmt: skip
    assert kept["state"] == "submitted"
    assert kept["unaided"]["histological_type"] == "squamous"
    assert kept["aided"]["histological_type"] == "adenocarcinoma"
    assert len(kept["feedback"]) == shown
    for view in kept["feedback"].values():
        assert view["ai_agrees"] == "disagree" and len(view["ai_region"]) == 3
        assert all(x >= 0 and y >= 0 for x, y in view["ai_region"])

    # the lead locks the study and reads its results page
    assert api(harness, world, "alice").post(f"/studies/{sid}/lock").status_code == 200
    browse_as(page, harness, "alice")
    page.goto(f"{harness.hub_url}/review/studies/{sid}/results")
    expect(page.get_by_role("heading", name="Progress")).to_be_visible()
    expect(page.get_by_role("heading", name="Agreement")).to_be_visible()
    expect(page.get_by_role("heading", name="The AI's quality per hospital")).to_be_visible()
    expect(page.get_by_text("1 of 4 reads submitted")).to_be_visible()
    expect(page.get_by_role("heading", name="The study")).to_be_visible()
    expect(page.get_by_role("button", name="Print the report, or save it as PDF")).to_be_visible()
    pdf = page.pdf()  # the report as the browser prints it (Chromium, headless)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    assert not accessibility_problems(page.content())
    page.screenshot(path=str(screenshots / "hub-study-results.png"), full_page=True)
