"""``fivesafes synth``: generate synthetic OMOP CDM data for demos and tests, and a DICOM
archive and whole-slide images consistent with it.

Exit codes: 0 written; 1 refused because the output exists and ``--force`` was not
given; 2 invalid input (as for any usage error); 3 the database could not be written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fivesafes.cli.output import say_error
from fivesafes.data.synth import SITE_PROFILES, generate
from fivesafes.data.synth.generator import MAX_PERSONS
from fivesafes.slides.synth_plan import MAX_PERSONS as MAX_SLIDE_PERSONS

app = typer.Typer(
    help="Generate synthetic data.", no_args_is_help=True, pretty_exceptions_enable=False
)
_err = Console(stderr=True)
_out = Console()

EXIT_REFUSED = 1  # the output exists and --force was not given
EXIT_USAGE = 2  # invalid input, like click's own usage errors
EXIT_FAILED = 3  # the database could not be written


@app.callback()
def _synth() -> None:
    """Generate synthetic data."""


def _fail(message: str, code: int) -> typer.Exit:
    say_error(message)
    return typer.Exit(code)


@app.command("omop")
def omop(
    out: Annotated[
        Path, typer.Option("--out", help="DuckDB file to write.", dir_okay=False, resolve_path=True)
    ],
    persons: Annotated[
        int, typer.Option("--persons", min=1, max=MAX_PERSONS, help="Number of persons.")
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    site: Annotated[
        str,
        typer.Option(
            "--site", help=f"Site profile: {', '.join(SITE_PROFILES)}.", show_default=True
        ),
    ] = "default",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a synthetic OMOP CDM v5.4 database (DuckDB) with planted effects."""
    if site not in SITE_PROFILES:
        raise _fail(
            f"unknown site profile {site!r}; choose one of: {', '.join(SITE_PROFILES)}.",
            EXIT_USAGE,
        )
    if out.exists() and not force:
        raise _fail(f"{out} already exists; pass --force to overwrite it.", EXIT_REFUSED)
    if not out.parent.is_dir():
        raise _fail(f"the folder {out.parent} does not exist.", EXIT_USAGE)

    started = time.perf_counter()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{site}: persons", total=persons)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"{site}: {stage}", completed=done, total=total)

        try:
            counts = generate(out, persons=persons, seed=seed, site=site, progress=report)
        except (OSError, duckdb.Error) as error:
            raise _fail(f"could not write {out}: {error}", EXIT_FAILED) from None

    elapsed = time.perf_counter() - started
    _out.print(f"Wrote {out} (site {site}, seed {seed}).", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    _out.print(table)
    _out.print(f"{persons:,} persons in {elapsed:.1f} s ({persons / elapsed:,.0f} persons/s)")


OmopOption = Annotated[
    Path,
    typer.Option(
        "--omop",
        help="The synthetic OMOP CDM (DuckDB) to be consistent with.",
        exists=True,
        dir_okay=False,
        resolve_path=True,
    ),
]


@app.command("dicom")
def dicom(
    omop: OmopOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder to write archive/ and ground-truth/ into.",
            file_okay=False,
            resolve_path=True,
        ),
    ],
    persons_limit: Annotated[
        int | None,
        typer.Option("--persons-limit", min=1, help="Image only the first N persons of the CDM."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Processes writing files.")
    ] = 1,
    pseudonym_key: Annotated[
        Path | None,
        typer.Option(
            "--pseudonym-key",
            help="Also write each person's pseudonym (of their synthetic hospital number) into"
            " the CDM's person_source_value, under this node pseudonym key.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that is not empty.")
    ] = False,
) -> None:
    """Write a synthetic DICOM archive consistent with a synthetic OMOP CDM, and its truth."""
    from fivesafes.imaging.synth import link_persons, write_archive

    if out.exists() and any(out.iterdir()) and not force:
        raise _fail(f"{out} is not empty; pass --force to write into it.", EXIT_REFUSED)
    if pseudonym_key is not None:
        from fivesafes.node.pseudonyms import load_key, pseudonym

        key = load_key(pseudonym_key)
        linked = link_persons(omop, lambda value: pseudonym(value, key))
        _out.print(f"Wrote the pseudonyms of {linked:,} persons into {omop}.", highlight=False)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[files]:,} files"),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        disable=not _err.is_terminal,
    ) as bar:
        task = bar.add_task("persons", total=None, files=0)

        def report(done: int, total: int, files: int) -> None:
            bar.update(task, completed=done, total=total, files=files)

        try:
            written = write_archive(
                omop, out, seed=seed, persons_limit=persons_limit, workers=workers, progress=report
            )
        except (OSError, duckdb.Error) as error:
            raise _fail(f"could not write the archive: {error}", EXIT_FAILED) from None
    table = Table("what", "count")
    for label, n in (
        ("persons of the CDM imaged", written.persons),
        ("patients not in the CDM", written.outside),
        ("studies", written.studies),
        ("series", written.series),
        ("files", written.files),
        ("  of which copies (duplicates)", written.copies),
        ("  of which without file meta", written.bare),
    ):
        table.add_row(label, f"{n:,}")
    for modality, n in sorted(written.modalities.items()):
        table.add_row(f"series {modality}", f"{n:,}")
    _out.print(table)
    _out.print(
        f"Wrote {written.archive} and {written.truth} ({written.bytes / 1e6:,.1f} MB) in"
        f" {written.seconds:.1f} s ({written.files_per_second:,.0f} files/s).",
        highlight=False,
        soft_wrap=True,
    )


@app.command("slides")
def slides(
    omop: OmopOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder to write slides/, ground-truth/ (and dicom/) into.",
            file_okay=False,
            resolve_path=True,
        ),
    ],
    persons_limit: Annotated[
        int | None,
        typer.Option(
            "--persons-limit",
            min=1,
            max=MAX_SLIDE_PERSONS,
            help="Make slides for the first N persons with a cancer condition only.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    dicom: Annotated[
        bool, typer.Option("--dicom", help="Also write a DICOM-WSI copy of each slide.")
    ] = False,
    ndpi: Annotated[
        bool, typer.Option("--ndpi", help="Also write a Hamamatsu NDPI copy of each slide.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that is not empty.")
    ] = False,
) -> None:
    """Write synthetic whole-slide images (Aperio SVS, one OME-TIFF, optionally NDPI and
    DICOM-WSI) for the CDM's persons with a cancer condition, with planted identifiers and
    tumour regions."""
    from fivesafes.slides.synth import write_slides

    if out.exists() and any(out.iterdir()) and not force:
        raise _fail(f"{out} is not empty; pass --force to write into it.", EXIT_REFUSED)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        disable=not _err.is_terminal,
    ) as bar:
        task = bar.add_task("slides", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            written = write_slides(
                omop, out, seed=seed, persons_limit=persons_limit, dicom=dicom, ndpi=ndpi,
                progress=report,
            )  # fmt: skip
        except ValueError as error:
            raise _fail(str(error), EXIT_USAGE) from None
        except (OSError, RuntimeError, duckdb.Error) as error:
            raise _fail(f"could not write the slides: {error}", EXIT_FAILED) from None
    table = Table("what", "count")
    for label, n in (
        ("persons with a cancer condition", written.persons),
        ("slides (Aperio SVS)", written.slides),
        ("  also as OME-TIFF", written.ome_tiff),
        ("  also as NDPI", written.ndpi),
        ("  also as DICOM-WSI", written.dicom),
        ("files", written.files),
    ):
        table.add_row(label, f"{n:,}")
    _out.print(table)
    _out.print(
        f"Wrote {written.slides_dir} and {written.truth} ({written.bytes / 1e6:,.1f} MB) in"
        f" {written.seconds:.1f} s ({written.slides / written.seconds:,.1f} slides/s).",
        highlight=False,
        soft_wrap=True,
    )


@app.command("identities")
def identities(
    omop: Annotated[
        list[str],
        typer.Option("--omop", help="A hospital and its CDM: NAME=FILE.duckdb (repeat, in order)."),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write.", file_okay=False, resolve_path=True)
    ],
    overlap: Annotated[
        float, typer.Option("--overlap", min=0.0, max=1.0,
                            help="Share of each later hospital's persons also at an earlier one.")
    ] = 0.3,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
) -> None:  # fmt: skip
    """Synthetic identities for the persons of each hospital's CDM, with a planted overlap and
    realistic errors: identities-NAME.csv per hospital (what 'fivesafes node identities load'
    reads) and truth.csv (each record's true person) in --out."""
    from fivesafes.linkage.synth import read_persons, synthesise, write

    sites = {}
    for given in omop:
        name, _, path = given.partition("=")
        if not name or not path or not Path(path).is_file():
            raise _fail("--omop takes NAME=FILE.duckdb, an existing CDM file", EXIT_USAGE)
        if name in sites:
            raise _fail("a hospital is named twice", EXIT_USAGE)
        try:
            sites[name] = read_persons(Path(path))
        except duckdb.Error:
            raise _fail(f"{name}'s file is not a CDM with a person table", EXIT_USAGE) from None
    written = write(synthesise(sites, overlap=overlap, seed=seed), out)
    table = Table("hospital", "persons", "file")
    for name, persons in sites.items():
        table.add_row(name, f"{len(persons):,}", str(written[name]))
    _out.print(table)
    _out.print(f"The truth (each record's true person and planted errors): {written['truth']}",
               highlight=False, soft_wrap=True)  # fmt: skip
