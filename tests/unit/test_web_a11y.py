"""The markup checks used on every portal page find what they are meant to find."""

from __future__ import annotations

from web_a11y import accessibility_problems

GOOD = """<!doctype html><html lang="en"><body><nav><a href="/">Home</a></nav><main>
<h1>Projects</h1><form><label for="t">Title</label><input id="t" name="title">
<label>Members <input name="members"></label><input type="hidden" name="csrf" value="x">
<select name="node" aria-label="Node"></select><button type="submit">Save</button>
<img src="/chart.png" alt="Counts by node"></form></main></body></html>"""


def test_a_good_page_has_no_problems():
    assert accessibility_problems(GOOD) == []


def test_each_problem_is_found():
    bad = (
        GOOD.replace('lang="en"', "")
        .replace('<label for="t">Title</label>', "")
        .replace(' alt="Counts by node"', "")
        .replace(">Save<", "><")
        .replace("</main>", "</main><main><h1>Again</h1></main>")
    )
    problems = accessibility_problems(bad)
    assert "the page does not give its language (<html lang>)" in problems
    assert "2 main landmarks, not one" in problems
    assert "2 top headings (h1), not one" in problems
    assert "a field without a label: title" in problems
    assert "an image without alt text: /chart.png" in problems
    assert any(p.startswith("a control without a name: <button") for p in problems)
    assert len(problems) == 6
