"""Results folders in ACRO's layout, so output checkers' tools (ACRO, SACRO viewer) read them.

    write_results([("output_0", out)], Path("outputs"))

writes, following ACRO 1.0.2 (``acro/record.py``, ``Records.finalise`` with ``json``)::

    outputs/
      results.json            {"version", "tool", "results": {uid: {...}}}
      <uid>_0.csv             the released table of each output (``Output.table`` only)
      checksums/<file>.txt    sha256 (hex, no newline) of every file above

``"version"`` is the ACRO release whose layout this follows ("1.0.2"; ACRO's ``load_records``
refuses any other), ``"tool"`` names fivesafes as the writer. Each result holds ``uid``,
``status`` (our verdict: pass, review, fail), ``type`` ("table"), ``properties``, ``files``
(``[{"name", "sdc": {"summary": {rule: cells}, "cells": {rule: [[row, col], ...]}}}]``),
``outcome`` (rule codes per cell, "ok" when clean, column → row → codes), ``command``,
``summary``, ``timestamp``, ``comments``, ``exception`` and ``fair``. Only what an ``Output``
already releases is written: its table, its reasons and its report; never a true value.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fivesafes import __version__
from fivesafes.sdc.output import Output
from fivesafes.sdc.rules.base import Outcome

ACRO_FORMAT_VERSION = "1.0.2"
_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def write_results(outputs: Sequence[tuple[str, Output]], path: Path) -> Path:
    """Write ``outputs`` (uid, output) as an ACRO-style results folder at ``path``.

    Returns the path of ``results.json``. Raises ``FileExistsError`` if ``path`` exists and is
    not an empty folder, ``ValueError`` for no outputs, a repeated uid, or a uid that is not a
    plain file name (letters, digits, ``_ . -``)."""
    _check_uids([uid for uid, _ in outputs])
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} exists and is not an empty folder; refusing to overwrite")
    path.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for uid, output in outputs:
        name = f"{uid}_0.csv"
        (path / name).write_text(output.table.to_csv(), encoding="utf-8")
        results[uid] = _result(uid, output, name)
    document = {
        "version": ACRO_FORMAT_VERSION,
        "tool": {
            "@type": "SoftwareApplication",
            "name": "fivesafes",
            "version": __version__,
        },
        "results": results,
    }
    results_json = path / "results.json"
    results_json.write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
    _write_checksums(path)
    return results_json


def _check_uids(uids: list[str]) -> None:
    if not uids:
        raise ValueError("no outputs to write")
    for uid in uids:
        if not _UID.fullmatch(uid):
            raise ValueError(f"output uid {uid!r} is not a plain file name")
    if len(set(uids)) != len(uids):
        raise ValueError("output uids must be unique")


def _result(uid: str, output: Output, filename: str) -> dict[str, Any]:
    cells = _cells_by_rule(output.reasons)
    summary = {rule: len(positions) for rule, positions in cells.items()}
    status = output.verdict.value
    counts = "; ".join([*output.errors, *(f"{rule}: {n} cells" for rule, n in summary.items())])
    return {
        "uid": uid,
        "status": status,
        "type": "table",
        "properties": {
            "method": output.kind,
            "mitigation": "suppression and rounding by fivesafes.sdc",
            "statistic": output.statistic,
            "profile": output.profile.name,
            "counting_unit": output.counting_unit,
        },
        "files": [{"name": filename, "sdc": {"summary": summary, "cells": cells}}],
        "outcome": _outcome(output.reasons),
        "command": f"{output.kind}({output.statistic})",
        "summary": f"{status}; {counts}" if counts else status,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        "comments": [],
        "exception": "",
        "fair": {
            "check_status": _check_status(output),
            "report": output.report_dict(),
        },
    }


def _check_status(output: Output) -> dict[str, str]:
    """Rule → "fail" (it suppressed a cell) or "review"; errors are "fail"."""
    status: dict[str, str] = {}
    for f in output.findings:
        worst = "fail" if f.finding.outcome is Outcome.SUPPRESS else "review"
        if status.get(f.finding.rule) != "fail":
            status[f.finding.rule] = worst
    if output.errors:
        status["check-error"] = "fail"
    return status


def _cells_by_rule(reasons: pd.DataFrame) -> dict[str, list[list[int]]]:
    """Rule code → [row, column] positions in the released table (margins come last)."""
    cells: dict[str, list[list[int]]] = {}
    for i in range(reasons.shape[0]):
        for j in range(reasons.shape[1]):
            for rule in str(reasons.iat[i, j]).split("; "):
                if rule and rule != "nan":
                    cells.setdefault(rule, []).append([i, j])
    return cells


def _outcome(reasons: pd.DataFrame) -> dict[str, dict[str, str]]:
    """ACRO's outcome frame as JSON: column label → row label → codes ("ok" when clean)."""
    outcome: dict[str, dict[str, str]] = {}
    for j, column in enumerate(reasons.columns):
        per_row = outcome.setdefault(_label(column), {})
        for i, row in enumerate(reasons.index):
            codes = reasons.iat[i, j]
            per_row[_label(row)] = str(codes) if isinstance(codes, str) and codes else "ok"
    return outcome


def _label(label: Hashable) -> str:
    if isinstance(label, tuple):
        return ", ".join(str(part) for part in label)
    return str(label)


def _write_checksums(path: Path) -> None:
    folder = path / "checksums"
    folder.mkdir()
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        (folder / f"{file.name}.txt").write_text(digest, encoding="utf-8")
