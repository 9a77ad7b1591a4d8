"""generate(): a whole synthetic OMOP CDM database, chunk by chunk.

Persons are generated in chunks of :data:`CHUNK_SIZE`; chunk ``k`` draws from its own
random stream seeded by ``(seed, site name, k)``. A database is therefore a pure
function of ``(persons, seed, site)``, and every *full* chunk is the same whatever the
total: the first 100,000 persons of a 1,000,000-person database are those of a
100,000-person one. Memory stays bounded by one chunk.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np

from fivesafes.data.synth.concepts import EHR
from fivesafes.data.synth.conditions import (
    background_condition_rows,
    condition_rows,
    diagnosis_visits,
)
from fivesafes.data.synth.measurements import measurement_rows, observation_rows
from fivesafes.data.synth.person_records import death_rows, observation_period_rows, person_rows
from fivesafes.data.synth.population import Persons, draw_persons
from fivesafes.data.synth.sites import SiteProfile, resolve_site
from fivesafes.data.synth.treatments import drug_rows, procedure_rows
from fivesafes.data.synth.visits import draw_visits
from fivesafes.data.synth.writer import OmopWriter

__all__ = ["CHUNK_SIZE", "MAX_PERSONS", "Progress", "chunk_rng", "generate", "persons_in_chunk"]

CHUNK_SIZE = 100_000
# OMOP ids are 32-bit integers; no table gets more than about 15 rows per person, so
# every id stays well below 2**31.
MAX_PERSONS = 20_000_000
# Opt-in background condition records per person (mean); with at most this many,
# condition_occurrence ids stay below 2**31 even at MAX_PERSONS.
MAX_BACKGROUND_CONDITIONS = 50
BACKGROUND_STREAM = 1  # background records draw from their own stream, not the chunk's

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as each stage and chunk completes."""


def chunk_rng(seed: int, site: SiteProfile, chunk: int) -> np.random.Generator:
    """The random stream of one chunk."""
    return np.random.default_rng([seed, zlib.crc32(site.name.encode()), chunk])


def persons_in_chunk(seed: int, site: SiteProfile | str, chunk: int, n: int) -> Persons:
    """The persons of chunk ``chunk`` (``n`` of them), exactly as :func:`generate` draws them.

    Lets tests compare a database with the ground truth behind it.
    """
    profile = resolve_site(site)
    return draw_persons(chunk_rng(seed, profile, chunk), chunk * CHUNK_SIZE + 1, n, profile)


def _write_chunk(
    writer: OmopWriter,
    rng: np.random.Generator,
    persons: Persons,
    site: SiteProfile,
    background: tuple[np.random.Generator, float] | None = None,
) -> None:
    visits = draw_visits(rng, persons, site.visits_per_year, writer.counts["visit_occurrence"] + 1)
    diagnosis = diagnosis_visits(rng, persons, visits)
    writer.append("person", person_rows(persons))
    writer.append("observation_period", observation_period_rows(persons))
    writer.append(
        "visit_occurrence",
        {
            "visit_occurrence_id": visits.visit_occurrence_id,
            "person_id": persons.person_id[visits.person],
            "visit_concept_id": visits.concept_id,
            "visit_start_date": visits.start,
            "visit_end_date": visits.end,
            "visit_type_concept_id": np.full(len(visits), EHR),
        },
    )
    conditions = condition_rows(rng, persons, visits, diagnosis)
    if background is not None:
        extra = background_condition_rows(background[0], persons, visits, background[1])
        conditions = {k: np.concatenate([v, extra[k]]) for k, v in conditions.items()}
    writer.append("condition_occurrence", conditions)
    writer.append("drug_exposure", drug_rows(rng, persons, visits, diagnosis))
    writer.append("procedure_occurrence", procedure_rows(rng, persons, visits))
    writer.append("measurement", measurement_rows(rng, persons, visits))
    writer.append("observation", observation_rows(rng, persons, visits))
    deaths = death_rows(persons)
    if len(deaths["person_id"]):
        writer.append("death", deaths)


def generate(
    out: Path,
    persons: int,
    seed: int,
    site: SiteProfile | str = "default",
    progress: Progress | None = None,
    *,
    background_conditions: float = 0,
) -> dict[str, int]:
    """Write a synthetic OMOP CDM v5.4 DuckDB database to ``out``; return rows per table.

    ``person_id`` runs 1..``persons``. The database is built beside ``out`` and moved
    into place when complete, replacing any existing file.

    ``background_conditions`` (opt-in, default 0): a mean number of extra condition records
    per person, of common conditions outside every planted model
    (:data:`~fivesafes.data.synth.conditions.BACKGROUND_CODING`), drawn from a random stream
    of their own; everything else is exactly the database generated without them.
    """
    if not 1 <= persons <= MAX_PERSONS:
        raise ValueError(f"persons must be between 1 and {MAX_PERSONS:,}, got {persons}")
    if seed < 0:
        raise ValueError(f"seed must be zero or positive, got {seed}")
    if not 0 <= background_conditions <= MAX_BACKGROUND_CONDITIONS:
        raise ValueError(
            f"background_conditions must be between 0 and {MAX_BACKGROUND_CONDITIONS}, "
            f"got {background_conditions}"
        )
    profile = resolve_site(site)
    report = progress or (lambda stage, done, total: None)
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)

    connection = duckdb.connect(str(partial))
    try:
        # DuckDB's own progress bar would draw over the caller's (e.g. during CHECKPOINT).
        connection.execute("SET enable_progress_bar = false")
        writer = OmopWriter(connection)
        writer.create_tables()
        writer.append_vocabulary(background=background_conditions > 0)
        report("persons", 0, persons)
        for chunk, first in enumerate(range(0, persons, CHUNK_SIZE)):
            n = min(CHUNK_SIZE, persons - first)
            rng = chunk_rng(seed, profile, chunk)
            people = draw_persons(rng, first + 1, n, profile)
            background = None
            if background_conditions > 0:
                stream = np.random.default_rng(
                    [seed, zlib.crc32(profile.name.encode()), chunk, BACKGROUND_STREAM]
                )
                background = (stream, float(background_conditions))
            _write_chunk(writer, rng, people, profile, background)
            report("persons", first + n, persons)
        report("finishing", 0, 1)
        connection.execute("CHECKPOINT")
        connection.close()
        os.replace(partial, out)
        report("finishing", 1, 1)
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            connection.close()
        partial.unlink(missing_ok=True)
        raise
    return dict(writer.counts)
