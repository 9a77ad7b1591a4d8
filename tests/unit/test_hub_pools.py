"""Pools at the hub (``fivesafes.hub.pools``), on SQLite and PostgreSQL: the terms it signs and
the pool project it makes, who may read them, and what each node may report under them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from fivesafes.governance.people import Actor
from fivesafes.hub import pools
from fivesafes.hub.db import LINKAGE, Node, Project, ProjectNode
from fivesafes.hub.enrolment import enrol_node, issue_enrolment_token
from fivesafes.hub.people import create_user
from fivesafes.hub.projects import create_project
from fivesafes.protocol.errors import InvalidRequest, NotFoundOrNoPermission
from fivesafes.protocol.pool import (
    PoolEvent,
    PoolState,
    PoolTerms,
    SignedCertificate,
    terms_digest,
)
from fivesafes.protocol.signing import generate_key, public_key_text, sign, verify
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade
from fivesafes.storage.types import utcnow

URLS = {"pool-one": "http://127.0.0.1:8800"}


class World:
    def __init__(self, url: str) -> None:
        engine = make_engine(url)
        upgrade(engine, "fivesafes.hub:migrations")
        self.sessions = make_sessionmaker(engine)
        self.hub_key = generate_key()
        self.keys = {n: generate_key() for n in ("north", "lake", "pool-one", "other")}
        with transaction(self.sessions) as s:
            for name, key in self.keys.items():
                token = issue_enrolment_token(s, node_name=name, lifetime=timedelta(hours=1),
                                              by="a")  # fmt: skip
                enrol_node(s, token=token, node_name=name, public_key=public_key_text(key))
            self.actors = {
                who: create_user(s, username=who, display_name=who, role="researcher",
                                 accredited_until=date.today() + timedelta(days=30), by="a")
                for who in ("alice", "carol")
            }  # fmt: skip
            project = create_project(
                s, title="Linked", members=["alice"], nodes=["north", "lake"],
                start_date=date.today(), end_date=date.today() + timedelta(days=100),
                linkage="across_nodes", by="a",
            )  # fmt: skip
            self.project = project.id
            for link in s.scalars(select(ProjectNode).where(ProjectNode.project_id == project.id)):
                link.approval, link.approved_version = "approved", project.version
            s.execute(insert(LINKAGE.results).values(
                project_id=project.id, fingerprint="0" * 16, linked_at=utcnow(),
                records={}, pairs=[], links=0))  # fmt: skip

    def actor(self, session, username: str) -> Actor:
        return Actor(self.actors[username])

    def ask(self, who: str = "alice", **changes) -> pools.PoolView:
        ask = {
            "pool_node": "pool-one",
            "variables": {"north": ["sex"], "lake": ["hypertension"]},
            "expires_on": date.today() + timedelta(days=10),
            "purpose": "Sex and hypertension.",
        }
        ask.update(changes)  # fmt: skip
        with transaction(self.sessions) as s:
            return pools.request_pool(s, self.project, pools.PoolAsk.model_validate(ask),
                                      self.actor(s, who), key=self.hub_key, urls=URLS,
                                      now=utcnow())  # fmt: skip

    def node(self, session, name: str) -> Node:
        return session.execute(select(Node).where(Node.name == name)).scalar_one()

    def report(self, name: str, pool_id: str, event: PoolEvent):
        with transaction(self.sessions) as s:
            return pools.report(s, self.node(s, name), pool_id, event, self.hub_key, utcnow())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path):
    if request.param == "sqlite":
        yield World(f"sqlite:///{tmp_path / 'hub.db'}")
    else:
        from federation import postgres_database

        with postgres_database() as url:
            yield World(url)


def test_the_terms_are_signed_and_the_pool_project_ends_at_the_expiry(world):
    made = world.ask()
    with transaction(world.sessions) as s:
        status = pools.status(s, world.node(s, "north"), made.pool_id, world.hub_key, utcnow())
        pool_project = s.get(Project, made.pool_project_id)
        links = s.scalars(select(ProjectNode).where(ProjectNode.project_id == pool_project.id))
        assert [link.node_id for link in links] == [world.node(s, "pool-one").id]
        assert pool_project.end_date == date.today() + timedelta(days=10)
    verify(status.terms.payload, status.terms.signature, public_key_text(world.hub_key))
    terms = PoolTerms.model_validate(status.terms.payload)
    assert terms.variables == {"lake": ["hypertension"], "north": ["sex"]}
    assert terms.node_keys["north"] == public_key_text(world.keys["north"])
    assert terms.pool_public_key == public_key_text(world.keys["pool-one"])
    assert terms_digest(status.terms.payload) == made.digest and status.state is PoolState.REQUESTED


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"pool_node": "nowhere"}, "no pool of that name"),
        ({"variables": {"north": ["sex"], "lake": ["favourite_colour"]}}, "catalogue"),
        ({"variables": {"north": ["sex"], "other": ["sex"]}}, "not a node of the project"),
        ({"expires_on": date.today()}, "from tomorrow"),
        ({"expires_on": date.today() + timedelta(days=200)}, "project's end"),
    ],
)
def test_terms_that_cannot_hold_are_refused_in_words_and_nothing_is_made(world, changes, words):
    with pytest.raises(InvalidRequest, match=words):
        world.ask(**changes)
    with transaction(world.sessions) as s:
        assert pools.pools_of(s, world.project, world.actor(s, "alice"), utcnow()) == []


def test_outsiders_and_other_nodes_are_told_there_is_no_such_pool(world):
    made = world.ask()
    with pytest.raises(NotFoundOrNoPermission):
        world.ask(who="carol")
    with transaction(world.sessions) as s, pytest.raises(NotFoundOrNoPermission):
        pools.status(s, world.node(s, "other"), made.pool_id, world.hub_key, utcnow())
    with pytest.raises(NotFoundOrNoPermission):
        world.report("other", made.pool_id, PoolEvent(kind="approved", digest=made.digest))


def certificate(world, made, key=None, pool_id=None) -> SignedCertificate:
    payload = {"pool_id": pool_id or made.pool_id, "project_id": world.project,
               "pool_project_id": made.pool_project_id, "pool_node": "pool-one",
               "reason": "revoked", "revoked_by": "lake",
               "destroyed_at": datetime.now(UTC).isoformat(), "files": [], "persons": 3,
               "statement": "deleted"}  # fmt: skip
    return SignedCertificate(
        payload=payload, signature=sign(payload, key or world.keys["pool-one"])
    )


def destroyed(made, signed: SignedCertificate) -> PoolEvent:
    return PoolEvent(kind="destroyed", digest=made.digest, certificate=signed)


def test_each_node_reports_only_its_own_kinds_under_the_same_digest(world):
    made = world.ask()
    with pytest.raises(InvalidRequest, match="another digest"):
        world.report("north", made.pool_id, PoolEvent(kind="approved", digest="0" * 64))
    with pytest.raises(InvalidRequest, match="does not report"):
        world.report("north", made.pool_id, PoolEvent(kind="ready", digest=made.digest))
    with pytest.raises(InvalidRequest, match="does not report"):
        world.report("pool-one", made.pool_id, PoolEvent(kind="sent", digest=made.digest))
    world.report("north", made.pool_id, PoolEvent(kind="sent", digest=made.digest, persons=5))
    ready = world.report("pool-one", made.pool_id,
                         PoolEvent(kind="ready", digest=made.digest, persons=5))  # fmt: skip
    assert ready.state is PoolState.READY and ready.sent == ["north"]
    revoked = world.report("lake", made.pool_id, PoolEvent(kind="revoked", digest=made.digest))
    assert revoked.state is PoolState.REVOKED


def test_a_destruction_is_recorded_only_with_the_pools_own_certificate(world):
    made = world.ask()
    forged = certificate(world, made, key=world.keys["north"])
    with pytest.raises(InvalidRequest, match="not signed by the pool"):
        world.report("pool-one", made.pool_id, destroyed(made, forged))
    other = certificate(world, made, pool_id="pl_" + "1" * 12)
    with pytest.raises(InvalidRequest, match="another pool"):
        world.report("pool-one", made.pool_id, destroyed(made, other))
    done = world.report("pool-one", made.pool_id, destroyed(made, certificate(world, made)))
    assert done.state is PoolState.DESTROYED
    with pytest.raises(InvalidRequest, match="destroyed"):
        world.report("north", made.pool_id, PoolEvent(kind="sent", digest=made.digest))
    with transaction(world.sessions) as s:
        (view,) = pools.pools_of(s, world.project, world.actor(s, "alice"), utcnow())
    assert view.certificate is not None and view.certificate["signature_checked"]
    assert "persons" not in view.certificate["payload"]  # a count the gate has not judged
    assert view.certificate["payload"]["reason"] == "revoked"


def test_a_pool_past_its_expiry_reads_as_expired(world):
    made = world.ask()
    with transaction(world.sessions) as s:
        later = utcnow() + timedelta(days=11)
        status = pools.status(s, world.node(s, "north"), made.pool_id, world.hub_key, later)
    assert status.state is PoolState.EXPIRED
