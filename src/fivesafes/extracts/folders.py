"""Where an extract is kept at the node (ADR 0028): one folder per project under the node's
extracts root (``[imaging] extracts`` in ``node.toml``), the project's area in the TRE.

    <root>/<project>/<task>.staging   built, held for an output checker (not the workspace's)
    <root>/<project>/<task>           released: the project's workspace sees it

A project or task id is a folder's name only if it is a plain name (letters, digits, ``_``,
``.``, ``-``; not starting with a dot): anything else is refused, so no id can reach outside
the root.
"""

from __future__ import annotations

import re
from pathlib import Path

from fivesafes.protocol.errors import InvalidRequest

STAGING = ".staging"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _name(value: str) -> str:
    if not _NAME.fullmatch(value) or ".." in value:
        raise InvalidRequest("A project or task id must be a plain name to name a folder.")
    return value


def project_folder(root: Path, project_id: str) -> Path:
    return root / _name(project_id)


def staging_folder(root: Path, project_id: str, task_id: str) -> Path:
    """Where the task's extract is built and held."""
    return project_folder(root, project_id) / f"{_name(task_id)}{STAGING}"


def released_folder(root: Path, project_id: str, task_id: str) -> Path:
    """Where the task's extract is once released: the project's workspace."""
    return project_folder(root, project_id) / _name(task_id)
