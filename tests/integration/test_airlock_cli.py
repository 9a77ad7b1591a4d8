"""The airlock from the command line, as real processes on a hub's own machine: a researcher
composes and submits a request, two output checkers vote, the researcher releases a signed
bundle that verifies; blocked files, votes by the author or by someone who is not a checker,
and a file changed after approval are refused with a clear message and the stable error shape;
the audit chain verifies afterwards."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from datetime import date, timedelta
from pathlib import Path

from federation import fs

TABLE = "region,count\nnorth,120\nsouth,40\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def jfs(*args: str, check: bool = True):
    """``fivesafes … --json``: the parsed output and the process's exit code."""
    done = fs(*args, "--json", check=check)
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout), done.returncode


def hub_with_people(tmp_path) -> tuple[str, str]:
    """A hub (set up in this process: the airlock is what runs as real processes) with alice, a
    researcher who also holds the output-checker role; carol and dev, output checkers; bob, a
    researcher only; and a project of alice and bob at an enrolled node."""
    from fivesafes.hub.enrolment import enrol_node, issue_enrolment_token
    from fivesafes.hub.people import create_user
    from fivesafes.hub.projects import create_project
    from fivesafes.hub.service import HubService
    from fivesafes.hub.setup import init_hub
    from fivesafes.protocol.signing import generate_key, public_key_text

    config = init_hub(tmp_path / "hub")
    service = HubService(config)
    service.start()
    until = date.today() + timedelta(days=365)

    def people(s) -> str:
        create_user(s, username="alice", display_name="Alice", accredited_until=until,
                    roles=["researcher", "output_checker"], by="test")  # fmt: skip
        for checker in ("carol", "dev"):
            create_user(s, username=checker, display_name=checker, roles=["output_checker"],
                        by="test")  # fmt: skip
        create_user(s, username="bob", display_name="Bob", accredited_until=until, by="test")
        token = issue_enrolment_token(s, node_name="northfield", lifetime=timedelta(hours=1),
                                      by="test")  # fmt: skip
        enrol_node(s, token=token, node_name="northfield",
                   public_key=public_key_text(generate_key()))  # fmt: skip
        project = create_project(s, title="Smoking", members=["alice", "bob"],
                                 nodes=["northfield"], start_date=date.today(),
                                 end_date=until, by="test")  # fmt: skip
        return project.id

    try:
        project_id = service.unit(people)
    finally:
        service.stop()
    return str(tmp_path / "hub" / "hub.toml"), project_id


def test_a_request_is_reviewed_by_two_checkers_and_released_as_a_signed_bundle(tmp_path):
    hub, project = hub_with_people(tmp_path)
    (tmp_path / "table.csv").write_text(TABLE)
    (tmp_path / "rows.parquet").write_bytes(b"PAR1")
    alice = ("-c", hub, "--by", "alice")

    made, _ = jfs("airlock", "request", "create", "--title", "Smoking by region",
                  "--project", project, *alice)  # fmt: skip
    rid = made["id"]
    assert made["state"] == "draft"
    fs("airlock", "request", "add-file", rid, str(tmp_path / "table.csv"), "--context",
       "adults by region", *alice)  # fmt: skip
    blocked = fs("airlock", "request", "add-file", rid, str(tmp_path / "rows.parquet"), *alice,
                 check=False)  # fmt: skip
    assert blocked.returncode == 2 and "Traceback" not in blocked.stderr
    assert "error: rows.parquet: a .parquet file cannot leave" in blocked.stderr
    assert jfs("airlock", "request", "submit", rid, *alice)[0]["state"] == "submitted"

    queued, _ = jfs("airlock", "review", "queue", "-c", hub, "--by", "carol")
    assert [(q["id"], q["waiting_for"]) for q in queued] == [(rid, "your review")]
    own, code = jfs("airlock", "review", "vote", rid, "table.csv", "--vote", "approve",
                    *alice, check=False)  # fmt: skip
    assert code == 2 and own["error"]["code"] == "forbidden" and "own" in own["error"]["message"]
    outsider, code = jfs("airlock", "review", "vote", rid, "table.csv", "--vote", "approve",
                         "-c", hub, "--by", "bob", check=False)  # fmt: skip
    assert code == 2 and outsider == {
        "error": {
            "code": "not_found",
            "message": "The release request does not exist or you do not have permission to "
            "see it.",
            "details": [],
        }
    }
    fs("airlock", "review", "vote", rid, "table.csv", "--vote", "approve", "--comment", "ok",
       "-c", hub, "--by", "carol")  # fmt: skip
    seen, _ = jfs("airlock", "review", "show", rid, "-c", hub, "--by", "dev")
    assert seen["votes"] == [] and seen["files"][0]["pre_screen"]["verdict"] == "pass"
    fs("airlock", "review", "vote", rid, "table.csv", "--vote", "approve", "-c", hub,
       "--by", "dev")  # fmt: skip

    bundle = tmp_path / "bundle.zip"
    released, _ = jfs("airlock", "release", rid, "--out", str(bundle), *alice)
    assert released["files"] == ["table.csv"]
    verified = fs("airlock", "verify-bundle", str(bundle), "-c", hub).stdout
    assert f"bundle verified: request {rid} version 1 by alice" in verified
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tampered, "w") as out:
        for item in src.namelist():
            data = src.read(item)
            out.writestr(item, data.replace(b"120", b"121") if item.endswith(".csv") else data)
    bad, code = jfs("airlock", "verify-bundle", str(tampered), "-c", hub, check=False)
    assert code == 2 and bad["error"]["code"] == "changed_since_approval"

    nobody, code = jfs("airlock", "request", "list", "-c", hub, "--by", "mallory", check=False)
    assert code == 2 and "mallory" in nobody["error"]["message"]
    assert "audit chain intact" in fs("audit", "verify", "-c", hub).stdout


def test_a_file_changed_after_approval_cannot_be_released(tmp_path):
    from fivesafes.airlock.files import RequestFile
    from fivesafes.airlock.review import Vote
    from fivesafes.hub.airlock import airlock_actor, hub_airlock
    from fivesafes.hub.config import HubConfig
    from fivesafes.hub.service import HubService
    from fivesafes.settings import load_config

    hub, project = hub_with_people(tmp_path)
    service = HubService(load_config(Path(hub), HubConfig))
    service.start()
    try:  # an approved request, made in this process
        airlock = hub_airlock(service)
        alice, carol, dev = (
            service.read(lambda s, n=n: airlock_actor(s, n)) for n in ("alice", "carol", "dev")
        )
        rid = airlock.create(title="t", project_id=project, by=alice).id
        airlock.add_file(rid, RequestFile("table.csv", TABLE.encode()), by=alice)
        airlock.submit(rid, by=alice)
        for checker in (carol, dev):
            airlock.vote(rid, "table.csv", Vote.APPROVE, by=checker)
    finally:
        service.stop()
    with sqlite3.connect(tmp_path / "hub" / "hub.db") as db:  # the stored bytes, altered
        db.execute(
            "UPDATE airlock_files SET content = ? WHERE request_id = ?",
            (TABLE.replace("40", "4").encode(), rid),
        )
    refused, code = jfs("airlock", "release", rid, "--out", str(tmp_path / "b.zip"), "-c", hub,
                        "--by", "alice", check=False)  # fmt: skip
    assert code == 2 and refused["error"] == {
        "code": "changed_since_approval",
        "message": "Changed since approval: table.csv.",
        "details": [],
    }
    assert not (tmp_path / "b.zip").exists()
    assert "audit chain intact" in fs("audit", "verify", "-c", hub).stdout


ROWS = "person_id,age,sex,visits\n" + "".join(
    f"P{i:06d},{18 + i % 70},{'fm'[i % 2]},{11 + i % 7}\n" for i in range(612)
)


def test_outcomes_file_by_file_a_return_and_messages_that_name_the_next_command(tmp_path):
    hub, project = hub_with_people(tmp_path)
    (tmp_path / "table.csv").write_text(TABLE)
    (tmp_path / "persons.csv").write_text(ROWS)
    alice, carol, dev = (("-c", hub, "--by", who) for who in ("alice", "carol", "dev"))
    rid = jfs("airlock", "request", "create", "--title", "Two files", "--project", project,
              *alice)[0]["id"]  # fmt: skip
    for name in ("table.csv", "persons.csv"):
        fs("airlock", "request", "add-file", rid, str(tmp_path / name), *alice)
    submitted = fs("airlock", "request", "submit", rid, *alice).stdout
    assert "nothing to do until they decide" in submitted

    shown = fs("airlock", "review", "show", rid, *carol).stdout
    assert "looks like row-level data (one row per person: 612 rows" in shown
    assert "rounding: 612 cells not a multiple of 10 (rows 1-612; column 'visits')" in shown
    assert "row 612, column 'visits'" not in shown and "--detail shows them" in shown
    assert shown.count("\n") < 60  # a headline and grouped lines, not 612 findings
    detail = fs("airlock", "review", "show", rid, "--detail", *carol).stdout
    assert "row 1, column 'visits': rounding: not a multiple of 10" in detail
    assert f"fivesafes airlock review return {rid} --message WHAT" in shown

    back = jfs("airlock", "review", "return", rid, "--message", "persons.csv is row-level: "
               "count visits by age band", *carol)[0]  # fmt: skip
    assert back["state"] == "changes_requested"
    assert [s["text"] for s in back["next"]] == [
        "The request is changes requested: nothing for a checker to do"
    ]
    told = fs("airlock", "request", "show", rid, *alice).stdout
    assert "returned by carol: persons.csv is row-level: count visits by age band" in told
    assert f"next: A checker returned it to you with what to change: revise it and resubmit: " \
           f"fivesafes airlock request revise {rid}" in told  # fmt: skip
    refused, code = jfs("airlock", "release", rid, "--out", str(tmp_path / "b.zip"), *alice,
                        check=False)  # fmt: skip
    assert code == 2 and refused["error"]["code"] == "invalid_request"
    assert f"`fivesafes airlock request revise {rid}`" in refused["error"]["message"]

    fs("airlock", "request", "revise", rid, *alice)
    fs("airlock", "request", "remove-file", rid, "persons.csv", *alice)
    (tmp_path / "small.csv").write_text("region,count\nnorth,120\nsouth,3\n")
    fs("airlock", "request", "add-file", rid, str(tmp_path / "small.csv"), *alice)
    fs("airlock", "request", "submit", rid, *alice)
    for checker in (carol, dev):
        fs("airlock", "review", "vote", rid, "table.csv", "--vote", "approve", *checker)
        why, code = jfs("airlock", "review", "vote", rid, "small.csv", "--vote", "reject",
                        *checker, check=False)  # fmt: skip
        assert code == 2 and "says why" in why["error"]["message"]
        assert f"fivesafes airlock review vote {rid} FILE" in why["error"]["message"]
        fs("airlock", "review", "vote", rid, "small.csv", "--vote", "reject", "--comment",
           "south has 3 persons", *checker)  # fmt: skip
    decided = fs("airlock", "request", "show", rid, *alice).stdout
    assert "partly approved" in decided and "why: south has 3 persons" in decided
    assert f"next: Release the approved file: fivesafes airlock release {rid}" in decided
    bundle = tmp_path / "bundle.zip"
    released = fs("airlock", "release", rid, "--out", str(bundle), *alice).stdout
    assert f"Released {rid} version 2: table.csv" in released
    with zipfile.ZipFile(bundle) as z:
        assert [n for n in z.namelist() if n.startswith("files/")] == ["files/table.csv"]
    final = jfs("airlock", "request", "show", rid, *alice)[0]
    assert final["state"] == "released"  # small.csv was rejected: nothing left to revise
    assert final["outcomes"] == {"table.csv": "approved", "small.csv": "rejected"}
    assert [h["released"] for h in final["history"]] == [[], ["table.csv"]]
    assert "audit chain intact" in fs("audit", "verify", "-c", hub).stdout
