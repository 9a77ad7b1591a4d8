"""The account store every service shares (``governance.accounts``), on SQLite and
PostgreSQL: roles, Argon2id passwords, TOTP (encrypted at rest, each code once), lockout,
one answer for every failed login, web sessions with a CSRF token, and an audit event for
each change that never holds a password or a code."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from fivesafes.audit.chain import verify_chain
from fivesafes.governance.accounts import Accounts, login
from fivesafes.governance.accounts import totp as totp_codes
from fivesafes.governance.accounts.secret_box import SecretBox, SecretUnreadable
from fivesafes.governance.accounts.settings import AccountSettings
from fivesafes.governance.accounts.store import AccountStore
from fivesafes.governance.errors import CsrfFailed, LoginFailed
from fivesafes.governance.roles import HUB, Role, grant, node_scope
from fivesafes.node.db import ACCOUNTS, AUDIT
from fivesafes.protocol.errors import Conflict, InvalidRequest
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade

PASSWORD = "correct horse battery staple"
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def world(state_db_url, tmp_path):
    """The node's database (the hub's holds the same account tables), an account store with
    a clock the test moves, and the one-call API a portal uses."""
    engine = make_engine(state_db_url)
    upgrade(engine, "fivesafes.node:migrations")
    sessions = make_sessionmaker(engine)
    clock = Clock()
    settings = AccountSettings(secret_key_file=tmp_path / "accounts.key")
    store = AccountStore(ACCOUNTS, AUDIT, settings, issuer="fivesafes north", clock=clock)

    def unit(work):
        with transaction(sessions) as s:
            return work(s)

    def read(work):
        with transaction(sessions, read_only=True) as s:
            return work(s)

    unit(
        lambda s: store.create(
            s,
            username="cora",
            display_name="Cora Custodian",
            grants=[grant("custodian", node_scope("north"))],
            by="tre-admin",
        )
    )
    yield store, Accounts(store, unit, read), unit, clock
    engine.dispose()


def enrolled(world):
    """cora with a password and a TOTP secret; returns the secret."""
    store, _, unit, _ = world
    unit(lambda s: store.set_password(s, "cora", PASSWORD, by="tre-admin"))
    secret, uri = unit(lambda s: store.enrol_totp(s, "cora", by="tre-admin"))
    assert uri.startswith("otpauth://totp/") and "cora" in uri and secret in uri
    return secret


def audit_events(unit):
    return unit(
        lambda s: [
            (r.event_type, r.actor, r.outcome, r.details)
            for r in s.execute(select(AUDIT.events).order_by(AUDIT.events.c.seq))
        ]
    )


def test_accounts_roles_and_accreditation(world):
    store, _, unit, _ = world
    cora = unit(lambda s: store.require(s, "cora"))
    assert cora.holds(Role.CUSTODIAN, node_scope("north"))
    assert not cora.holds(Role.CUSTODIAN, node_scope("south")) and not cora.holds(Role.CUSTODIAN)
    unit(lambda s: store.grant(s, "cora", grant("tre_admin", node_scope("north")), by="x"))
    with pytest.raises(Conflict):
        unit(lambda s: store.grant(s, "cora", grant("tre_admin", node_scope("north")), by="x"))
    after = unit(lambda s: store.revoke(s, "cora", grant("custodian", node_scope("north")), by="x"))
    assert [str(g) for g in after.grants] == ["tre_admin@node:north"]
    with pytest.raises(Conflict):
        unit(lambda s: store.create(s, username="cora", display_name="again", by="x"))
    for bad in ("Cora", "-x", "a b", "x" * 65):
        with pytest.raises(InvalidRequest):
            unit(lambda s, bad=bad: store.create(s, username=bad, display_name="d", by="x"))
    until = date(2027, 3, 31)
    assert (
        unit(lambda s: store.set_accreditation(s, "cora", until, by="x")).accredited_until == until
    )
    kinds = [e[0] for e in audit_events(unit)]
    assert kinds.count("role_granted") == 2 and "role_revoked" in kinds
    assert "accreditation_set" in kinds
    assert unit(lambda s: verify_chain(s, AUDIT)).ok


def test_login_needs_the_password_and_a_fresh_totp_code(world):
    store, accounts, _, clock = world
    secret = enrolled(world)
    code = totp_codes.code_at(secret, clock())
    assert accounts.login("cora", PASSWORD, code).username == "cora"
    with pytest.raises(LoginFailed):
        accounts.login("cora", PASSWORD, code)  # the same code again: replayed
    clock.advance(seconds=30)
    assert accounts.login("cora", PASSWORD, totp_codes.code_at(secret, clock()))
    clock.advance(seconds=30)
    previous_step = totp_codes.code_at(secret, clock() - timedelta(seconds=30))
    with pytest.raises(LoginFailed):
        accounts.login("cora", PASSWORD, previous_step)  # used a step ago: still refused


def test_two_logins_racing_with_one_code_let_only_one_in(world):
    """The slow check runs outside any transaction; the write checks the step again."""
    store, _, unit, clock = world
    secret = enrolled(world)
    code = totp_codes.code_at(secret, clock())
    snapshot = unit(lambda s: login.read_account(store, s, "cora"))
    first = login.check_attempt(store, snapshot, PASSWORD, code)
    second = login.check_attempt(store, snapshot, PASSWORD, code)
    assert first.reason == second.reason == "ok"
    outcomes = [
        unit(lambda s, c=c: login.record_attempt(store, s, "cora", snapshot, c))
        for c in (first, second)
    ]
    assert [o.reason for o in outcomes] == ["ok", "changed_meanwhile"]
    assert outcomes[1].account is None


def test_every_failed_login_gets_one_answer_and_the_audit_says_why(world):
    store, accounts, unit, clock = world
    secret = enrolled(world)
    unit(lambda s: store.create(s, username="dan", display_name="Dan", by="x"))
    unit(lambda s: store.set_password(s, "dan", PASSWORD, by="x"))  # no TOTP, but required
    attempts = [
        ("nobody", PASSWORD, "000000"),  # unknown user
        ("cora", "wrong password!!", totp_codes.code_at(secret, clock())),  # wrong password
        ("cora", PASSWORD, "000000"),  # wrong code
        ("cora", PASSWORD, None),  # no code
        ("dan", PASSWORD, None),  # no second factor enrolled, and it is required
    ]
    answers = set()
    for username, password, code in attempts:
        with pytest.raises(LoginFailed) as raised:
            accounts.login(username, password, code)
        answers.add((raised.value.status, raised.value.code, raised.value.message))
    assert len(answers) == 1 and next(iter(answers))[:2] == (401, "login_failed")
    failed = [e for e in audit_events(unit) if e[0] == "login_failed"]
    assert [e[3]["reason"] for e in failed] == [
        "unknown_user", "bad_password", "bad_code", "bad_code", "no_second_factor",
    ]  # fmt: skip
    assert failed[0][1] == "(unknown user)"  # what was typed as a username is not recorded
    text = repr(audit_events(unit))
    assert PASSWORD not in text and "wrong password" not in text and secret not in text


def test_repeated_failures_lock_the_account_for_a_while(world):
    store, accounts, unit, clock = world
    secret = enrolled(world)
    for _ in range(5):
        with pytest.raises(LoginFailed):
            accounts.login("cora", "not the password", None)
    with pytest.raises(LoginFailed):  # locked: even the right password and code fail
        accounts.login("cora", PASSWORD, totp_codes.code_at(secret, clock()))
    kinds = [e[0] for e in audit_events(unit)]
    assert kinds.count("account_locked") == 1
    assert [e[3]["reason"] for e in audit_events(unit) if e[0] == "login_failed"][-1] == "locked"
    clock.advance(minutes=15)
    assert accounts.login("cora", PASSWORD, totp_codes.code_at(secret, clock()))
    for _ in range(4):  # a success reset the count: four more failures do not lock
        with pytest.raises(LoginFailed):
            accounts.login("cora", "not the password", None)
    clock.advance(seconds=30)
    assert accounts.login("cora", PASSWORD, totp_codes.code_at(secret, clock()))


def test_a_pending_totp_waits_for_its_first_code(world):
    store, accounts, unit, clock = world
    old = enrolled(world)
    new, _ = unit(lambda s: store.enrol_totp(s, "cora", by="cora", pending=True))
    assert unit(lambda s: store.second_factor(s, "cora")) == "enrolled"
    assert not unit(lambda s: store.confirm_totp(s, "cora", "000000"))
    assert accounts.login("cora", PASSWORD, totp_codes.code_at(old, clock()))  # old still works
    clock.advance(seconds=30)
    assert unit(lambda s: store.confirm_totp(s, "cora", totp_codes.code_at(new, clock())))
    clock.advance(seconds=30)
    with pytest.raises(LoginFailed):
        accounts.login("cora", PASSWORD, totp_codes.code_at(old, clock()))
    assert accounts.login("cora", PASSWORD, totp_codes.code_at(new, clock()))


def test_web_sessions_csrf_expiry_and_logout(world):
    store, accounts, unit, clock = world
    secret = enrolled(world)
    cora = accounts.login("cora", PASSWORD, totp_codes.code_at(secret, clock()))
    session_id, csrf = accounts.create_session(cora)
    web = accounts.session_user(session_id)
    assert web is not None and web.account.username == "cora" and web.csrf == csrf
    Accounts.check_csrf(web, csrf)
    for bad in (None, "", csrf[:-1] + ("a" if csrf[-1] != "a" else "b")):
        with pytest.raises(CsrfFailed):
            Accounts.check_csrf(web, bad)
    stored = unit(lambda s: [r.id_hash for r in s.execute(select(ACCOUNTS.sessions))])
    assert session_id not in stored  # only a hash of the cookie's value is kept
    assert accounts.session_user("not-a-session") is None
    other_id, other_csrf = accounts.create_session(cora)
    assert other_id != session_id and other_csrf != csrf
    clock.advance(minutes=29)
    assert accounts.session_user(session_id) is not None  # active: the idle clock restarts
    clock.advance(minutes=31)
    assert accounts.session_user(other_id) is None  # idle for 60 minutes
    accounts.end_session(session_id)
    assert accounts.session_user(session_id) is None
    assert "session_ended" in [e[0] for e in audit_events(unit)]


def test_sessions_end_after_their_lifetime_a_new_password_and_disabling(world):
    store, accounts, unit, clock = world
    secret = enrolled(world)
    cora = accounts.login("cora", PASSWORD, totp_codes.code_at(secret, clock()))
    sessions = [accounts.create_session(cora)[0] for _ in range(3)]
    for _ in range(12 * 2):  # active every half hour, for twelve hours
        assert accounts.session_user(sessions[0]) is not None
        clock.advance(minutes=29, seconds=59)
        accounts.session_user(sessions[1])
    clock.advance(minutes=1)
    assert accounts.session_user(sessions[0]) is None  # session_hours = 12
    fresh = accounts.create_session(cora)[0]
    unit(lambda s: store.set_password(s, "cora", PASSWORD + "!", by="cora"))
    assert accounts.session_user(fresh) is None
    fresh = accounts.create_session(cora)[0]
    unit(lambda s: store.disable(s, "cora", by="tre-admin"))
    assert accounts.session_user(fresh) is None
    with pytest.raises(LoginFailed):
        accounts.login("cora", PASSWORD + "!", totp_codes.code_at(secret, clock()))


def test_totp_secrets_are_encrypted_and_bound_to_their_account(world, tmp_path):
    store, _, unit, _ = world
    secret = enrolled(world)
    unit(lambda s: store.create(s, username="eve", display_name="Eve", by="x"))
    users = ACCOUNTS.users
    rows = unit(lambda s: {r.username: r for r in s.execute(select(users))})
    sealed = rows["cora"].totp_secret
    assert secret not in sealed and sealed.startswith("v1:")
    assert store.box.open(sealed, f"totp:{rows['cora'].id}") == secret
    with pytest.raises(SecretUnreadable):  # copied to another account's row
        store.box.open(sealed, f"totp:{rows['eve'].id}")
    with pytest.raises(SecretUnreadable):  # another service's key
        SecretBox(tmp_path / "other.key").open(sealed, f"totp:{rows['cora'].id}")
    assert oct((tmp_path / "accounts.key").stat().st_mode & 0o777) == "0o600"


def test_a_hub_account_is_the_same_code_on_the_hubs_database(tmp_path):
    from fivesafes.hub.db import ACCOUNTS as HUB_ACCOUNTS
    from fivesafes.hub.db import AUDIT as HUB_AUDIT

    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade(engine, "fivesafes.hub:migrations")
    sessions = make_sessionmaker(engine)
    store = AccountStore(
        HUB_ACCOUNTS, HUB_AUDIT, AccountSettings(secret_key_file=tmp_path / "k"), issuer="hub"
    )
    with transaction(sessions) as s:
        alice = store.create(
            s, username="alice", display_name="A", grants=[grant("researcher", HUB)], by="x"
        )
    assert alice.holds(Role.RESEARCHER)
    engine.dispose()
