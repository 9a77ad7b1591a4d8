"""A pool's data destroyed at its expiry, end to end (issue 18, part 4; revocation is in
``test_pool.py``): a real hub, the hospitals' node commands and a real pool service.

The pool's expiry is a date at least a day ahead. The pool service is stopped, as for
maintenance, and its operator's ``fivesafes pool sweep`` runs with the machine's clock a month
ahead (Debian's libfaketime, ``LD_PRELOAD``; ``scripts/faketime.sh`` installs it): the sweeper,
by its own clock and the terms it keeps, deletes every pooled row and file and signs a
certificate of destruction, although the hub (whose clock has not moved, so that it refuses the
pool's requests as outside the clock skew) cannot be told. While the service runs, a sweep by
hand is refused. Back on the true clock, the service tells the hub, which checks and shows the
certificate (reason ``expired``); before the expiry, an analysis whose cohort names a calendar
date is refused in words (dates at a pool are shifted per person); an analysis at the pool is
refused; nothing of the pool's files holds a link id; the pool's audit holds the destruction.

(The service itself is not run under libfaketime: libfaketime 0.9.10 does not shift the
monotonic deadline of Python's lock waits, ``sem_clockwait``, so a threaded server under a
shifted clock hangs or fails; a one-pass command does neither.)
"""

from __future__ import annotations

import glob
import sqlite3
import time

import pytest

from federation import fs
from fivesafes.client.federation import FederationError
from fivesafes.demo.processes import wait_for_health
from linked_world import POOL, ready_pool, with_pool

EVERYONE = {"name": "Everyone pooled", "index": {"type": "observation_start"}}
HYPERTENSIVE_DISORDER = 316866
FAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))


def a_month_ahead() -> dict[str, str]:
    if not FAKETIME:
        pytest.fail("Debian's libfaketime is missing: run bash scripts/faketime.sh")
    return {"LD_PRELOAD": FAKETIME[0], "FAKETIME": "+31d", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def serve(harness, world):
    process = harness.supervisor.start(POOL, ["pool", "serve", "--config", world["pool_config"]],
                                       harness.root / POOL / "pool.log")  # fmt: skip
    wait_for_health(world["pool_url"], process)
    return process


def test_a_pool_past_its_expiry_by_its_own_clock_destroys_its_data(harness, tmp_path):
    world = with_pool(harness, tmp_path, persons=400, seed=41,
                      title="A pool left to expire")  # fmt: skip
    pool = ready_pool(harness, world, {"northfield": ["sex"], "lakeside": ["hypertension"]},
                      "Hypertension at lakeside by sex at northfield, to expire.")  # fmt: skip
    pool_id = pool["pool_id"]
    fed = harness.federation(world["token"], world["project"])
    at_pool = harness.federation(world["token"], pool["pool_project_id"])
    before = at_pool.glm("hypertension ~ sex", cohort=EVERYONE, family="binomial", timeout=300)
    assert before.ok, str(before)
    assert world["pooled"].exists()
    # a calendar date means a different day for each person here: refused in words at once
    window = {"start": "2019-01-01"}
    condition = {"domain": "condition", "concepts": [HYPERTENSIVE_DISORDER], "window": window}
    since = {"name": "Since 2019", "criteria": [condition]}
    with pytest.raises(FederationError, match="calendar date"):
        at_pool.glm("hypertension ~ sex", cohort=since, family="binomial", timeout=60)
    with sqlite3.connect(harness.root / "northfield" / "node.db") as con:
        links = [link for (link,) in con.execute("SELECT link_id FROM linkage_links")]

    refused = fs("pool", "sweep", "-c", world["pool_config"], check=False)
    assert refused.returncode != 0 and "pool service is running" in refused.stderr

    # the service down for maintenance; a month later its operator's sweep destroys the pool
    world["pool_process"].stop()
    swept = fs("pool", "sweep", "-c", world["pool_config"], env=a_month_ahead()).stdout
    assert f"{pool_id}: destroyed (expired)" in swept and "the hub is not told yet" in swept
    assert not world["pooled"].exists()
    shown = fs("pool", "certificate", "--pool", pool_id, "-c", world["pool_config"]).stdout
    assert '"reason": "expired"' in shown and "signature verifies" in shown
    assert fed.pools()[0]["state"] == "ready"  # the hub was not told: its clock has not moved

    # back on the true clock: the service tells the hub, which checks and shows the certificate
    serve(harness, world)
    deadline = time.time() + 60
    while fed.pools()[0]["state"] != "destroyed" and time.time() < deadline:
        time.sleep(0.5)
    (seen,) = fed.pools()
    assert seen["state"] == "destroyed", seen
    assert seen["certificate"]["signature_checked"]
    assert seen["certificate"]["payload"]["reason"] == "expired"

    after = at_pool.glm("hypertension ~ sex", cohort=EVERYONE, family="binomial", timeout=120)
    assert not after.ok
    held = b"".join(p.read_bytes() for p in (harness.root / POOL).rglob("*") if p.is_file()
                    and p.suffix not in (".key", ".log"))  # fmt: skip
    assert links and not any(link.encode() in held for link in links[:50])
    with sqlite3.connect(harness.root / POOL / "node.db") as con:
        kinds = [k for (k,) in con.execute("SELECT event_type FROM audit_events")]
    assert "pool_destroyed" in kinds
