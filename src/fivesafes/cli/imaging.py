"""``fivesafes node imaging …``: index a DICOM archive (folders of files, or a PACS through
DICOMweb) into the node's data, and list the texts the mapping rules leave unmapped
(``fivesafes.imaging``, docs/imaging.md).

Indexing is an operator's action at the node, audited in the node's log (``imaging_indexed``:
who, which paths or DICOMweb service, how many files, what became of them), whatever its
outcome; nothing in a task can start it. Exit codes: 0 indexed (files may have been unreadable:
the report says which and why); otherwise the error catalogue's (a missing pseudonym key is
``not_configured``, a data file in use ``conflict``, a bad rules file or DICOMweb URL
``config_error``, a DICOMweb service that cannot be read ``unavailable``).

DICOMweb credentials, if the service needs them, come from the environment, read here once:
``FIVESAFES_DICOMWEB_TOKEN`` (a bearer token), or ``FIVESAFES_DICOMWEB_USER`` and
``FIVESAFES_DICOMWEB_PASSWORD`` (HTTP basic auth).

Where the index goes follows the node's data: into its DuckDB data file; or, on a PostgreSQL or
Spark node, into the index's own file (``[imaging] index_file``), after which ``imaging_study``,
``imaging_series`` and the OMOP ``image_occurrence`` and ``image_feature`` are published into
the node's data (``fivesafes.imaging.publish``). ``--spark`` runs the indexer as a Spark job
instead (``fivesafes.imaging.spark_index``), on any node, publishing the same tables.
"""

from __future__ import annotations

import csv
import functools
import getpass
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from fivesafes.cli.output import console, errors, fail

if TYPE_CHECKING:
    from rich.progress import Task

    from fivesafes.imaging.index import IndexOptions, Pseudonymise
    from fivesafes.imaging.report import IndexReport
    from fivesafes.imaging.rules import Rules
    from fivesafes.imaging.store import CdmRows, PersonRows
    from fivesafes.imaging.unmapped import Unmapped
    from fivesafes.node.config import NodeConfig

# pydicom, DuckDB and the node's services are imported when a command runs, never to list the
# commands: ``fivesafes node --help`` stays light (tests/unit/test_cli_start.py).

app = typer.Typer(
    help="The imaging index: DICOM headers as study, series and instance tables.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The node's TOML configuration.")
]
RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="A rules file to map with (default: \\[imaging] rules_file, or the shipped).",
    ),
]
SHOWN_PROBLEMS = 20


class FilesPerSecond(ProgressColumn):
    """Files (or, through DICOMweb, studies) a second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "files")
        return Text("" if speed is None else f"{speed:,.0f} {unit}/s", style="progress.data.speed")


def _index_place(config: NodeConfig) -> tuple[Path, str | None]:
    """Where the local indexer keeps its tables: the node's DuckDB data file (in the CDM's
    schema), or, on a PostgreSQL or Spark node, the index's own file."""
    from fivesafes.data.source import DuckDBSource

    if isinstance(config.data, DuckDBSource):
        return config.data.path, config.data.schema_name
    return config.imaging.index_file, None


@contextmanager
def audited(service: Any, event: Any, *, by: str, details: dict[str, Any]) -> Iterator[None]:
    """An operator's imaging action, audited in the node's log whatever its outcome (``ok``,
    ``failed``, ``interrupted``) with ``details`` as they stand at the end; the node's service
    stopped after."""
    from fivesafes.audit.chain import append_event
    from fivesafes.node.db import AUDIT

    outcome = "failed"
    try:
        yield
        outcome = "ok"
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    finally:
        service.unit(
            lambda s: append_event(
                s, AUDIT, event, by=by, outcome=outcome, node=service.name, details=details
            )
        )
        service.stop()


@app.command("index")
def index(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Folders or files of DICOM to index.", exists=True, show_default=False),
    ] = None,
    dicomweb: Annotated[
        str | None,
        typer.Option(
            "--dicomweb",
            metavar="URL",
            help="Index a PACS or archive through DICOMweb (its root, such as "
            "https://pacs.example/dicom-web) instead of folders.",
        ),
    ] = None,
    config: ConfigOption = Path("node.toml"),
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=256, help="Processes reading headers (\\[imaging] workers)."
        ),
    ] = None,
    batch_files: Annotated[
        int | None,
        typer.Option(
            "--batch-files", min=1, help="Files per written batch (\\[imaging] batch_files)."
        ),
    ] = None,
    rules: RulesOption = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who is acting (audited; default: your login name)."),
    ] = None,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write every file not indexed in this run, and why, to this CSV."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    spark: Annotated[
        bool,
        typer.Option(
            "--spark",
            help="Run the indexer as a Spark job (every file read; tables as Parquet in "
            "\\[imaging] spark_folder; study and series published into the node's data).",
        ),
    ] = False,
    master: Annotated[
        str | None,
        typer.Option(
            "--master",
            help="The Spark job's master: local[N], or a cluster's (default: the node's "
            "\\[data] master on a Spark node, else local[2]).",
        ),
    ] = None,
) -> None:
    """Index DICOM files, or a DICOMweb service, into the node's data (headers only; new or
    changed files, or series, only).

    The full headers go to the restricted header store; the run is audited."""
    from fivesafes.audit.events import AuditEventType
    from fivesafes.data.source import SPARK_MASTER, DuckDBSource
    from fivesafes.imaging.index import IndexOptions, index_archive
    from fivesafes.imaging.publish import cdm_rows, person_rows, publish_index
    from fivesafes.imaging.rules import load_rules
    from fivesafes.node.pseudonyms import load_key, pseudonym
    from fivesafes.node.setup import open_node
    from fivesafes.protocol.errors import InvalidRequest

    if bool(paths) == bool(dicomweb):
        fail("Give the folders to index, or --dicomweb URL: one source a run.")
    if dicomweb and (spark or master):
        fail("--spark reads folders of files; a DICOMweb service is read by the local indexer.")
    if master is not None and not re.fullmatch(SPARK_MASTER, master):
        fail("--master is local, local[N], local[*], spark://…, k8s://… or yarn.")
    if dicomweb:  # checked before anything is done or audited: it must carry no credentials
        from fivesafes.imaging.dicomweb import base_url

        dicomweb = base_url(dicomweb)
    actor = by or getpass.getuser()
    service = open_node(config)
    settings = service.config.imaging
    where = [dicomweb] if dicomweb else [str(p.resolve()) for p in paths or ()]
    details: dict[str, Any] = {"paths": where}
    with audited(service, AuditEventType.IMAGING_INDEXED, by=actor, details=details):
        data = service.config.data
        in_data_file = isinstance(data, DuckDBSource)
        database, schema = _index_place(service.config)
        mapping = load_rules(rules or settings.rules_file)
        key = load_key(service.config.node.pseudonym_key_file)

        def pseudonym_of(patient_id: str) -> str | None:
            try:
                return pseudonym(patient_id, key)
            except InvalidRequest:
                return None

        options = IndexOptions(
            workers=workers or settings.workers,
            batch_files=batch_files or settings.batch_files,
            memory_limit=settings.memory_limit,
        )
        with stage_bar() as tell:
            if spark:
                found = _index_spark(
                    paths or [], service.config, mapping, pseudonym_of, master, tell
                )
            elif dicomweb:
                found = _index_dicomweb(
                    dicomweb,
                    database,
                    settings.header_store,
                    mapping,
                    pseudonym_of,
                    schema,
                    options,
                    tell,
                    None if in_data_file else functools.partial(person_rows, data),
                    None if in_data_file else functools.partial(cdm_rows, data),
                )
                if not in_data_file:
                    publish_index(database, None, data)
            else:
                found = index_archive(
                    paths or [],
                    database=database,
                    header_store=settings.header_store,
                    rules=mapping,
                    pseudonym_of=pseudonym_of,
                    schema=schema,
                    options=options,
                    progress=tell,
                    person_rows=None if in_data_file else functools.partial(person_rows, data),
                    cdm_rows=None if in_data_file else functools.partial(cdm_rows, data),
                )
                if not in_data_file:
                    publish_index(database, None, data)
        details |= {
            **found.audit_details(),
            "engine": "spark" if spark else "local",
            "published_into": data.engine if spark or not in_data_file else None,
        }
    if report_file is not None:
        if spark:
            from fivesafes.imaging.spark_index import problems

            _write_problems(report_file, problems(settings.spark_folder, found.run_id))
        else:
            _write_problems(report_file, _local_problems(database, schema, found.run_id))
    if as_json:
        console.print_json(json.dumps(found.to_dict()))
    else:
        print_report(found)
        if spark or not in_data_file:
            console.print(
                f"Published imaging_study ({found.studies:,} rows) and imaging_series "
                f"({found.series:,} rows) into the node's {data.engine} data.",
                highlight=False,
            )


def _index_spark(
    paths: list[Path],
    config: NodeConfig,
    rules: Rules,
    pseudonym_of: Pseudonymise,
    master: str | None,
    tell: Callable[[str, int, int | None], None],
) -> IndexReport:
    """The Spark job, on this node's data: never indexing the node's own files."""
    from fivesafes.data.source import PostgresSource, SparkSource
    from fivesafes.imaging.spark_index import SparkOptions, index_on_spark

    data, settings = config.data, config.imaging
    node_spark = data if isinstance(data, SparkSource) else None
    options = SparkOptions(
        master=master or (node_spark.master if node_spark else "local[2]"),
        driver_memory=node_spark.driver_memory if node_spark else "2g",
    )
    own = [settings.header_store, settings.index_file]
    if not isinstance(data, PostgresSource):
        own.append(data.path)  # the DuckDB file, or the Parquet folder
    return index_on_spark(
        paths,
        folder=settings.spark_folder,
        header_folder=settings.spark_headers,
        rules=rules,
        pseudonym_of=pseudonym_of,
        source=data,
        own=own,
        options=options,
        progress=tell,
    )


def _index_dicomweb(
    url: str,
    database: Path,
    header_store: Path,
    rules: Rules,
    pseudonym_of: Callable[[str], str | None],
    schema: str | None,
    options: IndexOptions,
    tell: Callable[[str, int, int | None], None],
    rows: PersonRows | None,
    cdm: CdmRows | None,
) -> IndexReport:
    from fivesafes.imaging.dicomweb import Credentials, DicomwebClient
    from fivesafes.imaging.dicomweb_index import index_dicomweb

    client = DicomwebClient(url, credentials=Credentials.from_environ(os.environ))
    return index_dicomweb(
        client,
        database=database,
        header_store=header_store,
        rules=rules,
        pseudonym_of=pseudonym_of,
        schema=schema,
        options=options,
        progress=tell,
        person_rows=rows,
        cdm_rows=cdm,
    )


@contextmanager
def stage_bar() -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar on standard error (only on a terminal), and the callback that moves it:
    each stage (finding files, reading headers, rolling up) starts its own count and speed."""
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        FilesPerSecond(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )
    with bar:
        task = bar.add_task("finding files", total=None)
        shown = ["finding files"]

        def tell(stage: str, done: int, total: int | None) -> None:
            unit = "studies" if "studies" in stage else "files"
            if stage != shown[0]:
                bar.reset(task, total=total, description=stage)
                shown[0] = stage
            bar.update(task, completed=done, total=total, description=stage, unit=unit)

        yield tell


def _local_problems(database: Path, schema: str | None, run_id: str) -> list[tuple[Any, ...]]:
    from fivesafes.imaging.store import IndexStore

    with IndexStore(database, schema, read_only=True) as store:
        return store.rows(
            "SELECT path, status, reason, detail FROM imaging_files"
            " WHERE run_id = ? AND status <> 'indexed' ORDER BY path",
            [run_id],
        )


def _write_problems(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    try:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "status", "reason", "detail"])
            writer.writerows(rows)
    except OSError as exc:
        fail(f"Cannot write {path} ({type(exc).__name__}).")


def print_report(report: IndexReport) -> None:
    say = console.print
    state = "Indexed" if report.finished else "Stopped"
    say(
        f"{state} {', '.join(report.roots)} with the rules {report.rules}.",
        markup=False,
        highlight=False,
    )
    say(_read_table(report))
    index = Table("in the index", "count", title="Index")
    for label, n in (
        ("images", report.instances),
        ("series", report.series),
        ("studies", report.studies),
        ("persons linked", report.persons),
        ("headers in the restricted store", report.headers_stored),
    ):
        index.add_row(label, f"{n:,}")
    for link, n in sorted(report.links.items()):
        index.add_row(f"series {link}", f"{n:,}")
    say(index)
    if report.unreadable or report.duplicates:
        why = Table("reason", "files", title="Not indexed, and why")
        for reason, n in sorted((report.unreadable + report.duplicates).items()):
            why.add_row(reason, f"{n:,}")
        say(why)
        for path, _reason, detail in report.examples[:SHOWN_PROBLEMS]:
            say(f"  {escape(path)}: {escape(detail)}", highlight=False)
        more = sum(report.unreadable.values()) - min(len(report.examples), SHOWN_PROBLEMS)
        if more > 0:
            say(f"  … and {more:,} more (all in imaging_files; --report FILE writes them).")
    if report.issues:
        issues = Table("value nulled by a rule", "images", title="Values judged absurd or invalid")
        for issue, n in sorted(report.issues.items()):
            issues.add_row(issue, f"{n:,}")
        say(issues)
    for path, problem in report.walk_problems[:SHOWN_PROBLEMS]:
        say(f"  not walked: {escape(path)}: {problem}", highlight=False)
    unit = "instances" if report.source == "dicomweb" else "files"
    say(
        f"{report.read:,} {unit} read in {report.reading_seconds:.1f} s "
        f"({report.files_per_second:,.0f} {unit}/s); {report.seconds:.1f} s in all.",
        highlight=False,
    )


def _read_table(report: IndexReport) -> Table:
    """What the run found and read: files, or (DICOMweb) studies, series and instances."""
    rows: tuple[tuple[str, int], ...]
    if report.source == "dicomweb":
        table = Table("studies, series, instances", "count", title="DICOMweb")
        rows = (
            ("studies listed", report.studies_listed),
            ("studies new or changed (their series listed)", report.studies_read),
            ("series listed", report.found),
            ("series unchanged since the last run (not read)", report.unchanged),
            ("series new", report.new),
            ("series changed (number of instances)", report.changed),
            ("series gone (taken out of the index)", report.removed),
            ("instances read in this run", report.read),
            ("indexed as images", report.indexed),
            ("duplicates (not indexed)", sum(report.duplicates.values())),
            ("not readable", sum(report.unreadable.values())),
        )
    else:
        table = Table("files", "count", title="Files")
        rows = (
            ("found", report.found),
            ("unchanged since the last run (not read)", report.unchanged),
            ("new", report.new),
            ("changed", report.changed),
            ("gone (taken out of the index)", report.removed),
            ("read in this run", report.read),
            ("indexed as images", report.indexed),
            ("duplicates (not indexed)", sum(report.duplicates.values())),
            ("skipped (DICOMDIR)", sum(report.skipped.values())),
            ("not readable", sum(report.unreadable.values())),
        )
    for label, n in rows:
        table.add_row(label, f"{n:,}")
    return table


@app.command("unmapped")
def unmapped_cmd(
    config: ConfigOption = Path("node.toml"),
    rules: RulesOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="How many texts per list.")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the commonest texts the mapping rules leave unmapped.

    For body part and for contrast: what to write the next rule for. Reads the index and
    changes nothing."""
    from fivesafes.imaging.rules import load_rules
    from fivesafes.imaging.store import IndexStore
    from fivesafes.imaging.unmapped import unmapped
    from fivesafes.node.config import NodeConfig
    from fivesafes.settings import load_config

    node = load_config(config, NodeConfig)
    database, schema = _index_place(node)
    if not database.is_file():
        fail(
            "This node has no imaging index yet: run 'fivesafes node imaging index' (this "
            "command reads the local indexer's tables, not the Spark job's)."
        )
    mapping = load_rules(rules or node.imaging.rules_file)
    with IndexStore(database, schema, read_only=True) as store:
        if not store.has_table("imaging_instance"):
            fail("No imaging index in this node's data yet: run 'fivesafes node imaging index'.")
        found = unmapped(store, mapping, limit)
    if as_json:
        console.print_json(json.dumps(found.to_dict()))
    else:
        _print_unmapped(found)


def _print_unmapped(found: Unmapped) -> None:
    console.print(
        f"With the rules {found.rules}: of {found.series:,} series, {found.body_part_unknown:,}"
        f" have no body part and {found.contrast_unknown:,} unknown contrast.",
        markup=False,
        highlight=False,
    )
    for title, rows in (
        ("Body part: unmapped texts", found.body_part),
        ("Contrast: unmapped texts", found.contrast),
    ):
        table = Table("field", "text (normal form)", "series", title=title)
        for field, text, n in rows:
            table.add_row(field, escape(text), f"{n:,}")
        console.print(table)
