"""What counts as a released output on the data use register, one output shape at a time, and
the cache in front of the public route."""

from __future__ import annotations

import pytest

from fivesafes.hub.register import RegisterCache, released_any

PASS = {"verdict": "pass", "profile": "default", "rules": []}
FAIL = {"verdict": "fail", "profile": "default", "rules": ["threshold"]}
SHOWN = {"value": 20, "suppressed": False, "rule": "rounded to 10"}
HIDDEN = {"value": None, "suppressed": True, "rule": "fewer than 10"}


def cell(count):
    return {"row": "a", "column": "count", "count": count, "value": None}


@pytest.mark.parametrize(
    ("output", "released"),
    [
        ({"count": SHOWN, "gate": PASS}, True),  # a count
        ({"count": HIDDEN, "gate": FAIL}, False),  # a suppressed count
        ({"cells": [cell(HIDDEN), cell(SHOWN)], "gate": FAIL}, True),  # a table, one cell shown
        ({"cells": [cell(HIDDEN), cell(HIDDEN)], "gate": FAIL}, False),  # every cell hidden
        ({"n": SHOWN, "missing": SHOWN, "mean": 50.1, "sd": 3.0, "gate": PASS}, True),  # summary
        ({"groups": [{"n": HIDDEN, "gate": FAIL}, {"n": SHOWN, "gate": PASS}]}, True),  # by group
        ({"groups": [{"n": HIDDEN, "gate": FAIL}]}, False),
        ({"round": 3, "xtwx": [[1.0]], "xtwz": [1.0], "n": 40, "gate": PASS}, True),  # a model
        ({"groups": [{"level": "all", "blocks": [], "suppressed": True}], "gate": FAIL}, False),
        ({"groups": [{"level": "all", "blocks": [{}], "suppressed": False}], "gate": PASS}, True),
        ({"steps": [{"name": "all", "count": HIDDEN}], "gate": FAIL}, False),  # attrition
        ({}, False),
        ({"gate": "pass"}, False),
    ],
)
def test_what_releases_a_value(output, released):
    assert released_any(output) is released


def test_the_register_is_built_at_most_once_per_ttl():
    now = [0.0]
    built = []
    cache = RegisterCache(60, clock=lambda: now[0])

    def build():
        built.append(now[0])
        return f"register at {now[0]}"

    assert cache.get(build) == "register at 0.0"
    now[0] = 59.0
    assert cache.get(build) == "register at 0.0"
    now[0] = 60.0
    assert cache.get(build) == "register at 60.0"
    assert built == [0.0, 60.0]
    fresh = RegisterCache(0, clock=lambda: now[0])
    fresh.get(build)
    fresh.get(build)
    assert len(built) == 4
