"""How a checker sees each file beside its pre-screen: a CSV as a table, JSON and text as
text, a PNG as an image, a PDF as a link. Previews are cut at a size a page can hold (the
file itself is a link away); the template escapes everything."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from fivesafes.protocol import bounded_json

MAX_ROWS = 200
MAX_TEXT = 100_000
MEDIA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".pdf": "application/pdf",
}


@dataclass(frozen=True)
class Preview:
    kind: str  # table | text | image | link
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    text: str = ""
    cut: bool = False  # only the start is shown


def extension(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def preview(name: str, content: bytes) -> Preview:
    ext = extension(name)
    if ext == ".png":
        return Preview("image")
    if ext == ".csv":
        try:
            rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
        except (UnicodeDecodeError, csv.Error):
            return Preview("text", text="(not readable as a UTF-8 CSV table)")
        if not rows:
            return Preview("table")
        body = rows[1 : MAX_ROWS + 1]
        return Preview("table", header=rows[0], rows=body, cut=len(rows) - 1 > MAX_ROWS)
    if ext in (".json", ".txt"):
        text = content.decode("utf-8", errors="replace")
        if ext == ".json":
            with contextlib.suppress(ValueError):  # shown as it is
                text = json.dumps(bounded_json.loads(text), indent=2, ensure_ascii=False)
        return Preview("text", text=text[:MAX_TEXT], cut=len(text) > MAX_TEXT)
    return Preview("link")
