"""Portal load: many signed-in people browsing the hub's portal at once, on loopback.

    .venv/bin/python benchmarks/bench_portal_load.py [--users 200] [--seconds 60]
        [--think-ms 0] [--workdir DIR] [--no-record]

A real hub process (``fivesafes hub serve``, SQLite, one enrolled node) with 20 researchers,
each the PI of a project, and a hub admin. Every simulated person holds a web session of their
own (made by the accounts service exactly as a sign-in makes it, so the benchmark measures
browsing, not 200 Argon2 checks) and browses in a closed loop, thinking between pages for a
random time (exponential, mean ``--think-ms``; each person starts at a random moment within one
mean, so that people do not arrive in waves): researchers the home page, the data use register
and their projects; one person in ten is a hub admin, who also reads the audit explorer (which
verifies the whole chain on every view). Every answer must be a 200 page showing the person
signed in; anything else (a status, a redirect, a timeout, a connection error) is an error, and
the script exits 1 if there was one.

Prints requests per second and latency percentiles, overall and per page, and the hub
process's CPU time; unless ``--no-record``, writes them into docs/benchmarks.md between
``<!-- bench:portal-load -->`` and ``<!-- /bench:portal-load -->``. The load generator runs on
the same machine as the hub and shares its CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from fivesafes.demo.local import LocalFederation
from fivesafes.demo.processes import Supervisor
from fivesafes.hub.people import create_user
from fivesafes.hub.projects import create_project
from fivesafes.web.signin import SESSION_COOKIE
from record import machine, update_section

RESEARCHERS = 20
ADMIN_EVERY = 10  # one simulated person in ten is a hub admin
RESEARCHER_PAGES = ("/", "/register", "/projects")
ADMIN_PAGES = ("/", "/register", "/projects", "/audit")
TIMEOUT = 30.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + sum(self.errors.values())


def build_hub(root: Path, supervisor: Supervisor) -> tuple[LocalFederation, dict[str, str]]:
    """A hub process with people and projects; a session id per account (researchers and
    ``admin``), made by the hub's accounts service."""
    fed = LocalFederation(root, supervisor)
    fed.start_hub(register_cache_seconds=60)
    fed.add_node("northfield", {"engine": "duckdb", "path": "/nonexistent"}, start=False)
    until = date.today() + timedelta(days=365)
    names = [f"r{i:03d}" for i in range(RESEARCHERS)]

    def people(session) -> None:  # type: ignore[no-untyped-def]
        for name in names:
            create_user(session, username=name, display_name=f"Researcher {name}",
                        roles=["researcher"], accredited_until=until, by="bench")  # fmt: skip
        create_user(session, username="admin", display_name="Hub admin", roles=["hub_admin"],
                    by="bench")  # fmt: skip
        for name in names:
            create_project(
                session, title=f"Study led by {name}", members=[name], nodes=["northfield"],
                start_date=date.today(), end_date=until, purpose="Load testing the portal.",
                pi=name, by="bench",
            )  # fmt: skip

    fed.admin(people)
    service = fed.hub()
    try:
        store = service.account_store
        sessions = {}
        for name in [*names, "admin"]:
            account = service.read(lambda s, n=name: store.require(s, n))  # type: ignore[misc]
            sessions[name], _csrf = service.accounts.create_session(account)
    finally:
        service.stop()
    return fed, sessions


async def person(
    client: httpx.AsyncClient,
    session_id: str,
    pages: tuple[str, ...],
    stop_at: float,
    think: float,
    tally: Tally,
) -> None:
    cookies = {"Cookie": f"{SESSION_COOKIE}={session_id}"}
    turn = 0
    pause = random.Random(session_id)  # people do not think in step with each other
    if think:
        await asyncio.sleep(pause.uniform(0, think))
    while time.monotonic() < stop_at:
        path = pages[turn % len(pages)]
        turn += 1
        started = time.perf_counter()
        try:
            response = await client.get(path, headers=cookies)
            ok = response.status_code == 200 and "Sign out" in response.text
        except httpx.HTTPError:
            ok = False
        if ok:
            tally.latencies[path].append(time.perf_counter() - started)
        else:
            tally.errors[path] += 1
        if think:
            await asyncio.sleep(pause.expovariate(1 / think))


async def load(
    url: str, sessions: dict[str, str], users: int, seconds: float, think: float
) -> tuple[Tally, float]:
    tally = Tally()
    names = sorted(n for n in sessions if n != "admin")
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=limits) as client:
        started = time.monotonic()
        stop_at = started + seconds
        tasks = []
        for i in range(users):
            admin = i % ADMIN_EVERY == ADMIN_EVERY - 1
            session_id = sessions["admin" if admin else names[i % len(names)]]
            pages = ADMIN_PAGES if admin else RESEARCHER_PAGES
            pages = pages[i % len(pages) :] + pages[: i % len(pages)]  # not all on one page
            tasks.append(person(client, session_id, pages, stop_at, think, tally))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
    return tally, elapsed


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(
    tally: Tally, elapsed: float, users: int, think: float, cpu: float, load: tuple[float, float]
) -> str:
    every = [v for values in tally.latencies.values() for v in values]
    errors = sum(tally.errors.values())
    ms = 1000.0
    lines = [
        f"{users} signed-in people for {elapsed:.0f} s, think time {think * ms:.0f} ms (mean), "
        f"against one hub process on loopback; {machine()}; "
        f"{datetime.now(UTC):%Y-%m-%d}.",
        "",
        f"**{tally.requests} requests, {tally.requests / elapsed:.1f} per second, "
        f"{errors} errors.** Hub CPU {cpu:.1f} s ({cpu / elapsed:.2f} cores on average); "
        f"the machine's load average {load[0]:.1f} before and {load[1]:.1f} after (other work "
        "shares its CPUs, the load generator too).",
        "",
        "| page | requests | errors | p50 ms | p90 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in sorted(set(tally.latencies) | set(tally.errors)):
        values = tally.latencies.get(path) or [float("nan")]
        lines.append(
            f"| `{path}` | {len(tally.latencies.get(path, []))} | {tally.errors.get(path, 0)} | "
            f"{percentile(values, 50) * ms:.0f} | {percentile(values, 90) * ms:.0f} | "
            f"{percentile(values, 99) * ms:.0f} | {max(values) * ms:.0f} |"
        )
    if every:
        lines.append(
            f"| all | {len(every)} | {errors} | {percentile(every, 50) * ms:.0f} | "
            f"{percentile(every, 90) * ms:.0f} | {percentile(every, 99) * ms:.0f} | "
            f"{max(every) * ms:.0f} |"
        )
        lines += ["", f"Mean latency {statistics.fmean(every) * ms:.0f} ms."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think-ms", type=float, default=0.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    think = args.think_ms / 1000.0
    with tempfile.TemporaryDirectory(prefix="portal-load-") as scratch, Supervisor() as sup:
        root = args.workdir or Path(scratch)
        fed, sessions = build_hub(root, sup)
        assert fed.hub_process is not None
        pid = fed.hub_process.process.pid
        print(f"hub at {fed.hub_url}; {args.users} people for {args.seconds:.0f} s", flush=True)
        cpu_before, load_before = cpu_seconds(pid), os.getloadavg()[0]
        tally, elapsed = asyncio.run(load(fed.hub_url, sessions, args.users, args.seconds, think))
        cpu = cpu_seconds(pid) - cpu_before
        machine_load = (load_before, os.getloadavg()[0])
    text = report(tally, elapsed, args.users, think, cpu, machine_load)
    print(text)
    heading = "## Portal load (`benchmarks/bench_portal_load.py`)"
    if not args.no_record:
        update_section("portal-load", f"{heading}\n\n{text}")
    return 1 if sum(tally.errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
