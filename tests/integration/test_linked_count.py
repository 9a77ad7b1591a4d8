"""A linked count across two nodes, end to end (issue 18, part 3): a real hub, real node
agents and the nodes' real linkage commands on loopback.

* two synthetic hospitals of 600 persons with 180 shared (``fivesafes synth identities``),
  linked as in ``test_linkage_run``;
* before the link ids are fetched, a linked count is refused at each node (``not_linked``) and
  ``fivesafes linked-count`` exits non-zero;
* after: "women at northfield who have hypertension at lakeside" is answered within the gate's
  rounding of the planted truth, computed here from each node's cohort and its link ids;
* what the nodes sent (each part as values blinded for the task) is shown to no one (the task's
  view, the API, the page) and kept by the hub only until combined: its database then holds
  the gate's record of each part, and nothing the hub holds contains a link id or a person's
  blinding key.
"""

from __future__ import annotations

import html
import json
import sqlite3

import httpx

from federation import fs
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import concepts as c
from fivesafes.demo.local import CUSTODIAN
from linked_world import SITES, hospitals, link
from portal import session_for

WOMEN = {"name": "Women", "sex": ["female"]}
HYPERTENSION = {
    "name": "Hypertension",
    "criteria": [{"domain": "condition", "concepts": [c.HYPERTENSIVE_DISORDER]}],
}


def hub_bytes(harness) -> bytes:
    root = harness.root / "hub"
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def cohort_persons(path, cohort: dict) -> set[int]:
    """The cohort's persons at a node, as the node's own compiler finds them."""
    from pydantic import TypeAdapter

    from fivesafes.analyses.parameters import CohortDefinition
    from fivesafes.cohorts.compile import cohort_ids
    from fivesafes.data.engines import open_omop

    db = open_omop(DuckDBSource(engine="duckdb", path=str(path)))
    try:
        model = TypeAdapter(CohortDefinition).validate_python(cohort)
        ids = cohort_ids(db, cohort=model).to_pyarrow().column("person_id").to_pylist()
        return {int(p) for p in ids}
    finally:
        db.close()


def linked_world(harness, tmp_path) -> dict:
    harness.start_hub()
    data = hospitals(harness, tmp_path, 600, 11)
    world = link(harness, tmp_path, data, seed=5, pull=False,
                 title="Women at one hospital, hypertension at another")  # fmt: skip
    for site in SITES:
        harness.start_node(site)
    return world


def write_parts(tmp_path) -> list[str]:
    (tmp_path / "women.json").write_text(json.dumps(WOMEN))
    (tmp_path / "hypertension.json").write_text(json.dumps(HYPERTENSION))
    return [f"--part=northfield={tmp_path / 'women.json'}",
            f"--part=lakeside={tmp_path / 'hypertension.json'}"]  # fmt: skip


def test_a_linked_count_is_the_planted_truth_and_no_one_sees_the_parts(harness, tmp_path):
    world = linked_world(harness, tmp_path)
    project, configs, token = world["project"], world["configs"], world["token"]
    parts = write_parts(tmp_path)
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps({"hub_url": harness.hub_url, "token": token,
                                      "project": project}))  # fmt: skip
    ask = ("linked-count", *parts, "--connection", str(connection))
    early = fs(*ask, check=False)
    assert early.returncode == 1, early.stdout + early.stderr
    assert "not_linked" in early.stdout or "no linked persons" in early.stdout

    for site in SITES:
        fs("node", "linkage", "pull", "--project", project, "--by", CUSTODIAN, "-c", configs[site])
    links, blindings = {}, {}
    for site in SITES:
        with sqlite3.connect(harness.root / site / "node.db") as con:
            rows = con.execute(
                "SELECT person_id, link_id, blinding FROM linkage_links WHERE project_id = ?",
                [project],
            ).fetchall()
        links[site] = {person: link for person, link, _ in rows}
        blindings[site] = [blind for _, _, blind in rows]
        assert all(blind and len(blind) == 64 for blind in blindings[site])
    # the same person has the same blinding key at both nodes
    blind_of = {
        site: {links[site][p]: b for p, b in zip(links[site], blindings[site], strict=True)}
        for site in SITES
    }
    shared = set(blind_of["northfield"]) & set(blind_of["lakeside"])
    assert shared and all(blind_of["northfield"][k] == blind_of["lakeside"][k] for k in shared)

    women = cohort_persons(world["data"]["northfield"], WOMEN)
    hypertensive = cohort_persons(world["data"]["lakeside"], HYPERTENSION)
    at_north = {links["northfield"][p] for p in women if p in links["northfield"]}
    at_lake = {links["lakeside"][p] for p in hypertensive if p in links["lakeside"]}
    truth = len(at_north & at_lake)
    assert truth >= 15, truth  # enough to pass the gate: the test can tell a count from none

    answered = fs(*ask, "--json")
    result = json.loads(answered.stdout)
    assert not result["suppressed"] and abs(result["count"] - truth) <= 2.5, (result, truth)
    task_id = result["task_id"]

    fed = harness.federation(token, project)
    again = fed.linked_count(
        {"northfield": WOMEN, "lakeside": HYPERTENSION}, timeout=120
    )  # a second task: the same answer, blinded anew
    assert again.count == result["count"]

    view = httpx.get(f"{harness.hub_url}/api/v1/tasks/{task_id}",
                     headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
    assert view["combined"]["count"]["value"] == result["count"]
    assert all(set(run["output"]) == {"gate"} for run in view["runs"])
    page = html.unescape(session_for(harness, "alice").get(f"/tasks/{task_id}").text)
    assert 'linked_count of "Women" at northfield and "Hypertension" at lakeside' in page
    assert "who are in every node's part" in page and "members" not in page
    assert f'<strong class="task-total">{result["count"]}</strong>' in page

    with sqlite3.connect(harness.root / "hub" / "hub.db") as con:
        outputs = [json.loads(o) for (o,) in con.execute("SELECT output FROM runs")]
    assert outputs and all(set(o) == {"gate"} for o in outputs if o is not None)
    held = hub_bytes(harness)
    some = [*list(links["northfield"].values())[:30], *blindings["northfield"][:30]]
    assert not any(value.encode() in held for value in some)
    with sqlite3.connect(harness.root / "northfield" / "node.db") as con:
        kinds = [k for (k,) in con.execute("SELECT event_type FROM audit_events")]
    assert "linkage_links_kept" in kinds
