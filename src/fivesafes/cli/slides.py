"""``fivesafes node slides …``: whole-slide images at this node (issue 16, ADR 0029).

``add`` registers slides: each read through its format's reader and the allow-list
(``fivesafes.slides.reading``), known by a keyed pseudonymous id, linked to its person through
the specimen map, written into the node's data (``pathology_slide``, the ``pathology`` data
domain; the files' paths in ``pathology_slide_file``). Audited with counts only. The node's
modules are imported when the command runs (cli/lazy.py); refusals are told in words by the
command's one boundary (``cli/main.py``).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from fivesafes.cli.output import console, fail

app = typer.Typer(
    help="Whole-slide images at this node: register slides, import AI predictions.",
    no_args_is_help=True,
)
predictions_app = typer.Typer(
    help="AI predictions on registered slides: import a model's output.", no_args_is_help=True
)
app.add_typer(predictions_app, name="predictions")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]


@app.command("add")
def add(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Slide files or folders of them (a DICOM-WSI slide is a folder).",
            exists=True,
            show_default=False,
        ),
    ],
    specimen_map: Annotated[
        Path | None,
        typer.Option(
            "--specimen-map",
            exists=True,
            dir_okay=False,
            help="CSV: file, patient_id, and optionally specimen and stain.",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write each file's outcome here (CSV)."),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who runs it (recorded in the audit log).")] = (
        "operator"
    ),
    config: ConfigOption = Path("node.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Register slides at this node: read, hashed, linked to their persons, written into the
    node's data. Labels, macros and the files' metadata are never read into it."""
    import duckdb

    from fivesafes.audit.events import AuditEventType
    from fivesafes.cli.imaging import audited, stage_bar
    from fivesafes.data.source import DuckDBSource
    from fivesafes.node.pseudonyms import load_key, pseudonym
    from fivesafes.node.setup import open_node
    from fivesafes.protocol.errors import InvalidRequest
    from fivesafes.slides.register import RegisterReport, read_map, read_slides, write_slides

    service = open_node(config)
    data = service.config.data
    if not isinstance(data, DuckDBSource):
        service.stop()
        fail("Slides are registered into a DuckDB node's data file for now; this node's data "
             "is on another engine.")  # fmt: skip
    mapped = read_map(specimen_map) if specimen_map is not None else None
    key = load_key(service.config.node.pseudonym_key_file)

    def pseudonym_of(identifier: str) -> str | None:
        try:
            return pseudonym(identifier, key)
        except InvalidRequest:
            return None

    counts = RegisterReport()
    details: dict[str, object] = {}
    with audited(service, AuditEventType.SLIDES_REGISTERED, by=by, details=details):
        with stage_bar() as tell:
            slides = read_slides(paths, key, mapped, counts,
                                 progress=lambda d, t: tell("reading slides", d, t))  # fmt: skip
        try:
            con = duckdb.connect(str(data.path))
        except duckdb.IOException:
            fail(f"{data.path} is in use (a running node holds it); stop the node's agent and "
                 "try again.")  # fmt: skip
        try:
            if data.schema_name:
                con.execute(f"SET schema = '{data.schema_name}'")
            write_slides(con, slides, pseudonym_of, counts)
        finally:
            con.close()
        details.update(counts.to_dict())
    if report is not None:
        with report.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "outcome", "reason"])
            writer.writerows(counts.rows)
    if as_json:
        print(json.dumps(counts.to_dict()))
        return
    summary = counts.to_dict()
    console.print(f"Slides: {summary['files']} found, {summary['registered']} registered, "
                  f"{summary['already_registered']} registered before.")  # fmt: skip
    for reason, n in summary["refused"].items():
        console.print(f"  not registered ({reason}): {n}")
    for link, n in summary["links"].items():
        console.print(f"  {link}: {n}")


def _data_file(service: object) -> Path:
    from fivesafes.data.source import DuckDBSource

    data = service.config.data  # type: ignore[attr-defined]
    if not isinstance(data, DuckDBSource):
        fail("Slides live in a DuckDB node's data file for now; this node's data is elsewhere.")
    return Path(data.path)


def _writable(path: Path) -> Any:
    """A read-write connection to the node's data file (a DuckDB connection)."""
    import duckdb

    try:
        return duckdb.connect(str(path))
    except duckdb.IOException:
        fail(f"{path} is in use (a running node holds it); stop the node's agent and try again.")


@predictions_app.command("add")
def add_prediction(
    slide_id: Annotated[str, typer.Argument(help="The registered slide (SL...).")],
    model: Annotated[str, typer.Option(help="The model's name (alg_system).")],
    model_version: Annotated[str, typer.Option(help="The model's version.")],
    run_at: Annotated[datetime, typer.Option(help="When the model ran (alg_datetime), ISO 8601.")],
    geojson: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Its detections and regions: QuPath-style GeoJSON, level-0 pixels.",
        ),
    ] = None,
    heatmap: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Its heatmap: a PNG or TIFF aligned to the slide (grey: 0 to 255).",
        ),
    ] = None,
    heatmap_scale: Annotated[
        float | None,
        typer.Option(
            help="Level-0 pixels per heatmap pixel (default: the slide's width over the heatmap's)."
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who imports it (for the audit log).")] = (
        "operator"
    ),
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Import a model's output for a registered slide (checked before anything is kept)."""
    from fivesafes.audit.events import AuditEventType
    from fivesafes.cli.imaging import audited
    from fivesafes.node.setup import open_node
    from fivesafes.slides.predictions import read_annotations, read_heatmap, record_prediction
    from fivesafes.slides.reading import open_slide

    service = open_node(config)
    database = _data_file(service)
    details: dict[str, object] = {"model": model, "model_version": model_version}
    with audited(service, AuditEventType.SLIDE_PREDICTIONS_IMPORTED, by=by, details=details):
        con = _writable(database)
        try:
            slide = open_slide(_slide_path(con, slide_id))
            info = slide.info
            slide.close()
            found = read_annotations(geojson.read_bytes(), info) if geojson else None
            grey = read_heatmap(heatmap.read_bytes(), info, heatmap_scale) if heatmap else None
            made = record_prediction(
                con, slide_id, model=model, version=model_version, run_at=run_at,
                annotations=found, heatmap=grey, now=datetime.now(UTC),
            )  # fmt: skip
        finally:
            con.close()
        details.update({"predictions": 1, "features": len(found.features) if found else 0})
    console.print(f"Imported prediction {made} for slide {slide_id}.", markup=False)


@app.command("predict-demo")
def predict_demo(
    slide_ids: Annotated[
        list[str] | None, typer.Argument(help="Registered slides (default: every one).")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who runs it (for the audit log).")] = (
        "operator"
    ),
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Run the platform's demo model (a colour detector of the synthetic slides' planted
    tumours; not a pathology model) on registered slides and import its predictions."""
    from fivesafes.audit.events import AuditEventType
    from fivesafes.cli.imaging import audited
    from fivesafes.node.setup import open_node
    from fivesafes.slides.demo_model import MODEL, VERSION, predict
    from fivesafes.slides.predictions import Annotations, read_heatmap, record_prediction
    from fivesafes.slides.reading import SlideUnreadable, open_slide

    service = open_node(config)
    database = _data_file(service)
    details: dict[str, object] = {"model": MODEL, "model_version": VERSION, "predictions": 0}
    with audited(service, AuditEventType.SLIDE_PREDICTIONS_IMPORTED, by=by, details=details):
        con = _writable(database)
        try:
            _registered(con)
            wanted = slide_ids or [
                r[0] for r in con.execute(
                    "SELECT slide_id FROM pathology_slide ORDER BY slide_id"
                ).fetchall()
            ]  # fmt: skip
            run_at = datetime.now(UTC)
            for slide_id in wanted:
                try:
                    slide = open_slide(_slide_path(con, slide_id))
                except SlideUnreadable as exc:
                    console.print(f"  {slide_id}: not read ({exc.reason})", markup=False)
                    continue
                found = predict(slide)
                info = slide.info
                slide.close()
                classes = Counter(f["properties"]["classification"]["name"] for f in found.features)
                made = record_prediction(
                    con, slide_id, model=MODEL, version=VERSION, run_at=run_at,
                    annotations=Annotations(found.features, classes),
                    heatmap=read_heatmap(found.heatmap_png, info, found.scale),
                    now=run_at,
                )  # fmt: skip
                details["predictions"] = int(str(details["predictions"])) + 1
                console.print(
                    f"  {slide_id}: {made}, {len(found.features)} tumour regions", markup=False
                )
        finally:
            con.close()
    console.print(f"Predictions imported: {details['predictions']}.")


def _registered(con: Any) -> None:
    """Refuse in words unless this node has registered slides (their tables exist)."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if not {"pathology_slide", "pathology_slide_file"} <= tables:
        fail("No slides are registered at this node yet: run 'fivesafes node slides add'.")


def _slide_path(con: Any, slide_id: str) -> Path:
    """Where a registered slide's file is (the node's own table), or a refusal in words."""
    _registered(con)
    row = con.execute(
        "SELECT path FROM pathology_slide_file WHERE slide_id = ?", [slide_id]
    ).fetchone()
    if row is None:
        fail("There is no registered slide with that id at this node.")
    return Path(row[0])


@app.command("copy")
def copy_slide(
    slide_id: Annotated[str, typer.Argument(help="The registered slide (SL...).")],
    out: Annotated[Path, typer.Option("--out", help="The copy's file (must not exist).")],
    by: Annotated[str, typer.Option("--by", help="Who makes it (for the audit log).")] = (
        "operator"
    ),
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Write a de-identified copy of a registered slide for release: its pyramid only, the
    label, macro, thumbnail and every identifying tag left out (docs/slides.md)."""
    import duckdb

    from fivesafes.audit.events import AuditEventType
    from fivesafes.cli.imaging import audited
    from fivesafes.node.setup import open_node
    from fivesafes.slides.deidentify import write_copy
    from fivesafes.slides.reading import SlideUnreadable, open_slide

    service = open_node(config)
    database = _data_file(service)
    details: dict[str, object] = {"slide_id": slide_id}
    with audited(service, AuditEventType.SLIDE_COPIED, by=by, details=details):
        with duckdb.connect(str(database), read_only=True) as con:
            source = _slide_path(con, slide_id)
        if out.exists():
            fail("The copy's file exists already: name a new one.")
        try:
            slide = open_slide(source)
            info = slide.info
            slide.close()
            write_copy(source, out, info)
        except SlideUnreadable as exc:
            fail(f"This slide cannot be copied ({exc.reason}).")
        details["levels"] = len(info.levels)
    console.print(f"Wrote a de-identified copy of {slide_id}: its pyramid only.", markup=False)


MAX_COHORT_FILE = 256 * 1024


def _cohort_file(path: Path) -> Any:
    """The platform's cohort (docs/cohorts.md) in a JSON file, bounded in size and depth."""
    from pydantic import ValidationError

    from fivesafes.cohorts.criteria import Cohort
    from fivesafes.protocol import bounded_json
    from fivesafes.protocol.validation import problems

    try:
        if path.stat().st_size > MAX_COHORT_FILE:
            fail(f"The cohort file is over {MAX_COHORT_FILE // 1024} KiB.")
        return Cohort.model_validate(bounded_json.loads(path.read_bytes()))
    except OSError:
        fail("The cohort file cannot be read.")
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            said = problems(exc.errors(include_input=False, include_url=False))
            fail("The cohort is not valid: " + "; ".join(f"{d.field}: {d.problem}" for d in said))
        fail("The cohort file is not JSON (or is nested too deeply).")


@app.command("release")
def release(
    project: Annotated[str, typer.Option("--project", help="The project they are for.")],
    slide_ids: Annotated[
        list[str] | None, typer.Argument(help="The registered slides (SL...).")
    ] = None,
    cohort: Annotated[
        Path | None,
        typer.Option(
            "--cohort",
            help="Instead of ids: the slides a cohort with a slide "
            "criterion finds (a JSON file, docs/cohorts.md).",
            dir_okay=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, max=1000, help="With --cohort: at most this many."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Send this model's predictions with them (repeatable)."),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="The custodian releasing them.")] = "custodian",
    push_now: Annotated[
        bool, typer.Option("--push/--no-push", help="Send them to the hub now (the default).")
    ] = True,
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Release slides for review by the project's members at the hub (readers at other
    hospitals): their de-identified pyramids, and the predictions of the models named, are
    pushed to the hub's review store (docs/slides.md)."""
    from fivesafes.node import slide_releases
    from fivesafes.node.setup import open_node

    if bool(slide_ids) == (cohort is not None):
        fail("Name the slides, or a cohort that finds them (--cohort), not both.")
    service = open_node(config)
    if cohort is not None:
        chosen = _chosen_by_cohort(service, project, _cohort_file(cohort), limit)
    else:
        chosen = list(slide_ids or [])
    made = slide_releases.approve(service, project, chosen, model or [], by=by)
    for each in made:
        console.print(f"Released {each.slide_id} for {project} as {each.release_id}.",
                      markup=False)  # fmt: skip
    if push_now:
        _push(service)


def _chosen_by_cohort(service: Any, project: str, cohort: Any, limit: int | None) -> list[str]:
    from fivesafes.node import slide_releases
    from fivesafes.protocol.errors import FivesafesError

    try:
        found = slide_releases.cohort_slides(service, project, cohort, limit=limit)
    except FivesafesError as exc:
        fail(exc.message)
    console.print(f"The cohort finds {found.found} slides here; {found.already} of them are "
                  f"released for {project} already.", markup=False)  # fmt: skip
    if not found.chosen:
        fail("There is no slide left to release.")
    return found.chosen


@app.command("releases")
def list_releases(
    project: Annotated[str | None, typer.Option("--project", help="Only this project's.")] = None,
    config: ConfigOption = Path("node.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
) -> None:
    """The slides released for review: for which project, as which id, and their state."""
    from fivesafes.node import slide_releases
    from fivesafes.node.setup import open_node

    found = slide_releases.listed(open_node(config), project)
    rows = [
        {"release_id": r.release_id, "project_id": r.project_id, "slide_id": r.slide_id,
         "state": r.state, "models": list(r.models), "decided_by": r.decided_by,
         "decided_at": r.decided_at.isoformat(timespec="seconds"), "bytes": r.bytes,
         "hub_told": r.hub_told}
        for r in found
    ]  # fmt: skip
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        console.print("No slide is released for review at this node.")
    for r in rows:
        console.print(f"{r['release_id']}  {r['state']:<9} {r['project_id']}  slide "
                      f"{r['slide_id']}  by {r['decided_by']}", markup=False)  # fmt: skip


@app.command("withdraw")
def withdraw_release(
    release_id: Annotated[str, typer.Argument(help="The release (SL..., as listed).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded and sent to the hub).")],
    by: Annotated[str, typer.Option("--by", help="The custodian or TRE admin.")] = "custodian",
    config: ConfigOption = Path("node.toml"),
) -> None:
    """Withdraw a slide's release: the hub deletes its copy and no reader sees it again."""
    from fivesafes.node import slide_releases
    from fivesafes.node.setup import open_node

    service = open_node(config)
    slide_releases.withdraw(service, release_id, reason, by=by)
    console.print(f"Withdrew {release_id}.", markup=False)
    _push(service)


@app.command("push")
def push_releases(config: ConfigOption = Path("node.toml")) -> None:
    """Send the hub what it has not had yet: released slides, and withdrawals to delete."""
    from fivesafes.node.setup import open_node

    _push(open_node(config))


def _push(service: Any) -> None:
    from fivesafes.cli.imaging import stage_bar
    from fivesafes.node import slide_releases
    from fivesafes.node.transport import HubRejected, HubUnreachable

    try:
        with stage_bar() as tell:
            report = slide_releases.push(service, progress=tell)
    except HubUnreachable:
        fail("The hub cannot be reached: the release is recorded; run 'fivesafes node slides "
             "push' when it can be.")  # fmt: skip
    except HubRejected as exc:
        fail(f"The hub refused: {exc}")
    if report.pushed:
        console.print(f"Pushed {len(report.pushed)} slide(s) to the hub's review store: "
                      f"{report.tiles:,} tiles, {report.bytes:,} bytes.")  # fmt: skip
    if report.deleted:
        console.print(f"The hub deleted {len(report.deleted)} withdrawn slide(s).")
    if not report.pushed and not report.deleted:
        console.print("Nothing to send: the hub has every release.")
