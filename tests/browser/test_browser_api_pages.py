"""The hub's API pages (``/docs``) in a real browser: Swagger UI from the hub's own static
files (installed from the npm registry at set-up), never a CDN — the page once came up blank
where the CDN could not be reached (issue 13, D). Every request the page makes is to the hub."""

from __future__ import annotations

from urllib.parse import urlsplit


def test_the_api_pages_render_from_the_hubs_own_files(harness, page, tmp_path):
    from playwright.sync_api import expect

    harness.start_hub()
    url = harness.hub_url
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(url + "/docs")
    expect(page.get_by_role("heading", name="fivesafes hub")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("/api/v1/tasks").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=False)
    hosts = {urlsplit(u).netloc for u in asked if u.startswith("http")}
    assert hosts == {urlsplit(url).netloc}, hosts
