"""What extraction a node allows a project: decided by its own records, never by the hub's
word (ADR 0028, point 3). A task asking for an extract is checked here before anything is
read; a refusal carries the reason code the hub is told.

| check, in order                                          | refusal                           |
| -------------------------------------------------------- | --------------------------------- |
| the node's approval of the project stands (not rejected, | ``project_not_approved``          |
| revoked)                                                 |                                   |
| the latest extraction decision for the project approves  | ``extraction_not_approved``       |
| every option asked for is one the custodian allowed (the | ``extraction_options_not_allowed``|
| approval is the maximum: a request may use fewer)        |                                   |
"""

from __future__ import annotations

from typing import Protocol

from fivesafes.extracts.store import Decision, ExtractionState
from fivesafes.imaging.deid.options import Options
from fivesafes.protocol.runs import ReasonCode


class ExtractionRefused(Exception):
    """The node will not build the extract; ``reason`` is what it tells the hub."""

    def __init__(self, reason: ReasonCode) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Decisions(Protocol):
    """What the policy reads of a store (``store.ExtractsStore`` has it)."""

    def latest(self, project_id: str) -> Decision | None: ...

    def project_state(self, project_id: str) -> str | None: ...


def option_names(options: Options) -> tuple[str, ...]:
    """The options on, as a person writes them (``OPTION_NAMES``: ``retain-modified-dates``)."""
    return tuple(name.replace("_", "-") for name in options.names())


def check_extraction(store: Decisions, project_id: str, options: Options) -> None:
    """Raise :class:`ExtractionRefused` unless the node's records allow an extract of the
    project with ``options``."""
    if store.project_state(project_id) != "approved":
        raise ExtractionRefused(ReasonCode.PROJECT_NOT_APPROVED)
    latest = store.latest(project_id)
    if latest is None or latest.state is not ExtractionState.APPROVED:
        raise ExtractionRefused(ReasonCode.EXTRACTION_NOT_APPROVED)
    if not set(option_names(options)) <= set(latest.options):
        raise ExtractionRefused(ReasonCode.EXTRACTION_OPTIONS_NOT_ALLOWED)


def can_extract(store: Decisions, project_id: str, options: Options) -> bool:
    try:
        check_extraction(store, project_id, options)
    except ExtractionRefused:
        return False
    return True
