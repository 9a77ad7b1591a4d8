"""Helpers for tests of the node's portal over real HTTP: a ``fivesafes node portal`` process
beside a harness's node, the node's own people with a password and TOTP, and a CDM whose
persons carry their pseudonyms (as the TRE's loading pipeline writes them)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb

from fivesafes.demo.local import edit_toml
from fivesafes.demo.processes import Service, free_port, wait_for_health
from fivesafes.node.accounts import create_node_user
from fivesafes.node.pseudonyms import create_key, load_key, pseudonym
from portal import PASSWORD, Person

TRE_ADMIN = "local-tre-admin"


def start_node_portal(harness: Any, node: str, **accounts: Any) -> tuple[str, Service]:
    """``fivesafes node portal`` for ``node`` on a free loopback port, with cookies that work
    over plain http (``[accounts] secure_cookies = false``); its URL and process."""
    config = harness.root / node / "node.toml"
    port = free_port()
    edit_toml(config, "portal", port=port)
    edit_toml(config, "accounts", secure_cookies=False, **accounts)
    process = harness.supervisor.start(
        f"{node}-portal",
        ["node", "portal", "--config", str(config)],
        harness.root / node / "portal.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_health(url, process)
    return url, process


def node_person(
    harness: Any, node: str, username: str, roles: list[str], *, totp: bool = True
) -> Person:
    """An account at ``node`` holding ``roles`` there, with a password and an authenticator."""
    service = harness.node_service(node)
    try:
        store = service.account_store
        service.unit(
            lambda s: create_node_user(
                s, node=node, username=username, display_name=username.title(), roles=roles,
                by=TRE_ADMIN,
            )
        )  # fmt: skip
        service.unit(lambda s: store.set_password(s, username, PASSWORD, by=TRE_ADMIN))
        secret = None
        if totp:
            secret, _uri = service.unit(lambda s: store.enrol_totp(s, username, by=TRE_ADMIN))
    finally:
        service.stop()
    return Person(username, secret, token="")


def nhs(person_id: int) -> str:
    """A made-up identifier per person (not a valid NHS number: a test value)."""
    return f"999 {person_id:07d}"


def pseudonymised_cdm(source: Path, target: Path, key_file: Path) -> list[int]:
    """Copy ``source`` to ``target`` with each person's pseudonym (of :func:`nhs`) in
    ``person_source_value``, under a new key in ``key_file``; the person ids."""
    shutil.copy(source, target)
    create_key(key_file)
    key = load_key(key_file)
    with duckdb.connect(str(target)) as con:
        ids = [row[0] for row in con.execute("SELECT person_id FROM person").fetchall()]
        values = [(i, pseudonym(nhs(i), key)) for i in ids]
        con.execute("CREATE TEMP TABLE p (person_id BIGINT, value VARCHAR)")
        con.executemany("INSERT INTO p VALUES (?, ?)", values)
        con.execute(
            "UPDATE person SET person_source_value = p.value FROM p "
            "WHERE person.person_id = p.person_id"
        )
    return ids
