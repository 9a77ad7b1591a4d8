"""A node's identities and linkage secret through the real commands (issue 18, part 1):

* ``fivesafes synth identities`` writes identities for two synthetic hospitals' CDMs, with the
  planted overlap in its truth; each hospital's operator loads their file into the node's
  identity store (``node identities load``, a file of mode 600 apart from the data file) and
  ``status`` shows counts only; a file with bad rows keeps the good ones, reports the others by
  line and reason (``--report``), and neither the output, the report nor the node's audit log
  holds a refused value or any identifier;
* ``node linkage make-secret`` makes the secret once; copied to the other node (the key
  ceremony), both show the same fingerprint for a project, another for another project; a
  third node with its own secret shows another.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import stat

from federation import fs
from fivesafes.data.synth import generate


def node(tmp_path, name: str, data) -> str:
    folder = tmp_path / name
    fs("node", "init", "--name", name, "--hub-url", "http://127.0.0.1:9", "--dir", str(folder),
       "--data", str(data))  # fmt: skip
    return str(folder / "node.toml")


def test_hospitals_load_identities_and_share_a_secret(tmp_path):
    cdms = {}
    for n, site in enumerate(("northfield", "lakeside")):
        cdms[site] = tmp_path / f"{site}.duckdb"
        generate(cdms[site], persons=400, seed=n + 1, site=site)
    out = tmp_path / "identities"
    made = fs("synth", "identities", "--omop", f"northfield={cdms['northfield']}",
              "--omop", f"lakeside={cdms['lakeside']}", "--overlap", "0.25", "--seed", "3",
              "--out", str(out)).stdout  # fmt: skip
    assert "truth.csv" in made
    with (out / "truth.csv").open() as handle:
        truth = list(csv.DictReader(handle))
    first = {r["true_person"] for r in truth if r["site"] == "northfield"}
    shared = [r for r in truth if r["site"] == "lakeside" and r["true_person"] in first]
    assert len(shared) == 100  # 25% of 400

    configs = {site: node(tmp_path, site, cdms[site]) for site in cdms}
    north = configs["northfield"]
    # a file with bad rows: two rows of the synthetic file spoiled
    rows = list(csv.reader((out / "identities-northfield.csv").open()))
    rows[2][1] = "9434765918"  # a wrong check digit
    rows[3][4] = "31/12/1960"  # a date as written on a form
    spoiled = [rows[2][1], rows[3][4], rows[2][2], rows[3][2]]
    bad = tmp_path / "spoiled.csv"
    with bad.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    report = tmp_path / "refused.csv"
    loaded = fs("node", "identities", "load", str(bad), "--report", str(report), "-c", north,
                "--by", "pas-feed")  # fmt: skip
    assert "398 persons kept of 400 rows; 2 refused" in loaded.stdout
    assert "line 3: nhs_number fails the modulus-11 check" in loaded.stdout
    assert "line 4: date_of_birth is not a date written YYYY-MM-DD" in loaded.stdout
    assert report.read_text().splitlines()[1:] == [
        "3,nhs_number,fails the modulus-11 check",
        "4,date_of_birth,is not a date written YYYY-MM-DD",
    ]
    status = fs("node", "identities", "status", "-c", north).stdout
    assert "Identity store: 398 persons" in status

    store = tmp_path / "northfield" / "identities.sqlite"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    with sqlite3.connect(tmp_path / "northfield" / "node.db") as con:
        events = con.execute("SELECT details FROM audit_events WHERE event_type ="
                             " 'identities_loaded'").fetchall()  # fmt: skip
    assert len(events) == 1 and '"kept": 398' in events[0][0]
    said = loaded.stdout + status + report.read_text() + events[0][0]
    assert not any(value in said for value in spoiled)
    with bad.open() as handle:
        names = {r["family_name"] for r in csv.DictReader(handle)}
    assert not any(name in said for name in names if len(name) > 3)

    fs("node", "identities", "load", str(out / "identities-lakeside.csv"), "-c",
       configs["lakeside"])  # fmt: skip

    # the key ceremony: one node makes the secret, its copy goes to the other
    fs("node", "linkage", "make-secret", "-c", north, "--by", "dr-north")
    again = fs("node", "linkage", "make-secret", "-c", north, check=False)
    assert again.returncode != 0 and "never overwritten" in again.stderr
    secret = tmp_path / "northfield" / "linkage.secret"
    copy = tmp_path / "lakeside" / "linkage.secret"
    shutil.copy(secret, copy)
    copy.chmod(0o600)

    def prints(config: str, project: str) -> str:
        return fs("node", "linkage", "fingerprint", "--project", project, "-c", config).stdout

    assert prints(north, "p_one") == prints(configs["lakeside"], "p_one")
    assert prints(north, "p_one") != prints(north, "p_two")
    other = node(tmp_path, "riverside", cdms["lakeside"])
    fs("node", "linkage", "make-secret", "-c", other)
    assert prints(other, "p_one") != prints(north, "p_one")
    copy.chmod(0o644)
    exposed = fs("node", "linkage", "fingerprint", "--project", "p_one", "-c",
                 configs["lakeside"], check=False)  # fmt: skip
    assert exposed.returncode != 0 and "owner only" in exposed.stderr
