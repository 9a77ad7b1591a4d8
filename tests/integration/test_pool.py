"""A pool, end to end (issue 18, part 4): a real hub, two hospitals' real node commands and a
real pool service (``fivesafes pool serve``) on loopback.

* two hospitals of 1,000 synthetic persons with 300 shared, linked (tokens, link ids kept);
* a member asks for a pool: northfield sends ``sex``, lakeside ``hypertension``; the hub makes
  the terms and the pool project; each custodian reads and approves the terms and sends; the
  pool checks each node's signature and the terms, merges, and tells the hub it is ready;
* a logistic regression at the pool (the same GLM, gate and differencing as any node) of
  hypertension recorded at lakeside on sex recorded at northfield equals statsmodels on the
  rows joined here from both hospitals' own databases by link id;
* the patient data account at northfield lists the pool for a person sent, not for one who
  was not; a custodian's revocation makes the pool delete every pooled row and file, sign a
  certificate of destruction the hub checks and shows, and every later analysis fails;
* nothing of the pool's files holds a link id after destruction; every step is audited.
"""

from __future__ import annotations

import hashlib
import html
import json
import sqlite3
import time
from datetime import date, timedelta

import duckdb
import numpy as np
import statsmodels.api as sm

from federation import fs
from fivesafes.demo.local import CUSTODIAN
from fivesafes.protocol.signing import canonical_json, verify
from linked_world import POOL, SITES, with_pool
from portal import session_for

EVERYONE = {"name": "Everyone pooled", "index": {"type": "observation_start"}}
HYPERTENSIVE_DISORDER = 316866


def linked_world(harness, tmp_path) -> dict:
    return with_pool(harness, tmp_path, persons=1000, seed=21,
                     title="Sex at one hospital, hypertension at another")  # fmt: skip


def links_at(harness, site: str, project: str) -> dict[int, str]:
    with sqlite3.connect(harness.root / site / "node.db") as con:
        rows = con.execute(
            "SELECT person_id, link_id FROM linkage_links WHERE project_id = ?", [project]
        )
        return dict(rows.fetchall())


def reference_rows(world, harness) -> tuple[np.ndarray, np.ndarray]:
    """Per linked person: male (northfield's person row), hypertension ever (a lakeside
    condition of the hypertensive disorder family), joined here by link id."""
    north = links_at(harness, "northfield", world["project"])
    lake = links_at(harness, "lakeside", world["project"])
    with duckdb.connect(str(world["data"]["northfield"]), read_only=True) as con:
        sex = dict(con.execute("SELECT person_id, gender_concept_id = 8507 FROM person").fetchall())
    with duckdb.connect(str(world["data"]["lakeside"]), read_only=True) as con:
        ill = {p for (p,) in con.execute(
            "SELECT DISTINCT person_id FROM condition_occurrence WHERE condition_concept_id IN "
            "(SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = ?)",
            [HYPERTENSIVE_DISORDER]).fetchall()}  # fmt: skip
    by_link = {link: person for person, link in lake.items()}
    rows = [(float(sex[p]), float(by_link[link] in ill)) for p, link in north.items()
            if link in by_link]  # fmt: skip
    frame = np.array(rows)
    return frame[:, 0], frame[:, 1]


def test_a_pool_joins_two_hospitals_rows_analyses_them_exactly_and_destroys_them(harness, tmp_path):
    world = linked_world(harness, tmp_path)
    project, configs = world["project"], world["configs"]
    fed = harness.federation(world["token"], project)
    made = fed.ask_for_pool(
        pool_node=POOL,
        variables={"northfield": ["sex"], "lakeside": ["hypertension"]},
        expires_on=(date.today() + timedelta(days=30)).isoformat(),
        purpose="Hypertension recorded at lakeside by sex recorded at northfield.",
    )
    pool_id, pool_project = made["pool_id"], made["pool_project_id"]
    harness.approve(POOL, pool_project)  # the pool's operator approves its pool project

    early = fs("node", "pool", "send", "--pool", pool_id, "-c", configs["northfield"],
               check=False)  # fmt: skip
    assert early.returncode != 0 and "not approved these terms" in early.stderr
    shown = fs("node", "pool", "show", "--pool", pool_id, "-c", configs["northfield"]).stdout
    assert "northfield (this node) sends: sex" in shown and made["digest"] in shown
    for site in SITES:
        fs("node", "pool", "approve", "--pool", pool_id, "--by", CUSTODIAN, "-c", configs[site])
        sent = fs("node", "pool", "send", "--pool", pool_id, "--by", CUSTODIAN, "-c",
                  configs[site]).stdout  # fmt: skip
        assert "signed receipt" in sent
    deadline = time.time() + 60
    while fed.pools()[0]["state"] != "ready" and time.time() < deadline:
        time.sleep(0.5)
    (pool,) = fed.pools()
    assert pool["state"] == "ready", pool
    assert [r["kind"] for r in pool["reports"]].count("sent") == 2

    # the pooled analysis: the same GLM as at any node, on the joined rows
    at_pool = harness.federation(world["token"], pool_project)
    fit = at_pool.glm("hypertension ~ sex", cohort=EVERYONE, family="binomial", timeout=300)
    assert fit.ok, (str(fit), (harness.root / POOL / "pool.log").read_text()[-3000:])
    male, ill = reference_rows(world, harness)
    reference = sm.Logit(ill, sm.add_constant(male)).fit(disp=0)
    assert len(male) >= 250  # about 300 shared persons, all pooled
    assert np.allclose(fit.params, reference.params, atol=1e-6), (fit.params, reference.params)
    assert np.allclose(fit.bse, reference.bse, atol=1e-6)

    # the patient data account lists the pool for a person sent, not for one never linked
    north = links_at(harness, "northfield", project)
    sent_person = next(iter(north))
    account = json.loads(fs("node", "patient-account", "--person-id", str(sent_person), "--by",
                            "dpo", "--json", "-c", configs["northfield"]).stdout)  # fmt: skip
    assert [p["pool_id"] for p in account["pools"]] == [pool_id]
    assert north[sent_person] not in json.dumps(account)
    unlinked = next(p for p in range(1, 1001) if p not in north)
    account = json.loads(fs("node", "patient-account", "--person-id", str(unlinked), "--by",
                            "dpo", "--json", "-c", configs["northfield"]).stdout)  # fmt: skip
    assert account["pools"] == []

    # revocation: the pool deletes everything and signs a certificate the hub shows
    fs("node", "pool", "revoke", "--pool", pool_id, "--by", CUSTODIAN, "-c", configs["lakeside"])
    deadline = time.time() + 90
    while fed.pools()[0]["state"] != "destroyed" and time.time() < deadline:
        time.sleep(0.5)
    (pool,) = fed.pools()
    assert pool["state"] == "destroyed", pool
    shown = pool["certificate"]  # as members see it: checked by the hub, no exact count
    assert shown["signature_checked"] and "persons" not in shown["payload"]
    assert shown["payload"]["reason"] == "revoked" and shown["payload"]["revoked_by"] == "lakeside"
    with sqlite3.connect(harness.root / "hub" / "hub.db") as con:
        terms, kept = con.execute("SELECT terms, certificate FROM pools WHERE pool_id = ?",
                                  [pool_id]).fetchone()  # fmt: skip
    kept = json.loads(kept)
    verify(kept["payload"], kept["signature"], json.loads(terms)["pool_public_key"])
    assert hashlib.sha256(canonical_json(kept["payload"])).hexdigest() == shown["digest"]
    checked = fs("pool", "certificate", "--pool", pool_id, "-c", world["pool_config"]).stdout
    assert "signature verifies" in checked
    page = html.unescape(session_for(harness, "alice").get(f"/projects/{project}").text)
    assert "Pools of its linked persons' rows" in page and pool_id in page
    assert "certificate: revoked" in page
    assert not world["pooled"].exists()
    held = b"".join(p.read_bytes() for p in (harness.root / POOL).rglob("*") if p.is_file()
                    and p.suffix not in (".key", ".log"))  # fmt: skip
    assert not any(link.encode() in held for link in list(north.values())[:50])
    after = at_pool.glm("hypertension ~ sex", cohort=EVERYONE, family="binomial", timeout=120)
    assert not after.ok

    kinds = {}
    for site in SITES:
        with sqlite3.connect(harness.root / site / "node.db") as con:
            kinds[site] = {k for (k,) in con.execute("SELECT event_type FROM audit_events")}
    assert {"pool_approved", "pool_sent"} <= kinds["northfield"]
    assert {"pool_approved", "pool_sent", "pool_revoked"} <= kinds["lakeside"]
    with sqlite3.connect(harness.root / POOL / "node.db") as con:
        at_pool_kinds = {k for (k,) in con.execute("SELECT event_type FROM audit_events")}
    assert {"pool_extract_received", "pool_merged", "pool_destroyed"} <= at_pool_kinds
