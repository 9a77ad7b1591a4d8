"""The node part of a linked count: this node's persons in its part's cohort who are linked in
the project, each as a value blinded for this one task.

A person's value is an HMAC of the task's id under their blinding key (``analyses.linked``),
cut to ``VALUE_BYTES``: the same person has the same value at every node of the task (their
blinding key is the same everywhere), another value in every other task, and nobody without
the linkage secret can tell whose it is. The exact set never leaves the node: the gate judges
its size, and what is sent is padded with random values and sorted (``pad``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from pyroaring import BitMap

from fivesafes.analyses.linked_count.models import PAD_TO, VALUE_BYTES
from fivesafes.cohorts.circe import CirceCohort
from fivesafes.cohorts.compile import cohort_ids
from fivesafes.cohorts.concepts import check_concepts
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.compiled import fetch
from fivesafes.data.source import OmopDatabase
from fivesafes.sdc.differencing import person_set


def blinded(blinding: bytes, task_id: str) -> bytes:
    """One person's value in one task."""
    return hmac.new(blinding, b"task:" + task_id.encode(), hashlib.sha256).digest()[:VALUE_BYTES]


def linked_part(
    db: OmopDatabase,
    cohort: Cohort | CirceCohort,
    blindings: Mapping[int, bytes],
    task_id: str,
) -> tuple[BitMap, list[bytes]]:
    """The persons of ``cohort`` linked in the project, and their values for the task."""
    check_concepts(cohort, db)
    ids = fetch(db, cohort_ids, cohort=cohort).column("person_id").to_numpy()
    chosen = BitMap(p for p in person_set(ids) if p in blindings)
    return chosen, [blinded(blindings[p], task_id) for p in chosen]


def pad(values: list[bytes]) -> bytes:
    """The values sent: padded with random ones to a multiple of ``PAD_TO`` (a random value is
    another node's by chance with odds of about n / 2^64) and sorted, so neither their number
    nor their order tells anything of the persons."""
    padded = list(values)
    while len(padded) % PAD_TO:
        padded.append(secrets.token_bytes(VALUE_BYTES))
    return b"".join(sorted(padded))
