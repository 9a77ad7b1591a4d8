"""Where the workplace's shared data sets are (../shared beside the repository): a test finds
them from a clone anywhere, not only from a checkout beside that folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared(relative: str) -> Path:
    """``relative`` under the first shared folder that has it: ``$FIVESAFES_SHARED``, the
    folder beside the repository, ``/work/shared``; the first candidate if none has it."""
    roots = [os.environ.get("FIVESAFES_SHARED"), REPO.parent / "shared", "/work/shared"]
    candidates = [Path(root) / relative for root in roots if root]
    return next((path for path in candidates if path.exists()), candidates[0])
