"""Compare DICOM de-identification tools on the answer-key archive: speed, and the score of each
tool's output against the same key; record the result in docs/benchmarks.md.

    .venv/bin/python benchmarks/bench_deid.py                       # >= 2,000 files, recorded
    .venv/bin/python benchmarks/bench_deid.py --files 300 --no-docs
    .venv/bin/python benchmarks/bench_deid.py --docs /tmp/benchmarks.md

The archive and its key (:func:`fivesafes.imaging.deid.phi_key.write_phi_archive`) are made
once in ``--workdir`` (again only for another ``--files`` or ``--seed``) and read once before
timing, so every tool sees a warm page cache. Each tool then runs in a fresh process of its
own, writing one output per input at the same relative path, and is scored
(:func:`fivesafes.imaging.deid.score.score`) against the key, which is written for the Basic
Profile with modified dates and cleaned descriptors, structured content and pixel data: the
other tools are judged by what that option set requires, not by what they promise.

- **fivesafes**: the whole pipeline, :func:`fivesafes.imaging.deid.run.deidentify_tree`
  (rejectors, the engine with the key's options, verification of every file written, OCR of
  files at risk of burned-in text) over a pool of 2 processes; a file rejected or failing
  verification is not released.
A file a tool raises an error on is counted and not released (the index's archive holds files
without a preamble, which pydicom reads only with ``force=True``, and malformed ones).

- **dicognito** 0.19: one ``Anonymizer`` for the run (as its documentation says, so that a
  study's files stay consistent) on each pydicom dataset, single process. Its command line's
  guard for Burned In Annotation only warns by default; the Python API has none.
- **dicom-anonymizer** 2.1.0: ``anonymize_dicom_file`` with its defaults (DICOM 2023 table,
  private elements deleted), single process.
- **deid** 0.4.13: ``get_identifiers`` then ``replace_identifiers`` with its default recipe
  (``deid.dicom``), as its documentation shows, in batches of 100 files, single process; the
  datasets it returns are saved by this script at the same relative path (its own saving keeps
  only the file's base name).

files/s is over the whole run of the tool (reading, work, writing); files/s per core divides
by the processes the tool ran (2 for fivesafes, 1 for the others); CPU per file counts every
process of the tool. The machine is shared: the load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path
from typing import Any

from record import TreeWatch, machine, update_section

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "deid"
MIN_FILES = 2_000
TOOLS = ("fivesafes", "dicognito", "dicom-anonymizer", "deid")
PACKAGES = {"fivesafes": "fivesafes", "dicognito": "dicognito", "dicom-anonymizer":
            "dicom-anonymizer", "deid": "deid"}  # fmt: skip
PROCESSES = {"fivesafes": 2, "dicognito": 1, "dicom-anonymizer": 1, "deid": 1}
NODE_SECRET = b"bench-deid-node-secret-32-bytes!"


# ---- the archive, made once -----------------------------------------------------------------


def make_archive(workdir: Path, files: int, seed: int) -> dict[str, Any]:
    """The answer-key archive in ``workdir/phi``, made unless already there; read once."""
    from fivesafes.imaging.deid.phi_key import write_phi_archive

    made_file = workdir / "made.json"
    if made_file.exists():
        made = json.loads(made_file.read_text())
        if made.get("files") == files and made.get("seed") == seed:
            _warm(workdir / "phi" / "archive")
            return dict(made)
    shutil.rmtree(workdir / "phi", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    report = write_phi_archive(workdir / "phi", files=files, seed=seed)
    made = {
        "files": report.files,
        "seed": seed,
        "persons": len(report.people),
        "studies": report.studies,
        "burned_in": report.burned_in,
        "modalities": dict(report.modalities),
        "checks": dict(report.checks),
        "bytes": sum(p.stat().st_size for p in report.archive.rglob("*.dcm")),
        "seconds": round(report.seconds, 1),
    }
    made_file.write_text(json.dumps(made))
    _warm(report.archive)
    return made


def make_plain_archive(workdir: Path, files: int) -> Path:
    """The imaging index's synthetic archive (``fivesafes.imaging.synth``: CT, MR, CR, US...,
    small headers, consistent with a synthetic CDM) in ``workdir/plain``, cut to its first
    ``files`` files in sorted order (copied to ``workdir/plain/cut``); read once."""
    from fivesafes.data.synth import generate
    from fivesafes.imaging.synth import write_archive

    cut = workdir / "plain" / "cut"
    if not (cut.exists() and sum(1 for p in cut.rglob("*") if p.is_file()) == files):
        shutil.rmtree(workdir / "plain", ignore_errors=True)
        (workdir / "plain").mkdir(parents=True)
        omop = workdir / "plain" / "omop.duckdb"
        generate(omop, persons=max(1_000, files), seed=14)
        made = write_archive(omop, workdir / "plain" / "dicom", seed=14, workers=2)
        every = sorted(p for p in made.archive.rglob("*") if p.is_file())[:files]
        for path in every:
            target = cut / path.relative_to(made.archive)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    _warm(cut)
    return cut


def _warm(archive: Path) -> None:
    for path in archive.rglob("*"):
        if path.is_file():
            path.read_bytes()


def _paths(workdir: Path) -> list[str]:
    from fivesafes.imaging.deid.phi_key import load_key

    return [f.file for f in load_key(workdir / "phi").files]


# ---- the tools: one output per input, at the same relative path -----------------------------


def run_fivesafes(archive: Path, out: Path, paths: list[str]) -> Counter[str]:
    """The whole pipeline (``deidentify_tree``: rejectors, engine, verification of every file
    written, OCR of files at risk) with the key's options over 2 workers; each written file is
    then moved to its source's relative path for the scorer (a rename, inside the timing)."""
    from fivesafes.imaging.deid.keys import ProjectKeys
    from fivesafes.imaging.deid.phi_key import KEY_OPTIONS
    from fivesafes.imaging.deid.reject import load_rejectors
    from fivesafes.imaging.deid.run import FileOutcome, Job, deidentify_tree

    job = Job(ProjectKeys.derive(NODE_SECRET, "bench-deid"), KEY_OPTIONS, load_rejectors())
    written = out.parent / f"{out.name}-written"
    shutil.rmtree(written, ignore_errors=True)
    outcomes: Counter[str] = Counter()

    def place(path: str, outcome: FileOutcome) -> None:
        if outcome.status != "written" or outcome.target is None:
            why = outcome.reason or ",".join(sorted({rule for rule, _ in outcome.findings}))
            outcomes[f"{outcome.status}: {why}"] += 1
            return
        target = out / Path(path).relative_to(archive)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(written / outcome.target, target)
        outcomes["released"] += 1

    deidentify_tree([archive / p for p in paths], written, job, workers=2, each=place)
    return outcomes


def run_dicognito(archive: Path, out: Path, paths: list[str]) -> Counter[str]:
    import pydicom
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer()
    outcomes: Counter[str] = Counter()
    for path in paths:
        try:
            dataset = pydicom.dcmread(archive / path, force=True)
            anonymizer.anonymize(dataset)
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            dataset.save_as(out / path)
        except Exception as exc:  # a file the tool cannot take: not released
            outcomes[f"error: {type(exc).__name__}"] += 1
            continue
        outcomes["released"] += 1
    return outcomes


def run_dicom_anonymizer(archive: Path, out: Path, paths: list[str]) -> Counter[str]:
    from dicomanonymizer import anonymize_dicom_file

    outcomes: Counter[str] = Counter()
    for path in paths:
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        try:
            anonymize_dicom_file(str(archive / path), str(out / path))
        except Exception as exc:  # a file the tool cannot take: not released
            outcomes[f"error: {type(exc).__name__}"] += 1
            continue
        outcomes["released"] += 1
    return outcomes


def run_deid(archive: Path, out: Path, paths: list[str]) -> Counter[str]:
    from deid.dicom import get_identifiers, replace_identifiers

    outcomes: Counter[str] = Counter()
    for start in range(0, len(paths), 100):
        batch = paths[start : start + 100]
        try:
            files = [str(archive / p) for p in batch]
            ids = get_identifiers(files)
            cleaned = replace_identifiers(dicom_files=files, ids=ids)
        except Exception:  # a file it cannot take stops its batch: one file at a time then
            cleaned = []
            for path in batch:
                try:
                    one = [str(archive / path)]
                    cleaned += replace_identifiers(dicom_files=one, ids=get_identifiers(one))
                except Exception as exc:  # not released
                    outcomes[f"error: {type(exc).__name__}"] += 1
                    cleaned.append(None)
        for path, dataset in zip(batch, cleaned, strict=True):
            if dataset is None:
                continue
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            dataset.save_as(out / path)
            outcomes["released"] += 1
    return outcomes


RUNS = {"fivesafes": run_fivesafes, "dicognito": run_dicognito,
        "dicom-anonymizer": run_dicom_anonymizer, "deid": run_deid}  # fmt: skip


def child(args: argparse.Namespace) -> int:
    """``--measure TOOL``: one tool over the archive, its figures written to ``--result``."""
    if args.plain:
        archive, out = args.workdir / "plain" / "cut", args.workdir / f"plain-{args.measure}"
        paths = sorted(str(p.relative_to(archive)) for p in archive.rglob("*") if p.is_file())
    else:
        archive, out = args.workdir / "phi" / "archive", args.workdir / f"out-{args.measure}"
        paths = _paths(args.workdir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    started = time.perf_counter()
    outcomes = RUNS[args.measure](archive, out, paths)
    seconds = time.perf_counter() - started
    figures = {"files": len(paths), "seconds": seconds, "outcomes": dict(outcomes)}
    args.result.write_text(json.dumps(figures))
    return 0


def run_measurement(workdir: Path, tool: str, plain: bool = False) -> dict[str, Any]:
    """One tool in a fresh process (its output to a log file): its figures, CPU, load; over
    the answer-key archive, or with ``plain`` the imaging index's synthetic archive."""
    result = workdir / f"result-{tool}.json"
    result.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--workdir", str(workdir), "--measure", tool,
               "--result", str(result), *(["--plain"] if plain else [])]  # fmt: skip
    load_before = os.getloadavg()[0]
    with (workdir / f"log-{tool}.txt").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        with TreeWatch(process.pid) as watch:  # the pool's workers and Tesseract too
            code = process.wait()
    if code != 0 or not result.exists():
        raise SystemExit(f"{tool} failed (exit {code}); see {workdir / f'log-{tool}.txt'}")
    figures = dict(json.loads(result.read_text()))
    figures["cpu"] = watch.cpu_seconds
    figures["load"] = (load_before, os.getloadavg()[0])
    figures["rate"] = figures["files"] / figures["seconds"]
    return figures


# ---- the report -----------------------------------------------------------------------------

DASH = "\u2013"
KIND_LABELS = (
    ("removed", "removed"),
    ("retained", "retained"),
    ("date_shifted", "dates shifted"),
    ("uid_changed_consistent", "UIDs changed, consistent"),
    ("patient_id_consistent", "patient ID consistent"),
    ("pixels_hidden", "burned-in text hidden"),
    ("pixels_retained", "pixels kept"),
)


def _tool_version(tool: str) -> str:
    try:
        return version(PACKAGES[tool])
    except Exception:  # not installed as a distribution (a source checkout)
        return "source"


def _burned_in(s: Any) -> str:
    b = s.burned_in
    parts = [f"{b['hidden']} blanked"] if b["hidden"] else []
    if b["absent"]:
        parts.append(f"{b['absent']} withheld")
    if b["visible"]:
        parts.append(f"{b['visible']} released with the text readable")
    flagged = f"; still flagged YES in {b['flag_yes']}" if b["flag_yes"] else ""
    return f"{b['files']} files: " + ", ".join(parts) + flagged


def _private(s: Any) -> str:
    if not s.released:
        return "nothing released"
    if not s.private_kept:
        return "removed from every file"
    return f"kept in {s.private_kept:,} of {s.released:,} released files"


def report(made: dict[str, Any], results: dict[str, dict[str, Any]], scores: dict[str, Any],
           loads: tuple[float, float], plain: dict[str, dict[str, Any]]) -> str:  # fmt: skip
    speed, score_rows, notes, failures = [], [], [], []
    for tool in results:
        r, s = results[tool], scores[tool]
        processes = PROCESSES[tool]
        speed.append(
            f"| {tool} | {_tool_version(tool)} | {processes} | **{r['rate']:,.0f}** "
            f"| {r['rate'] / processes:,.0f} | {r['cpu'] / r['files'] * 1e3:,.1f} ms "
            f"| {r['load'][0]:.1f}{DASH}{r['load'][1]:.1f} |"
        )
        kinds = " | ".join(f"{s.kinds[k].rate:.1%}" for k, _ in KIND_LABELS)
        left = (
            "no" if s.phi_free else f"**yes**: {s.phi_left:,} values in {s.files_with_phi:,} files"
        )
        score_rows.append(f"| {tool} | **{s.rate:.1%}** | {kinds} | {left} |")
        refused = sum(n for o, n in r["outcomes"].items() if o != "released")
        notes.append(
            f"| {tool} | {s.released:,} of {s.files:,}"
            + (f" ({refused} refused)" if refused else "")
            + f" | {_burned_in(s)} | {_private(s)} |"
        )
        failures.append(
            f"- {tool}: " + "; ".join(f"{what} ({n:,})" for what, n in s.failures.most_common(4))
            if s.failures
            else f"- {tool}: none"
        )
    modalities = ", ".join(f"{n:,} {m}" for m, n in sorted(made["modalities"].items()))
    checks = ", ".join(f"{n:,} {k}" for k, n in made["checks"].items())
    return "\n".join([
        "## De-identification tools compared (`benchmarks/bench_deid.py`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}. Load average (1 min) "
        f"{loads[0]:.1f} at the start and {loads[1]:.1f} at the end (a shared machine).",
        "",
        f"The answer-key archive (`fivesafes.imaging.deid.phi_key`, seed {made['seed']}): "
        f"**{made['files']:,} files** ({modalities}), {made['persons']:,} invented persons, "
        f"{made['studies']:,} studies, {made['burned_in']:,} images with the person's name and "
        f"number burned into the pixels, {made['bytes'] / 1024**2:,.0f} MiB; "
        f"{sum(made['checks'].values()):,} checks ({checks}). The key is written for one option "
        "set, the Basic Profile with Retain Longitudinal Temporal Information with Modified "
        "Dates, Clean Descriptors, Clean Structured Content and Clean Pixel Data: every tool is "
        "judged by what that set requires, whatever its own defaults promise. Each tool ran in a "
        "fresh process over a warm page cache, writing one output per input at the same "
        "relative path; the score is the share of checks passed (MIDI-B style).",
        "",
        "| tool | version | processes | files/s | files/s per core | CPU per file | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
        *speed,
        "",
        "fivesafes runs a pool of 2 processes (both cores) and verifies every file it writes "
        "(OCR of the images at risk of burned-in text: a quarter of this archive is 512 x 512 "
        "ultrasound and screen captures); the others run as they come, in one process, and "
        "verify nothing. files/s per core is files/s divided by the processes used.",
        "",
        f"Over the imaging index's synthetic archive (`fivesafes.imaging.synth`, the first "
        f"{next(iter(plain.values()))['files']:,} files: CT, MR, CR, US and others, headers "
        "of 1 to 2 KB, 8 x 8 pixels), the same tools, in the same run (no answer key: speed "
        "only):",
        "",
        "| tool | processes | files/s | files/s per core | CPU per file | load |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        *(
            f"| {tool} | {PROCESSES[tool]} | **{r['rate']:,.0f}** "
            f"| {r['rate'] / PROCESSES[tool]:,.0f} | {r['cpu'] / r['files'] * 1e3:,.1f} ms "
            f"| {r['load'][0]:.1f}{DASH}{r['load'][1]:.1f} |"
            for tool, r in plain.items()
        ),
        "",
        "| tool | score | " + " | ".join(label for _, label in KIND_LABELS) + " | PHI left |",
        "| --- | ---: | " + " | ".join("---:" for _ in KIND_LABELS) + " | --- |",
        *score_rows,
        "",
        "| tool | files released | Burned In Annotation YES | private elements |",
        "| --- | --- | --- | --- |",
        *notes,
        "",
        "Commonest failed checks (kind, the value's role, element path: why):",
        "",
        *failures,
        "",
        "A file a tool does not release passes its `removed` and `burned-in text hidden` checks "
        "and fails every other (`fivesafes.imaging.deid.score`).",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=MIN_FILES)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated, in order")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "fivesafes-bench-deid",
        help="where the archive is made once and kept, and the tools' outputs written",
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help="markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="only print the figures")
    parser.add_argument("--measure", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        return child(args)

    from fivesafes.imaging.deid.phi_key import load_key
    from fivesafes.imaging.deid.score import score

    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        raise SystemExit(f"unknown tools {sorted(unknown)}; the tools are {', '.join(TOOLS)}")
    if args.files < MIN_FILES and not args.no_docs:
        raise SystemExit(f"{args.files:,} files: at least {MIN_FILES:,} are needed to record")
    load_start = os.getloadavg()[0]
    made = make_archive(args.workdir, args.files, args.seed)
    print(f"archive: {made['files']:,} files in {args.workdir}", flush=True)
    key = load_key(args.workdir / "phi")
    results, scores = {}, {}
    for tool in tools:
        results[tool] = run_measurement(args.workdir, tool)
        scores[tool] = score(args.workdir / "phi" / "archive", args.workdir / f"out-{tool}", key)
        print(f"{tool}: {results[tool]['rate']:,.0f} files/s", *scores[tool].lines(5), sep="\n  ")
    make_plain_archive(args.workdir, args.files)
    plain = {tool: run_measurement(args.workdir, tool, plain=True) for tool in tools}
    for tool, figures in plain.items():
        print(f"{tool} over the index's archive: {figures['rate']:,.0f} files/s", flush=True)
    markdown = report(made, results, scores, (load_start, os.getloadavg()[0]), plain)
    print(markdown)
    if not args.no_docs:
        update_section(SECTION, markdown, args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
