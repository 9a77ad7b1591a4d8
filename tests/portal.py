"""Helpers for tests of the hub's web portal over real HTTP: a hub process whose cookies work
over loopback http, people with a password and TOTP, signing in as a browser does, and a task
page's result tables read back from its HTML (to hold its CSV to them)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from typing import Any

import httpx
import pyotp

from fivesafes.demo.local import ADMIN, edit_toml
from fivesafes.demo.processes import free_port
from fivesafes.hub.setup import init_hub

PASSWORD = "correct horse battery staple"  # a test account's


def start_portal_hub(harness: Any, **accounts: Any) -> None:
    """A hub process like ``Harness.start_hub``'s, with ``[accounts] secure_cookies = false``
    (plain http on loopback) and any other ``[accounts]`` settings given."""
    port = free_port()
    harness.hub_url = f"http://127.0.0.1:{port}"
    config = harness.root / "hub" / "hub.toml"
    init_hub(harness.root / "hub", name="test-hub", port=port)
    edit_toml(config, "hub", sweep_interval_seconds=0.2, node_offline_after_seconds=5,
              register_cache_seconds=0)  # fmt: skip
    edit_toml(config, "accounts", secure_cookies=False, **accounts)
    harness.restart_hub()


@dataclass
class Person:
    username: str
    secret: str | None  # TOTP
    token: str  # an API token, for comparing with the API
    used: set[int] = field(default_factory=set)

    def code(self) -> str:
        """A code the hub has not seen from this person yet (each step is accepted once)."""
        assert self.secret is not None
        totp = pyotp.TOTP(self.secret)
        step = totp.timecode(time.time())
        while step in self.used or (self.used and step < max(self.used)):
            step += 1
        self.used.add(step)
        return totp.generate_otp(step)


def person(
    harness: Any,
    username: str,
    *,
    roles: tuple[str, ...] = ("researcher",),
    totp: bool = True,
    accredited_until: date | None = None,
) -> Person:
    """An account at the hub with a password and (unless not ``totp``) an authenticator."""
    token = harness.researcher(username, roles=roles, accredited_until=accredited_until)
    service = harness.hub()
    try:
        store = service.account_store
        service.unit(lambda s: store.set_password(s, username, PASSWORD, by=ADMIN))
        secret = None
        if totp:
            secret, _uri = service.unit(lambda s: store.enrol_totp(s, username, by=ADMIN))
    finally:
        service.stop()
    return Person(username, secret, token)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden field {name!r} in the page"
    return found.group(1)


def csrf_of(page: str) -> str:
    """The session's CSRF token, as the page gives it to htmx."""
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(hub_url: str, who: Person, password: str = PASSWORD) -> httpx.Client:
    """A client signed in as ``who`` through the sign-in pages (password, then the code)."""
    client = httpx.Client(base_url=hub_url, timeout=30)
    form = client.get("/sign-in").text
    step = client.post(
        "/sign-in",
        data={"csrf": hidden(form, "csrf"), "next": "/", "step": "password",
              "username": who.username, "password": password},
    )  # fmt: skip
    assert step.status_code == 200, step.text
    done = client.post(
        "/sign-in",
        data={"csrf": hidden(form, "csrf"), "next": "/", "step": "code",
              "pending": hidden(step.text, "pending"), "code": who.code()},
    )  # fmt: skip
    assert done.status_code == 303, done.text
    return client


def session_for(harness: Any, username: str) -> httpx.Client:
    """A client with a web session made directly in the hub's database (as a sign-in would),
    for tests that are not about signing in; its CSRF token is ``client.csrf``."""
    service = harness.hub()
    try:
        account = service.read(lambda s: service.account_store.require(s, username))
        session_id, csrf = service.accounts.create_session(account)
    finally:
        service.stop()
    client = httpx.Client(base_url=harness.hub_url, timeout=30)
    client.cookies.set("fivesafes_session", session_id)
    client.csrf = csrf  # type: ignore[attr-defined]
    return client


def browse_as(page: Any, harness: Any, username: str) -> httpx.Client:
    """A Playwright ``page`` signed in to the hub as ``username`` (``session_for``'s session in
    its cookie, any earlier one cleared); the client, for requests as the same person."""
    client = session_for(harness, username)
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "fivesafes_session", "url": harness.hub_url,
                               "value": client.cookies["fivesafes_session"]}])  # fmt: skip
    return client


class ResultTables(HTMLParser):
    """A task page's result, read back from its HTML as a person sees it: each result table
    (``<table class="... result">``) as its caption, header and body rows (the row labels
    first where the table shows them), and each line in words (``result-line``)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[str], list[list[str]]]] = []
        self.lines: list[str] = []
        self._caption: list[str] | None = None
        self._line: list[str] | None = None
        self._last_caption = ""
        self._table: dict[str, Any] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "figcaption":
            self._caption = []
        elif tag == "p" and "result-line" in classes:
            self._line = []
        elif tag == "table" and "result" in classes:
            self._table = {"head": [], "body": [], "part": None}
        elif self._table is not None and tag in ("thead", "tbody"):
            self._table["part"] = tag
        elif self._table is not None and tag == "tr":
            self._table["head" if self._table["part"] == "thead" else "body"].append([])
        elif self._table is not None and tag in ("th", "td"):
            self._cell = []
            self._kind = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption" and self._caption is not None:
            self._last_caption = "".join(self._caption).strip()
            self._caption = None
        elif tag == "p" and self._line is not None:
            self.lines.append("".join(self._line).strip())
            self._line = None
        elif tag in ("th", "td") and self._cell is not None and self._table is not None:
            part = self._table["head" if self._table["part"] == "thead" else "body"]
            part[-1].append(("".join(self._cell).strip(), self._kind))
            self._cell = None
        elif tag == "table" and self._table is not None:
            self.tables.append((self._last_caption, *self._read(self._table)))
            self._table = None

    def handle_data(self, data: str) -> None:
        for collecting in (self._caption, self._line, self._cell):
            if collecting is not None:
                collecting.append(data)

    @staticmethod
    def _read(table: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
        body = [[text for text, _ in row] for row in table["body"]]
        labels = 0  # row labels are <th> in the body (pandas' index)
        if table["body"]:
            while labels < len(table["body"][0]) and table["body"][0][labels][1] == "th":
                labels += 1
        head = [[text for text, _ in row] for row in table["head"]]
        # pandas puts the columns' names on the first header row and, when the index is
        # named, the index's names on a second one
        header = [head[-1][i] if i < labels else head[0][i] for i in range(len(head[0]))]
        return header, body


def result_tables(page: str) -> ResultTables:
    parser = ResultTables()
    parser.feed(page)
    return parser


def expected_csv(page: str) -> list[list[str]]:
    """The rows the task's CSV must hold, read from its page alone: a column ``table``, then
    every table's columns in the order they first come, then ``note``; each table's rows under
    its caption, then each line under ``notes``."""
    read = result_tables(page)
    columns = ["table"]
    for _, header, _ in read.tables:
        columns += [name for name in header if name not in columns]
    if read.lines:
        columns.append("note")
    rows = [columns]
    for caption, header, body in read.tables:
        for cells in body:
            row = [caption] + [""] * (len(columns) - 1)
            for name, text in zip(header, cells, strict=True):
                row[columns.index(name)] = text
            rows.append(row)
    for line in read.lines:
        rows.append(["notes"] + [""] * (len(columns) - 2) + [line])
    return rows


class Visible(HTMLParser):
    """What a reader sees of a page without opening anything: the list items and table rows
    outside any ``<details>`` (``visible``), and each ``<details>``'s attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # inside how many <details>
        self.visible = 0
        self.details: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "details":
            self.depth += 1
            self.details.append(dict(attrs))
        elif tag in ("li", "tr") and not self.depth:
            self.visible += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self.depth -= 1


def visible(page: str) -> Visible:
    """``page`` read by :class:`Visible`."""
    seen = Visible()
    seen.feed(page)
    return seen


def browser_sign_in(page: Any, url: str, who: Person, path: str, password: str = PASSWORD) -> None:
    """Sign ``who`` in through the pages in a Playwright ``page``: asking for ``path`` when
    not signed in shows the sign-in page (password, then the code), then ``path`` again."""
    page.goto(url + path)
    page.get_by_label("Username").fill(who.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code from your authenticator app").fill(who.code())
    page.keyboard.press("Enter")
    page.wait_for_url(url + path)
