"""A project's linkage across two nodes, end to end (issue 18, part 2): a real hub process and
the nodes' real commands on loopback.

* two synthetic hospitals, their identities with a planted overlap (``fivesafes synth
  identities``) loaded into each node's identity store; a project whose terms ask for linkage
  across its nodes, approved by both custodians; the secret made at one node and carried to the
  other;
* one shared person is recorded at the second hospital without an NHS number and with a typo
  in the family name, so that no exact token links the two records: only their hardened
  Bloom-filter encodings can;
* ``fivesafes node linkage push`` at the first node (tokens and encodings): the hub waits for
  the second; at the second: the hub links, tokens first and then encodings; ``pull`` at each
  keeps its persons' link ids. The pairs of persons that share a link id are the planted pairs
  (precision >= 0.999, recall >= 0.99), the person with the typo among them;
* after the run, nothing the hub holds (its database, its linkage store, its logs) carries a
  token, an encoding (as sent, in base64, or as kept, in bytes), an identifier or a node's
  person id: only counts, among them how many persons encodings linked; the researcher's view
  shows the persons linked per pair through the gate; the node's audit logs say who sent and
  kept; a linked person's data account at the node lists the project (never the link id), an
  unlinked person's lists none;
* nodes whose secrets differ are refused in words, and nothing is linked.
"""

from __future__ import annotations

import base64
import csv
import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import httpx

from federation import fs
from fivesafes.data.synth import generate
from fivesafes.demo.local import CUSTODIAN
from fivesafes.hub.linkage import result
from fivesafes.linkage.encodings import clk
from fivesafes.linkage.identifiers import identity
from fivesafes.linkage.match import match_tokens
from fivesafes.linkage.tokens import project_key, read_secret, tokens
from portal import session_for

SITES = ("northfield", "lakeside")
TODAY = date.today()


def hub_bytes(harness) -> bytes:
    root = harness.root / "hub"
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def plant_typo_without_number(out: Path, truth: list[dict[str, str]]) -> tuple[int, int]:
    """A shared person, recorded without errors at both hospitals, is written again at
    lakeside without an NHS number and with one letter of the family name changed: (their
    person_id at northfield, at lakeside)."""
    true_of = {(r["site"], r["person_id"]): r for r in truth}
    north = {true_of[("northfield", r["person_id"])]["true_person"]: r
             for r in rows(out / "identities-northfield.csv")}  # fmt: skip
    path = out / "identities-lakeside.csv"
    lake = rows(path)

    def as_planted(row: dict[str, str]) -> dict[str, str] | None:
        mine = true_of[("lakeside", row["person_id"])]
        other = north.get(mine["true_person"])
        if other is None or mine["errors"] or not row["nhs_number"] or not row["postcode"]:
            return None
        if len(row["family_name"]) < 5 or other["family_name"] != row["family_name"]:
            return None
        return other

    row, other = next((r, o) for r in lake if (o := as_planted(r)) is not None)
    name, middle = row["family_name"], len(row["family_name"]) // 2
    changed = "Q" if name[middle] != "Q" else "X"
    row["family_name"], row["nhs_number"] = name[:middle] + changed + name[middle + 1 :], ""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(lake[0]))
        writer.writeheader()
        writer.writerows(lake)
    return int(other["person_id"]), int(row["person_id"])


def setup(harness, tmp_path, *, share_secret: bool = True) -> dict:
    harness.start_hub()
    for n, site in enumerate(SITES):
        data = tmp_path / f"{site}.duckdb"
        generate(data, persons=600, seed=n + 11, site=site)
        harness.add_node(site, {"engine": "duckdb", "path": str(data)}, start=False)
    out = tmp_path / "identities"
    fs("synth", "identities", *[f"--omop={s}={tmp_path / f'{s}.duckdb'}" for s in SITES],
       "--overlap", "0.3", "--seed", "5", "--out", str(out))  # fmt: skip
    with (out / "truth.csv").open() as handle:
        truth = list(csv.DictReader(handle))
    planted = plant_typo_without_number(out, truth)
    configs = {s: str(harness.root / s / "node.toml") for s in SITES}
    for site in SITES:
        fs("node", "identities", "load", str(out / f"identities-{site}.csv"), "-c", configs[site])
    fs("node", "linkage", "make-secret", "-c", configs["northfield"])
    if share_secret:
        copy = harness.root / "lakeside" / "linkage.secret"
        shutil.copy(harness.root / "northfield" / "linkage.secret", copy)
        copy.chmod(0o600)
    else:
        fs("node", "linkage", "make-secret", "-c", configs["lakeside"])
    token = harness.researcher("alice")
    project = harness.project(["alice"], list(SITES), linkage="across_nodes",
                              title="Slides at one hospital, deaths at another")  # fmt: skip
    return {"configs": configs, "project": project, "token": token, "truth": truth, "out": out,
            "planted": planted}  # fmt: skip


def made(harness, world, site: str) -> tuple[dict[int, dict[str, str]], dict[int, bytes]]:
    """What the node sent, as the test can make it with the node's secret: each person's
    tokens and encoding."""
    key = project_key(read_secret(harness.root / site / "linkage.secret"), world["project"])
    people = [identity(r, TODAY) for r in rows(world["out"] / f"identities-{site}.csv")]
    return ({p.person_id: tokens(p, key) for p in people},
            {p.person_id: clk(p, key) for p in people})  # fmt: skip


def test_two_hospitals_link_their_shared_persons_without_the_hub_learning_who(harness, tmp_path):
    world = setup(harness, tmp_path)
    project, configs = world["project"], world["configs"]
    push = ("node", "linkage", "push", "--project", project, "--by", CUSTODIAN)
    north_typo, lake_typo = world["planted"]
    north, lake = made(harness, world, "northfield"), made(harness, world, "lakeside")
    # no exact token pair links the planted person's two records
    assert match_tokens({north_typo: north[0][north_typo]}, {lake_typo: lake[0][lake_typo]}) == []
    first = fs(*push, "-c", configs["northfield"]).stdout
    assert "Sent the tokens and encodings of 600 persons" in first
    assert "Waiting for: lakeside" in first
    waiting = list((harness.root / "hub").rglob("*.parquet"))  # in the hub's linkage store
    assert {p.parent.name for p in waiting} == {"northfield.upload"} and waiting
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in waiting)
    early = fs("node", "linkage", "pull", "--project", project, "--by", CUSTODIAN, "-c",
               configs["northfield"], check=False)  # fmt: skip
    assert early.returncode != 0 and "waiting for: lakeside" in early.stderr
    alice = session_for(harness, "alice")
    waiting = alice.get(f"/projects/{project}").text
    assert (
        "Linkage across its nodes" in waiting and "Not linked yet: northfield has sent" in waiting
    )
    second = fs(*push, "-c", configs["lakeside"]).stdout
    assert "the hub is linking them" in second  # the hub's worker links in the background

    links = {}
    for site in SITES:
        kept = fs("node", "linkage", "pull", "--project", project, "--by", CUSTODIAN, "-c",
                  configs[site]).stdout  # fmt: skip
        assert "persons here are linked" in kept
        with sqlite3.connect(harness.root / site / "node.db") as con:
            kept_links = "SELECT person_id, link_id FROM linkage_links WHERE project_id = ?"
            links[site] = dict(con.execute(kept_links, [project]))
            assert con.execute("SELECT count(*) FROM linkage_refs").fetchone()[0] == 0

    true_of = {(r["site"], int(r["person_id"])): r["true_person"] for r in world["truth"]}
    planted = {(a, b) for (sa, a), ta in true_of.items() if sa == "northfield"
               for (sb, b), tb in true_of.items() if sb == "lakeside" and ta == tb}  # fmt: skip
    by_link = {link: person for person, link in links["lakeside"].items()}
    found = {(a, by_link[link]) for a, link in links["northfield"].items() if link in by_link}
    hits = len(found & planted)
    assert len(planted) == 180  # 30% of 600
    assert hits / len(found) >= 0.999 and hits / len(planted) >= 0.99, (len(found), hits)
    assert set(links["northfield"].values()) == set(links["lakeside"].values())  # two nodes
    # the person without a number and with a typo: linked by their encodings
    assert links["northfield"][north_typo] == links["lakeside"][lake_typo]
    kept = harness.admin(lambda s: result(s, project))
    ((_, _, linked, by_encodings, threshold),) = kept["pairs"]
    assert linked == len(found) and 1 <= by_encodings < linked
    assert 0.6 <= threshold <= 0.8  # the run's, from its own strangers

    # the hub kept counts, nothing else
    view = httpx.get(f"{harness.hub_url}/api/v1/projects/{project}/linkage",
                     headers={"Authorization": f"Bearer {world['token']}"}).json()  # fmt: skip
    assert view["state"] == "linked"
    (pair,) = view["pairs"]
    assert pair["nodes"] == ["lakeside", "northfield"]
    assert abs(pair["linked"] - len(found)) <= 5  # rounded to the gate's base
    assert pair["shown_by_encodings"]  # how many by encodings, gated as the rest
    assert pair["encodings_threshold"] == threshold
    shown = alice.get(f"/projects/{project}").text  # the project's page, as alice sees it
    assert "Persons linked between nodes" in shown
    assert (
        f'<th scope="row">lakeside and northfield</th><td class="number">{pair["shown"]}</td>'
        in shown
    )
    held = hub_bytes(harness)
    for row in rows(world["out"] / "identities-northfield.csv")[:100]:
        for value in (row["nhs_number"], row["family_name"].upper()):
            if len(value) > 4:
                assert value.encode() not in held
    for made_tokens, made_encodings in (north, lake):  # what the nodes sent: none of it kept
        for person in list(made_tokens)[:100]:
            assert not any(t.encode() in held for t in made_tokens[person].values())
            encoding = made_encodings[person]
            assert encoding not in held and base64.b64encode(encoding) not in held
    assert not list((harness.root / "hub").rglob("*.parquet"))
    assert not list((harness.root / "hub").rglob("*.links.json"))
    some_links = list(links["northfield"].values())[:20]
    assert not any(link.encode() in held for link in some_links)  # delivered, then deleted
    with sqlite3.connect(harness.root / "northfield" / "node.db") as con:
        kinds = [k for (k,) in con.execute("SELECT event_type FROM audit_events")]
    assert "linkage_pushed" in kinds and "linkage_links_kept" in kinds

    # the patient data account lists the linkage project for a linked person, not the link id
    def account(person: int) -> dict:
        shown = fs("node", "patient-account", "--person-id", str(person), "--by", "dpo",
                   "--json", "-c", configs["northfield"]).stdout  # fmt: skip
        return json.loads(shown)

    linked_person, link = next(iter(links["northfield"].items()))
    found = account(linked_person)
    assert [p["project_id"] for p in found["linked"]] == [project]
    assert found["linked"][0]["title"] == "Slides at one hospital, deaths at another"
    assert link not in json.dumps(found)
    unlinked = next(p for p in range(1, 601) if p not in links["northfield"])
    assert account(unlinked)["linked"] == []


def test_nodes_with_different_secrets_are_refused_and_nothing_is_linked(harness, tmp_path):
    world = setup(harness, tmp_path, share_secret=False)
    project, configs = world["project"], world["configs"]
    push = ("node", "linkage", "push", "--project", project, "--by", CUSTODIAN)
    fs(*push, "-c", configs["northfield"])
    refused = fs(*push, "-c", configs["lakeside"], check=False)
    assert refused.returncode != 0 and "different linkage secrets" in refused.stderr
    assert not list((harness.root / "hub").rglob("*.parquet"))
    view = httpx.get(f"{harness.hub_url}/api/v1/projects/{project}/linkage",
                     headers={"Authorization": f"Bearer {world['token']}"}).json()  # fmt: skip
    assert view["state"] == "waiting" and view["uploads"] == []
    assert date.today()  # the project stands: it may link again after a key ceremony
