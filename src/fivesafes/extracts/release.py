"""Releasing or withdrawing a held extract: the record's change (``actions``, one audited
transaction) and the move of its folder (``folders``), so that neither happens without the
other.

- **release**: the staging folder is renamed to the released folder (the project's workspace
  sees it), then the record is changed; if the record cannot be changed, the folder is renamed
  back. A rename within one file system is atomic: the workspace never sees half an extract.
- **withdraw**: the staging folder is renamed aside, then the record is changed, then the
  folder removed; if the record cannot be changed, it is renamed back.

Who may do either, and from which state, is the actions' business: both are checked before
any file is touched (the record is read as the person acting, then ``permissions``), and the
action checks again in its transaction.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fivesafes.extracts.folders import released_folder, staging_folder
from fivesafes.extracts.permissions import check_release_extract, check_withdraw_extract
from fivesafes.extracts.service import Extracts
from fivesafes.extracts.store import Extract, ExtractState
from fivesafes.governance.people import Actor
from fivesafes.protocol.errors import Conflict, InvalidRequest

WITHDRAWN = ".withdrawn"


def release_extract(extracts: Extracts, root: Path, extract_id: str, *, by: Actor) -> Extract:
    """Release a held extract into its project's workspace (an output checker's decision)."""
    held = _held(extracts, extract_id, by)
    check_release_extract(by, extracts.node, held.requester)  # before any file moves
    source = staging_folder(root, held.project_id, held.task_id)
    target = released_folder(root, held.project_id, held.task_id)
    if not source.is_dir():
        raise Conflict("The extract's files are not in its staging folder any more.")
    if target.exists():
        raise Conflict("The project's workspace already holds a folder of that name.")
    os.rename(source, target)
    try:
        return extracts.release(extract_id, by=by)
    except BaseException:
        os.rename(target, source)
        raise


def withdraw_extract(
    extracts: Extracts, root: Path, extract_id: str, reason: str, *, by: Actor
) -> Extract:
    """Withdraw a held extract, deleting its files (an output checker's rejection, or its
    requester's own withdrawal)."""
    held = _held(extracts, extract_id, by)
    check_withdraw_extract(by, extracts.node, held.requester)  # before any file moves
    source = staging_folder(root, held.project_id, held.task_id)
    aside = source.with_name(source.name + WITHDRAWN)
    moved = source.is_dir()
    if moved:
        os.rename(source, aside)
    try:
        done = extracts.withdraw(extract_id, reason, by=by)
    except BaseException:
        if moved:
            os.rename(aside, source)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return done


def _held(extracts: Extracts, extract_id: str, by: Actor) -> Extract:
    found = extracts.extract(extract_id, by=by)  # refuses who may not see it
    if found.state is not ExtractState.HELD:
        raise InvalidRequest(f"The extract is {found.state.value}, not held: nothing to decide.")
    return found
