"""The README's first command: ``fivesafes demo`` runs a whole federation and answers."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import httpx

from fivesafes.client import Federation
from fivesafes.demo.cohorts import DEMO_COHORTS, SLIDE_COHORT
from fivesafes.demo.processes import fivesafes_command


def test_demo_once_prints_the_counts_and_exits_0(tmp_path):
    workdir = tmp_path / "demo"
    result = subprocess.run(
        fivesafes_command("demo", "--once", "--workdir", str(workdir), "--persons", "2000"),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for title, _ in DEMO_COHORTS:
        assert title in out
    for hospital in ("northfield", "riverside", "lakeside"):
        assert hospital in out
        assert (workdir / hospital / "omop.duckdb").is_file()
        assert (workdir / hospital / "node.toml").is_file()
        assert (workdir / hospital / "imaging-headers.sqlite").stat().st_mode & 0o077 == 0
    assert len(re.findall(r"imaging index: [\d,]+ series", out)) == 3  # each archive indexed
    assert len(re.findall(r"slides: [1-9][\d,]* registered", out)) == 3  # and its slides
    assert SLIDE_COHORT[0] in out and out.count("released 6 slides for review") == 2
    # the review study: both custodians approved it, three readers read, results printed
    assert "both custodians approved its version" in out
    assert len(re.findall(r"\b\d+ reads submitted", out)) == 3
    assert "Agreement on the histological type" in out and "quality per hospital" in out
    # the linkage: each pair of hospitals, the persons linked beside those planted
    assert "Persons linked between hospitals" in out
    # hospitals, linked, by encodings, the run's Dice threshold, planted
    linked = re.findall(r"│ (\w+) and (\w+)\s+│\s+(\d+) │[^\n]*│\s+0\.\d\d │\s+(\d+) │", out)
    assert len(linked) == 3, out[-3000:]
    for _, _, found, planted in linked:
        assert abs(int(found) - int(planted)) <= max(10, 0.05 * int(planted))
    counted = re.search(r"linked count: (\d+) \(truth (\d+)\)", out)
    assert counted, out[-3000:]  # within the gate's rounding of the truth read from the nodes
    assert abs(int(counted.group(1)) - int(counted.group(2))) <= 2.5
    # the pool: smoking at northfield, lung cancer at lakeside; the planted effect recovered
    # (the pooled interval excludes none, the estimate within three standard errors of the
    # plant: one draw of about 400 shared persons), then the pool's data destroyed
    current = re.search(r"│ smoker\[T\.current\]\s+│\s+(-?[\d.]+)\s+│\s+(-?[\d.]+) to "
                        r"(-?[\d.]+)\s+│\s+(-?[\d.]+)\s+│", out)  # fmt: skip
    assert current, out[-4000:]
    estimate, low, high, planted = (float(g) for g in current.groups())
    assert low > 0 and abs(estimate - planted) < 3 * (high - low) / (2 * 1.96), current.groups()
    assert "signed a certificate of destruction (pool destroyed; signature verified)" in out
    assert out.count("TOTAL") == len(DEMO_COHORTS) + 1  # and the slide cohort
    pooled = [line for line in out.splitlines() if line.startswith("POOLED")]
    header = next(line for line in out.splitlines() if line.startswith("node") and "mean" in line)
    mean_column = header.split().index("mean")
    assert len(pooled) == 1 and float(pooled[0].split()[mean_column]) > 18  # a mean age, years
    assert "Imaging summary of every series of the cohort's persons" in out
    assert "Federated logistic regression" in out
    planted = {
        line.split("│")[1].strip(): line.split("│")
        for line in out.splitlines()
        if line.startswith("│ smoker[T.current]") or line.startswith("│ age ")
    }
    assert set(planted) == {"age", "smoker[T.current]"}  # estimates printed beside the truth
    connection = json.loads((workdir / "connection.json").read_text())
    assert set(connection) == {"hub_url", "token", "project"}
    assert (workdir / "connection.json").stat().st_mode & 0o077 == 0  # the token is private


def test_demo_keeps_serving_until_interrupted(tmp_path):
    workdir = tmp_path / "demo"
    process = subprocess.Popen(
        fivesafes_command("demo", "--workdir", str(workdir), "--persons", "1000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line or process.poll() is not None:
                break
        assert "Press Ctrl-C" in "".join(lines), "".join(lines)
        # the connection file works from another process while the demo serves
        with Federation.from_file(workdir / "connection.json") as fed:
            result = fed.count(DEMO_COHORTS[0][1], timeout=60)
        assert result.complete and {n.state for n in result.nodes} == {"succeeded"}
        # the portals it prints take the passwords it prints
        portals = re.findall(r"(http://127\.0\.0\.1:\d+)/\s+sign in as (\S+), password (\S+)",
                             "".join(lines))  # fmt: skip
        assert len(portals) == 2, "".join(lines)
        pages = ("/projects", "/approvals")  # alice's projects; the custodian's queue
        for (url, username, password), page in zip(portals, pages, strict=True):
            with httpx.Client(base_url=url, timeout=30) as web:
                form = web.get("/sign-in").text
                csrf = re.search(r'name="csrf" value="([^"]*)"', form).group(1)
                fields = {"csrf": csrf, "next": page, "step": "password", "username": username}
                done = web.post("/sign-in", data={**fields, "password": password})
                assert done.status_code == 303, done.text
                signed_in = web.get(page)
                assert signed_in.status_code == 200 and 'action="/sign-out"' in signed_in.text
                assert "Lung cancer and smoking" in signed_in.text  # the demo's project
                wrong = httpx.post(f"{url}/sign-in", data={"username": username, "password": "x"})
                assert wrong.status_code != 303
                if page == "/approvals":  # the patient data account works with what it printed
                    [example] = re.findall(r"look up (\S+) \(a synthetic", "".join(lines))
                    form = web.get("/patient-account").text
                    csrf = re.search(r'name="csrf" value="([^"]*)"', form).group(1)
                    answer = web.post("/patient-account", data={"csrf": csrf,
                                                                "identifier": example})  # fmt: skip
                    assert answer.status_code == 200, answer.text
                    assert "Answer from northfield" in answer.text
                    assert "No person with this identifier" not in answer.text
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
