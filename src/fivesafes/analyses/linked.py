"""The node's persons linked in a project, as a linked count's node part sees them
(``fivesafes.analyses.linked_count``; the node's side is ``fivesafes.node.linked_persons``).

Linkage (docs/linkage.md) leaves each node with, per project, its linked persons' link ids and
a *blinding key* per person, made by the operator's command from the linkage secret that the
nodes share and the hub never holds. An analysis gets the node's name and the blinding keys,
never a link id: the values it sends are made from the keys, so neither the hub (which drew the
link ids) nor anyone without the secret can tell whose they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class LinkedPersons(Protocol):
    """What the node offers: its name, and each linked person's blinding key in a project
    (person_id -> 32 bytes; persons linked before blinding keys were kept are left out)."""

    @property
    def node(self) -> str: ...

    def blindings(self, project_id: str) -> Mapping[int, bytes]: ...
