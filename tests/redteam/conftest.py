"""What every red-team test shares: one small synthetic site, and a node that answers the way
the real one does (``run_task``, then remember what was released, as ``node/runs.py`` does).

The naive gates the attacks are first shown to beat live in each test module, next to the
attack, so a reader sees the whole story in one file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyroaring import BitMap

from fivesafes.analyses.count import cohort_person_set
from fivesafes.analyses.summary import SummaryParameters, variable_values
from fivesafes.cohorts.criteria import Cohort
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource, OmopDatabase
from fivesafes.data.synth import generate
from fivesafes.node.outcome import Outcome
from fivesafes.node.person_sets import InMemoryPersonSetStore
from fivesafes.node.runner import run_task
from fivesafes.protocol.models import Instruction, TaskPayload
from fivesafes.sdc.profiles import DEFAULT, Profile

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PROJECT = "p"


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 synthetic persons at one site (made once; under a second)."""
    path = tmp_path_factory.mktemp("redteam") / "cdm.duckdb"
    generate(path, 600, 5, "default")
    return path


class Node:
    """Our node: the real runner, the default gate profile and an in-memory person-set store,
    recording each release after the run as the node's run store does."""

    def __init__(self, db: OmopDatabase, profile: Profile = DEFAULT) -> None:
        self.db = db
        self.profile = profile
        self.store = InMemoryPersonSetStore()
        self._runs = 0

    def ask(
        self,
        cohort: dict[str, Any],
        analysis: str = "count",
        *,
        instruction: dict[str, Any] | None = None,
        **parameters: Any,
    ) -> Outcome:
        """Run ``analysis`` as the node would; ``instruction`` is a model round's (step, beta),
        as a hub would sign it."""
        self._runs += 1
        task = TaskPayload(
            task_id=f"t{self._runs}",
            project_id=PROJECT,
            project_version=1,
            requester="mallory",
            analysis=analysis,
            parameters={"cohort": cohort, **parameters},
            targets=["n"],
            issued_at=NOW,
            expires_at=NOW + timedelta(minutes=1),
        )
        step = Instruction(task_id=task.task_id, round=0, **instruction) if instruction else None
        outcome = run_task(task, self.db, self.profile, self.store, step)
        if outcome.release is not None and outcome.output is not None:
            released = outcome.release
            for n, persons in enumerate((released.persons, *released.also)):
                key = released.output_key if n == 0 else f"{released.output_key}#{n}"
                self.store.record(PROJECT, key, f"run-{self._runs}", persons, outcome.output)
        return outcome

    def persons(self, cohort: dict[str, Any]) -> BitMap:
        """The truth behind a cohort: what only the node sees (the attacks' ground truth)."""
        return cohort_person_set(self.db, Cohort.model_validate(cohort))

    def true_count(self, cohort: dict[str, Any]) -> int:
        return len(self.persons(cohort))

    def ages(self, cohort: dict[str, Any]) -> dict[int, float]:
        """Each person's age at the cohort's index date (the truth a summary describes)."""
        found = variable_values(
            self.db, SummaryParameters.model_validate({"cohort": cohort, "variable": "age"})
        )
        return dict(zip(found.person_ids.tolist(), found.values.tolist(), strict=True))


@pytest.fixture
def node(site: Path) -> Iterator[Node]:
    with open_omop(DuckDBSource(engine="duckdb", path=site)) as db:
        yield Node(db)
