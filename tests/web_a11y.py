"""Checks of a portal page's markup that make it usable with a keyboard and a screen reader:
a language, one main landmark and one top heading, a label for every field a person fills in,
a name for every button and link, and alternative text for every image."""

from __future__ import annotations

from html.parser import HTMLParser

FIELDS = {"input", "select", "textarea"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.mains = 0
        self.h1s = 0
        self.label_for: set[str] = set()
        self.label_depth = 0
        self.fields: list[dict[str, str | None]] = []
        self.images_without_alt: list[str] = []
        self.open: list[tuple[str, dict[str, str | None], list[str]]] = []  # button/a, text
        self.unnamed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang") or ""
        if tag == "main" or found.get("role") == "main":
            self.mains += 1
        if tag == "h1":
            self.h1s += 1
        if tag == "label":
            self.label_depth += 1
            if found.get("for"):
                self.label_for.add(str(found["for"]))
        if tag in FIELDS and (found.get("type") or "text") not in UNLABELLED_INPUTS:
            self.fields.append({**found, "_wrapped": "1" if self.label_depth else None})
        if tag == "img" and found.get("alt") is None:
            self.images_without_alt.append(str(found.get("src")))
        if tag in ("button", "a"):
            self.open.append((tag, found, []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.label_depth = max(0, self.label_depth - 1)
        if tag in ("button", "a") and self.open and self.open[-1][0] == tag:
            _, attrs, text = self.open.pop()
            named = "".join(text).strip() or attrs.get("aria-label") or attrs.get("title")
            if not named:
                self.unnamed.append(f"<{tag} {attrs}>")

    def handle_data(self, data: str) -> None:
        for _, _, text in self.open:
            text.append(data)


def accessibility_problems(html: str) -> list[str]:
    """What stops a keyboard or screen-reader user on this page (empty: nothing found)."""
    page = _Page()
    page.feed(html)
    problems = []
    if not page.lang:
        problems.append("the page does not give its language (<html lang>)")
    if page.mains != 1:
        problems.append(f"{page.mains} main landmarks, not one")
    if page.h1s != 1:
        problems.append(f"{page.h1s} top headings (h1), not one")
    for field in page.fields:
        labelled = (
            field.get("_wrapped")
            or (field.get("id") and field["id"] in page.label_for)
            or field.get("aria-label")
            or field.get("aria-labelledby")
        )
        if not labelled:
            problems.append(f"a field without a label: {field.get('name') or field}")
    problems += [f"an image without alt text: {src}" for src in page.images_without_alt]
    problems += [f"a control without a name: {what}" for what in page.unnamed]
    return problems
