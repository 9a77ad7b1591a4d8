"""A blinded review study across hospitals, end to end (issue 17): a real hub process and a
node's real commands on loopback, the slides synthesised and released by the node.

* the study's lead designs it over the API; the node's custodian sees it with
  ``fivesafes node studies list``, computes its digest from what the hub sent, and approves it
  with ``fivesafes node studies approve``; the study opens only then;
* its cases are the slides the node released to the project, known to readers by a study
  pseudonym only; each reader sees their own reads, never another's;
* a reader's read: the AI is refused before the unaided read is locked, the locked read can
  never change, the aided read gives feedback on each of the model's predictions;
* bad input (answers that break the form, a body nested too deeply, another reader's read, an
  edit after the start) is refused in words, in the one error shape, and changes nothing;
* the hub's audit log has every step, never an answer.
"""

from __future__ import annotations

import io
import json
import sqlite3

import httpx
import pandas
import pytest

from federation import fs
from fivesafes.demo.local import CUSTODIAN
from portal import session_for
from slide_review_world import MODEL, NODE
from study_world import api, design, study_world

ANSWERS = {"adequacy": "adequate", "tumour_present": "no", "confidence": "4",
           "comment": "PLANTED-STUDY-COMMENT"}  # fmt: skip


@pytest.fixture
def world(harness, tmp_path):
    return study_world(harness, tmp_path)


def refused(response: httpx.Response, status: int, words: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(response.json()) == {"error"} and words in error["message"], error
    return error


def test_a_blinded_review_study_across_hospitals(harness, world):
    alice, rita, ravi, carol = (api(harness, world, w) for w in ("alice", "rita", "ravi", "carol"))
    made = alice.post("/studies", json={"project_id": world["study_project"], "design": design()})
    assert made.status_code == 201, made.text
    study = made.json()
    sid = study["study_id"]
    assert study["state"] == "draft"
    refused(carol.get(f"/studies/{sid}"), 404, "does not exist")
    refused(rita.post(f"/studies/{sid}/propose"), 403, "lead")

    # the node's custodian: the study as the node received it, its digest computed there
    assert alice.post(f"/studies/{sid}/propose").json()["state"] == "awaiting"
    listed = json.loads(fs("node", "studies", "list", "--json", "-c", world["config"]).stdout)
    assert [(s["study_id"], s["digest"]) for s in listed] == [(sid, study["digest"])]
    refused(alice.post(f"/studies/{sid}/cases", json={"review_ids": world["releases"]}), 409,
            "approve its current version")  # fmt: skip
    shown = fs("node", "studies", "approve", sid, "--by", CUSTODIAN, "--yes", "-c", world["config"])
    assert "Lung biopsies read at two other hospitals" in shown.stdout
    assert alice.get(f"/studies/{sid}").json()["state"] == "open"
    # with its approval the node sent what each of its slides may show, gated there
    hub_db = sqlite3.connect(harness.root / "hub" / "hub.db")
    sent = {r[0]: json.loads(r[1]) for r in hub_db.execute(
        "SELECT review_id, facts FROM review_study_facts WHERE study_id = ?", (sid,))}  # fmt: skip
    assert set(sent) == set(world["releases"])
    assert all(set(f) == {"age_band", "sex", "diagnosis_code"} for f in sent.values())

    assert alice.post(f"/studies/{sid}/cases", json={"review_ids": world["releases"]}).json() == {
        "count": 2
    }
    assert alice.post(f"/studies/{sid}/allocate").json() == {"count": 4}
    early = alice.get(f"/studies/{sid}/results").json()
    assert (
        early["progress"]["overall"]["assigned"] == 4
        and "once the study is locked" in early["note"]
    )
    refused(rita.get(f"/studies/{sid}/results"), 403, "lead")
    refused(alice.get(f"/studies/{sid}/results.csv"), 409, "locked")
    mine = rita.get(f"/studies/{sid}/worklist").json()
    theirs = ravi.get(f"/studies/{sid}/worklist").json()
    assert len(mine) == len(theirs) == 2
    assert {r["case"] for r in mine} == {r["case"] for r in theirs}
    for read in mine:  # blinded: a study pseudonym, never the release or the hospital
        assert read["case"].startswith("C-") and read["case"] not in world["releases"]
        assert NODE not in json.dumps(read)
    read = mine[0]["read_id"]
    step = f"/studies/reads/{read}"

    refused(ravi.post(f"{step}/open"), 404, "does not exist")  # another reader's read
    assert rita.post(f"{step}/open").json()["state"] == "opened"
    assert rita.post(f"{step}/time", json={"seconds": 30}).json()["seconds"] == 30
    refused(rita.post(f"{step}/time", json={"seconds": 99999}), 422, "phase")  # bounded
    bad = refused(rita.post(f"{step}/save", json={"answers": {**ANSWERS, "adequacy": "superb"}}),
                  422, "do not follow the study's form")  # fmt: skip
    assert bad["details"] == [{"field": "adequacy", "problem": "is not one of the item's codes"}]
    assert "superb" not in json.dumps(bad)
    deep = rita.post(f"{step}/save", content=b'{"answers": ' + b"[" * 50 + b"]" * 50 + b"}",
                     headers={"content-type": "application/json"})  # fmt: skip
    refused(deep, 400, "nested too deeply")
    assert rita.post(f"{step}/save", json={"answers": ANSWERS}).json()["unaided"] == ANSWERS
    refused(rita.post(f"{step}/reveal"), 409, "Lock your unaided read before the AI is revealed")
    hidden = session_for(harness, "rita").get(f"/review/studies/reads/{read}/predictions.json")
    assert hidden.status_code == 404  # the AI is not shown before the unaided read is locked
    assert rita.post(f"{step}/lock").json()["state"] == "locked"
    refused(rita.post(f"{step}/save", json={"answers": {**ANSWERS, "confidence": "1"}}), 409,
            "locked: it can never change")  # fmt: skip
    revealed = rita.post(f"{step}/reveal").json()
    assert revealed["ai_visible"] and revealed["aided"] == ANSWERS

    # the aided read: feedback on each of the model's predictions, which the read's own page
    # shows only now; the review store's listing never shows rita her cases
    page = session_for(harness, "rita")
    listed = page.get(f"/review/studies/reads/{read}/predictions.json")
    assert listed.status_code == 200, listed.text
    ids = [p["id"] for p in listed.json()["predictions"]]
    assert ids and all(p["model"] == MODEL for p in listed.json()["predictions"])
    assert revealed["predictions"] == sorted(ids)  # an API client learns them from the step
    assert not any(r in page.get("/review/slides").text for r in world["releases"])
    shown = page.get(f"/review/studies/reads/{read}")
    assert shown.status_code == 200 and "Clinical information" in shown.text
    assert "Age band" in shown.text and "Biopsy site" not in shown.text  # only what it asks
    refused(rita.post(f"{step}/submit"), 422, "every prediction")
    view = {"ai_agrees": "partly", "ai_confidence": "4",
            "ai_region": [[10, 10], [400, 10], [400, 300]]}  # fmt: skip
    saved = rita.post(f"{step}/save", json={"phase": "aided", "answers": ANSWERS,
                                            "feedback": {i: view for i in ids}})  # fmt: skip
    assert saved.status_code == 200, saved.text
    assert rita.post(f"{step}/submit").json()["state"] == "submitted"
    refused(rita.post(f"{step}/save", json={"phase": "aided", "answers": ANSWERS}), 409,
            "submitted")  # fmt: skip

    # an edit after the start: the study waits for its custodian again; reads are refused
    edited = alice.put(f"/studies/{sid}", json={**design(), "title": "Lung biopsies, revised"})
    assert (edited.json()["state"], edited.json()["version"]) == ("awaiting", 2)
    refused(rita.post(f"/studies/reads/{mine[1]['read_id']}/open"), 409, "approve its current")
    fs("node", "studies", "approve", sid, "--by", CUSTODIAN, "--yes", "-c", world["config"])
    assert rita.post(f"/studies/reads/{mine[1]['read_id']}/open").status_code == 200

    assert alice.post(f"/studies/{sid}/lock").json()["state"] == "locked"
    found = alice.get(f"/studies/{sid}/results").json()
    assert found["progress"]["overall"]["submitted"] == 1 and found["item"] == "tumour_present"
    rows = found["agreement"]["readers"] + found["agreement"]["versus_ai"]
    assert rows and all(r["estimate"] is None and "too few cases" in r["note"] for r in rows)
    table = alice.get(f"/studies/{sid}/results.csv")
    assert table.status_code == 200 and table.text.startswith("item,phase,statistic,first")
    parquet = alice.get(f"/studies/{sid}/results.parquet")
    assert parquet.status_code == 200
    frame = pandas.read_parquet(io.BytesIO(parquet.content))
    assert list(frame.columns)[:4] == ["item", "phase", "statistic", "first"]
    assert len(frame) == len(table.text.strip().splitlines()) - 1
    page = session_for(harness, "alice").get(f"/review/studies/{sid}/results")
    assert page.status_code == 200 and "Agreement" in page.text
    refused(ravi.post(f"/studies/reads/{theirs[0]['read_id']}/open"), 409, "locked")

    hub_db = sqlite3.connect(harness.root / "hub" / "hub.db")
    query = "SELECT event_type FROM audit_events WHERE event_type LIKE 'study_%' ORDER BY seq"
    events = [r[0] for r in hub_db.execute(query)]
    for kind in ("study_created", "study_proposed", "study_approved", "study_cases_added",
                 "study_reads_allocated", "study_case_opened", "study_read_saved",
                 "study_first_read_locked", "study_ai_revealed", "study_read_submitted",
                 "study_edited", "study_locked"):  # fmt: skip
        assert kind in events, kind
    trail = json.dumps([r[0] for r in hub_db.execute("SELECT details FROM audit_events")])
    assert "PLANTED-STUDY-COMMENT" not in trail and "adequate" not in trail
    node_db = sqlite3.connect(harness.root / NODE / "node.db")
    approved = node_db.execute(
        "SELECT count(*) FROM audit_events WHERE event_type = 'study_approved'"
    ).fetchone()[0]
    assert approved == 2  # both versions, each by the custodian, at the node


def test_a_study_from_the_command_line_and_the_python_client(harness, world, tmp_path):
    """The lead's own tools: ``fivesafes study …`` and ``fed.studies``, over the same API."""
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps({"hub_url": harness.hub_url, "project": world["study_project"],
                                      "token": world["tokens"]["alice"]}))  # fmt: skip
    spec = tmp_path / "design.json"
    spec.write_text(json.dumps(design()))
    made = json.loads(fs("study", "create", str(spec), "--connection", str(connection)).stdout)
    sid = made["study_id"]
    assert json.loads(fs("study", "propose", sid, "--connection", str(connection)).stdout)[
        "state"] == "awaiting"  # fmt: skip
    fs("node", "studies", "approve", sid, "--by", CUSTODIAN, "--yes", "-c", world["config"])
    fs("study", "cases", sid, *world["releases"], "--connection", str(connection))
    assert json.loads(fs("study", "allocate", sid, "--connection", str(connection)).stdout) == {
        "count": 4
    }
    refused_cli = fs("study", "results", sid, "--csv", str(tmp_path / "a.csv"), "--connection",
                     str(connection), check=False)  # fmt: skip
    assert refused_cli.returncode == 2 and "locked" in refused_cli.stderr + refused_cli.stdout
    with harness.federation(world["tokens"]["alice"], world["study_project"]) as fed:
        assert fed.studies.get(sid)["state"] == "open"
        assert fed.studies.lock(sid)["state"] == "locked"
    fs("study", "results", sid, "--csv", str(tmp_path / "a.csv"), "--connection", str(connection))
    assert (tmp_path / "a.csv").read_text().startswith("item,phase,statistic")
    shown = json.loads(fs("study", "show", sid, "--connection", str(connection)).stdout)
    assert shown["digest"] == made["digest"] and shown["state"] == "locked"
