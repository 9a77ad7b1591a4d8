"""Work an analysis asks of its node beyond reading the data source: a *node job*, run by the
node outside the analysis, in a process of its own (``fivesafes.node.jobs``).

One job exists: building an imaging extract (ADR 0028). The analysis (``imaging_extract``)
chooses the series from the node's index through the view layer, as any analysis reads; the
node's job de-identifies their files into the project's area inside the node and holds the
extract for an output checker. The job reads what no analysis may read (the files' paths and
the restricted header store), so the analysis hands it an :class:`ExtractOrder` and gets back
counts only (:class:`ExtractBuilt`), never a path, a UID or a header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from fivesafes.protocol.runs import ReasonCode


@dataclass(frozen=True)
class ExtractOrder:
    """What the analysis asks the node to build (it stays at the node)."""

    project_id: str
    task_id: str
    requester: str
    series: tuple[str, ...]  # SeriesInstanceUIDs of the node's index
    options: tuple[str, ...]  # de-identification option names (``imaging.deid.options``)
    deadline: float  # ``time.time()`` by which the job ends, built or not


@dataclass(frozen=True)
class ExtractBuilt:
    """What the job says of the extract it built and holds: counts only (``files``,
    ``written``, ``rejected`` by reason, ``failed_verification`` by rule, ``unreadable`` by
    reason, ``duplicates``, ``not_local``, ``persons``: see ``extracts.build``)."""

    report: dict[str, Any] = field(default_factory=dict)


class JobFailed(Exception):
    """A node job did not finish: the run ends ``failed`` with ``reason`` (a code, never
    data); whatever the job had written is removed."""

    def __init__(self, reason: ReasonCode) -> None:
        super().__init__(reason.value)
        self.reason = reason


class NodeJobs(Protocol):
    """The node's jobs, as an analysis's node part sees them (``NodeContext.jobs``)."""

    def build_extract(self, order: ExtractOrder) -> ExtractBuilt:
        """Build the extract and hold it for the node's output checkers. Raises ``Refused``
        (the node's custodian has not allowed it) or :class:`JobFailed`."""
        ...
