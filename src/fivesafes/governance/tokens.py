"""What an API token lets its holder do: a set of actions, on one project or on all of theirs.

A token never grants more than its account holds: the scope narrows the account's
permissions, it never widens them (``fivesafes.governance.permissions``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from fivesafes.protocol.errors import InvalidRequest


class Action(StrEnum):
    TASKS_SUBMIT = "tasks:submit"
    TASKS_READ = "tasks:read"
    PROJECTS_READ = "projects:read"
    PROJECTS_WRITE = "projects:write"
    NODES_READ = "nodes:read"


ALL_ACTIONS: frozenset[Action] = frozenset(Action)
"""What a token issued without ``--action`` carries, and what tokens issued before scopes
existed were migrated to (they keep working as they did)."""


@dataclass(frozen=True)
class TokenScope:
    actions: frozenset[Action]
    project_id: str | None = None  # None: every project the account may see

    def allows(self, action: Action) -> bool:
        return action in self.actions

    def covers(self, project_id: str) -> bool:
        return self.project_id is None or self.project_id == project_id


def actions(names: Iterable[str]) -> frozenset[Action]:
    """Parse action names; InvalidRequest names the valid ones."""
    parsed = set()
    for name in names:
        try:
            parsed.add(Action(name))
        except ValueError:
            valid = ", ".join(a.value for a in Action)
            raise InvalidRequest(f"Unknown action {name!r}; actions are {valid}.") from None
    if not parsed:
        raise InvalidRequest("A token needs at least one action.")
    return frozenset(parsed)
