"""The portal's frame in a real browser: the hub serves its home page with its own assets (no
CDN), landmarks and a skip link that moves focus to the main content."""

from __future__ import annotations


def test_the_hub_home_page_loads_its_own_assets_and_is_keyboard_usable(harness, page):
    harness.start_hub()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(harness.hub_url + "/")
    assert response is not None and response.status == 200
    assert page.title().endswith("fivesafes hub")
    assert page.evaluate("typeof window.htmx") == "object"  # served from the hub, not a CDN
    assert all(url.startswith(harness.hub_url) for url in requests), requests
    assert page.locator("main#main").count() == 1
    assert page.locator("nav[aria-label='Main']").count() == 1
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
