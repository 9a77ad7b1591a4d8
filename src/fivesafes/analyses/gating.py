"""How an analysis with one piece of evidence judges it: the gate's verdict on the evidence, and
the released form built for it (``Analysis.judge`` of a count, a summary, a model).

| verdict  | the analysis's gate returns                                                |
| -------- | -------------------------------------------------------------------------- |
| `pass`   | the released form, ``released``: its population is checked and remembered |
| `fail`   | the form with markers only (a model has none: the node declines the round) |
| `review` | nothing leaves; the form it would release is kept at the node's airlock    |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fivesafes.analyses.plugin import Judged, Refused
from fivesafes.protocol.runs import ReasonCode
from fivesafes.sdc.gate import Evidence, Judgement, judge
from fivesafes.sdc.profiles import Profile
from fivesafes.sdc.rules.base import Verdict

Build = Callable[[Judgement], dict[str, Any]]


def by_evidence(
    evidence: Evidence, profile: Profile, build: Build, *, model: bool = False
) -> Judged:
    """Judge ``evidence`` under ``profile`` and build what leaves with ``build``. A ``model``
    that fails has no suppression marker: the node refuses (``model_refused``)."""
    judgement = judge(evidence, profile)
    if judgement.verdict is Verdict.REVIEW:
        return Judged("review", _kept(build, judgement))
    if judgement.verdict is Verdict.FAIL and model:
        raise Refused(ReasonCode.MODEL_REFUSED)
    passed = judgement.verdict is Verdict.PASS
    return Judged("pass" if passed else "fail", build(judgement), released=passed)


def _kept(build: Build, judgement: Judgement) -> dict[str, Any] | None:
    """What an output held for review would release, marked ``review``; None if it cannot be
    built (the run is still held, with nothing kept)."""
    try:
        output = build(replace(judgement, verdict=Verdict.PASS))
    except Exception:  # noqa: BLE001 - nothing is kept, nothing leaves
        return None
    output["gate"] = {"verdict": "review", "profile": judgement.profile, "rules": judgement.rules}
    return output
