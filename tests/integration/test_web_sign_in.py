"""The portal's sign-in over real HTTP with a real hub process: a password, then a TOTP code;
one answer for every failure; lockout; CSRF on every POST; the session cookie's flags; signing
out. (``fivesafes.web.signin``, used by the hub's and the nodes' portals alike.)"""

from __future__ import annotations

import re

import httpx
import pytest

from fivesafes.governance.accounts.service import LOGIN_FAILED
from portal import PASSWORD, csrf_of, hidden, person, sign_in, start_portal_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from federation import Harness
    from fivesafes.demo.processes import Supervisor

    with Supervisor() as supervisor:
        harness = Harness(tmp_path_factory.mktemp("signin"), supervisor)
        start_portal_hub(harness, max_failed_logins=3)
        yield harness


def start(hub, username: str, password: str) -> tuple[httpx.Client, str, httpx.Response]:
    client = httpx.Client(base_url=hub.hub_url, timeout=30)
    form = client.get("/sign-in")
    assert form.headers["cache-control"] == "no-store"
    csrf = hidden(form.text, "csrf")
    step = client.post(
        "/sign-in",
        data={"csrf": csrf, "step": "password", "username": username, "password": password},
    )
    return client, csrf, step


def test_a_password_then_a_code_signs_in_and_signing_out_ends_the_session(hub):
    alice = person(hub, "alice")
    client, csrf, step = start(hub, "alice", PASSWORD)
    assert step.status_code == 200 and 'name="code"' in step.text
    assert PASSWORD not in step.text  # the password travels sealed
    done = client.post(
        "/sign-in",
        data={"csrf": csrf, "step": "code", "pending": hidden(step.text, "pending"),
              "code": alice.code(), "next": "/"},
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"].lower()
    assert "fivesafes_session=" in cookie and "httponly" in cookie
    assert "samesite=strict" in cookie and "secure" not in cookie  # secure_cookies = false
    home = client.get("/")
    assert "Sign out" in home.text and "alice" in home.text
    token = csrf_of(home.text)

    refused = client.post("/sign-out", data={"csrf": "not the token"})
    assert refused.status_code == 403 and "security token" in refused.text
    assert "Sign out" in client.get("/").text  # still signed in
    out = client.post("/sign-out", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert "Sign out" not in client.get("/").text


def test_every_failure_gets_one_answer_and_no_detail(hub):
    bob = person(hub, "bob")
    answers = []
    for username, password, code in (
        ("bob", "a wrong password!", bob.code()),
        ("nobody-here", PASSWORD, "123456"),
        ("bob", PASSWORD, "000000"),
        ("bob", "another wrong one", bob.code()),
    ):
        client, csrf, step = start(hub, username, password)
        assert step.status_code == 200  # the code is asked for whatever was typed
        done = client.post(
            "/sign-in",
            data={"csrf": csrf, "step": "code", "pending": hidden(step.text, "pending"),
                  "code": code},
        )  # fmt: skip
        assert done.status_code == 401 and "fivesafes_session" not in done.headers.get(
            "set-cookie", ""
        )
        answers.append(re.search(r'role="alert"[^>]*>([^<]*)<', done.text).group(1))
        assert LOGIN_FAILED in done.text and "Traceback" not in done.text
    assert len(set(answers)) == 1
    # three failures in a row lock bob's account: even the right password and code fail now
    client, csrf, step = start(hub, "bob", PASSWORD)
    done = client.post(
        "/sign-in",
        data={"csrf": csrf, "step": "code", "pending": hidden(step.text, "pending"),
              "code": bob.code()},
    )  # fmt: skip
    assert done.status_code == 401 and LOGIN_FAILED in done.text


def test_the_sign_in_form_refuses_a_post_without_its_token_or_a_stale_step(hub):
    person(hub, "carol")
    stranger = httpx.post(
        f"{hub.hub_url}/sign-in",
        data={"csrf": "x", "step": "password", "username": "carol", "password": PASSWORD},
    )
    assert stranger.status_code == 403 and "out of date" in stranger.text
    client, csrf, step = start(hub, "carol", PASSWORD)
    tampered = hidden(step.text, "pending")[:-4] + "AAAA"
    done = client.post(
        "/sign-in", data={"csrf": csrf, "step": "code", "pending": tampered, "code": "123456"}
    )
    assert done.status_code == 400 and "start again" in done.text
    empty = client.post("/sign-in", data={"csrf": csrf, "step": "password", "username": "carol"})
    assert empty.status_code == 422 and "Enter your username and your password" in empty.text


def test_signing_out_without_a_session_goes_to_the_sign_in_page(hub):
    assert httpx.get(f"{hub.hub_url}/sign-out").status_code == 405  # a POST only
    dave = person(hub, "dave")
    client = sign_in(hub.hub_url, dave)
    assert client.cookies.get("fivesafes_session")
    client.cookies.clear()
    missing = client.post("/sign-out")  # no session: nothing to end
    assert missing.status_code == 303


def test_next_never_leaves_the_service(hub):
    from fivesafes.web.signin import safe_next

    assert safe_next("/projects/p_1?x=1", "/") == "/projects/p_1?x=1"
    for bad in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", None):
        assert safe_next(bad, "/") == "/"
