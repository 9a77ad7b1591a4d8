"""The pool's own side (issue 18, part 4; ADR 0032): its receiver over real HTTP on loopback
(uvicorn in a thread), with a fake of the hub behind a fake ``PoolHost``: the challenge, the
extracts pushed by the nodes of the hub's signed terms and every refusal, the merge into the
pool's data file once every node has sent, and destruction (at expiry by the sweeper, at the
hub's word, on a node's revocation), its signed certificate and that nothing of the pool's
rows survives in the pool's files.

Unit tests: real DuckDB files made by the synthetic generator, real extracts and merge, real
HTTP; the hub is a fake (the end-to-end test with the real hub is an integration test).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from fivesafes.audit.events import AuditEventType
from fivesafes.cli.main import app as cli
from fivesafes.data.engines import open_omop
from fivesafes.data.source import DuckDBSource
from fivesafes.data.synth import generate
from fivesafes.node.config import NodeConfig
from fivesafes.pool.extract import extract
from fivesafes.pool.receiver import DIGEST_HEADER, ReceiverServer, create_receiver_app
from fivesafes.pool.service import PoolService
from fivesafes.pool.settings import PoolSettings
from fivesafes.protocol.errors import NotFoundOrNoPermission, ServiceUnavailable
from fivesafes.protocol.pool import (
    PoolEvent,
    PoolState,
    PoolStatus,
    PoolTerms,
    SignedCertificate,
    SignedPoolTerms,
    terms_digest,
)
from fivesafes.protocol.signing import (
    generate_key,
    public_key_text,
    save_private_key,
    sign,
    sign_request,
    verify,
)
from fivesafes.settings import load_config

POOL_ID = "pl_0123456789ab"
VARIABLES = {"northfield": ["smoker", "age", "sex"], "lakeside": ["lung_cancer"]}
SHARED = range(1, 121)  # persons 1..120 of each node are the same people (one link id each)


def link(label: str) -> str:
    return "lk_" + hashlib.sha256(label.encode()).hexdigest()[:16]


def links(node: str) -> dict[int, str]:
    """A node's person_id -> link id: 1..120 shared with the other node, 121..150 its own."""
    return {p: link(f"person {p}" if p in SHARED else f"{node} {p}") for p in range(1, 151)}


@pytest.fixture(scope="module")
def extracts(tmp_path_factory) -> dict[str, dict[str, bytes]]:
    """Each node's extract of its variables, and of the other node's (a wrong one), as bytes."""
    root = tmp_path_factory.mktemp("pool-sources")
    made: dict[str, dict[str, bytes]] = {}
    for seed, node in enumerate(VARIABLES, start=1):
        path = root / f"{node}.duckdb"
        generate(path, 160, seed, node)
        with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
            made[node] = {
                "own": extract(db, links(node), VARIABLES[node], lambda _: 0).to_bytes(),
                "wrong": extract(db, links(node), ["bmi"], lambda _: 0).to_bytes(),
            }
    return made


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FakeHost:
    """The pool's node, with the hub reduced to a dict of signed terms and states."""

    name: str
    key: Ed25519PrivateKey
    settings: PoolSettings
    data_path: Path
    hub_key: Ed25519PrivateKey
    pools: dict[str, list[Any]] = field(default_factory=dict)  # id -> [signed terms, state]
    events: list[tuple[str, PoolEvent]] = field(default_factory=list)
    audits: list[tuple[AuditEventType, str, dict[str, Any]]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    hub_down: bool = False

    def hub_public_key(self) -> str:
        return public_key_text(self.hub_key)

    def pool_status(self, pool_id: str) -> PoolStatus:
        if self.hub_down:
            raise ServiceUnavailable("The hub cannot be reached.")
        if pool_id not in self.pools:
            raise NotFoundOrNoPermission("pool")
        signed, state = self.pools[pool_id]
        return PoolStatus(terms=signed, state=state)

    def tell_hub(self, pool_id: str, event: PoolEvent) -> PoolStatus:
        if self.hub_down:
            raise ServiceUnavailable("The hub cannot be reached.")
        self.events.append((pool_id, event))
        new = {"ready": PoolState.READY, "destroyed": PoolState.DESTROYED}.get(event.kind)
        if new is not None:
            self.pools[pool_id][1] = new
        return self.pool_status(pool_id)

    def audit(
        self, event: AuditEventType, *, by: str, project_id: str, details: dict[str, Any]
    ) -> None:
        self.audits.append((event, by, details))

    def forget_released_sets(self, project_id: str) -> int:
        self.forgotten.append(project_id)
        return 3

    def close_project(self, project_id: str) -> None:
        self.closed.append(project_id)

    def audited(self, kind: AuditEventType) -> list[dict[str, Any]]:
        return [details for event, _, details in self.audits if event == kind]


@dataclass
class World:
    host: FakeHost
    pool: PoolService
    clock: Clock
    node_keys: dict[str, Ed25519PrivateKey]
    signed: SignedPoolTerms
    http: httpx.Client
    config: Path

    @property
    def digest(self) -> str:
        return terms_digest(self.signed.payload)

    @property
    def folders(self) -> list[Path]:
        """Every folder the pool keeps anything in."""
        settings = self.host.settings
        return [settings.store, settings.certificates, self.host.data_path.parent]

    def push(
        self,
        node: str,
        body: bytes,
        *,
        key: Ed25519PrivateKey | None = None,
        digest: str | None = None,
        stream: bool = False,
        pool_id: str = POOL_ID,
    ) -> httpx.Response:
        path = f"/pool/v1/pools/{pool_id}/extract"
        headers = sign_request(node, key or self.node_keys[node], "POST", path, body)
        headers[DIGEST_HEADER] = digest or self.digest
        headers["content-type"] = "application/octet-stream"
        if stream:  # no Content-Length: the body arrives in chunks
            chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
            return self.http.post(path, content=chunks, headers=headers)
        return self.http.post(path, content=body, headers=headers)

    def signed_call(self, method: str, path: str, node: str) -> httpx.Response:
        headers = sign_request(node, self.node_keys[node], method, path, b"")
        return self.http.request(method, path, headers=headers)

    def stored(self) -> list[Path]:
        return sorted(
            p
            for folder in self.folders
            if folder.exists()
            for p in folder.rglob("*")
            if p.is_file()
        )


def make_terms(
    hub_key: Ed25519PrivateKey,
    pool_key: Ed25519PrivateKey,
    node_keys: dict[str, Ed25519PrivateKey],
    *,
    pool_id: str = POOL_ID,
    expires_at: datetime | None = None,
) -> SignedPoolTerms:
    now = datetime.now(UTC)
    terms = PoolTerms(
        pool_id=pool_id,
        project_id="p_linked",
        pool_project_id="p_pool",
        pool_node="the-pool",
        pool_url="http://127.0.0.1:8800",
        pool_public_key=public_key_text(pool_key),
        variables=VARIABLES,
        node_keys={node: public_key_text(key) for node, key in node_keys.items()},
        purpose="Smoking and lung cancer across two hospitals.",
        requested_by="alice",
        created_at=now,
        expires_at=expires_at or now + timedelta(days=30),
    )
    payload = terms.model_dump(mode="json")
    return SignedPoolTerms(payload=payload, signature=sign(payload, hub_key))


POOL_TOML = """
[node]
name = "the-pool"
hub_url = "http://127.0.0.1:9"
key_file = "pool.key"
database_url = "sqlite:///pool.db"

[data]
engine = "duckdb"
path = "pooled/pool.duckdb"

[pool]
store = "store"
certificates = "certificates"
max_extract_bytes = 1048576
"""


@pytest.fixture
def world(tmp_path) -> World:
    config = tmp_path / "pool.toml"
    config.write_text(POOL_TOML)
    loaded = load_config(config, NodeConfig)
    pool_key, hub_key = generate_key(), generate_key()
    save_private_key(pool_key, loaded.node.key_file)
    node_keys = {node: generate_key() for node in VARIABLES}
    signed = make_terms(hub_key, pool_key, node_keys)
    host = FakeHost("the-pool", pool_key, loaded.pool, Path(loaded.data.path), hub_key)
    host.pools[POOL_ID] = [signed, PoolState.REQUESTED]
    clock = Clock()
    pool = PoolService(host, clock)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = ReceiverServer(create_receiver_app(pool), "127.0.0.1", 0, sock=sock)
    server.start()
    port = sock.getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        yield World(host, pool, clock, node_keys, signed, http, config)
    server.stop()
    sock.close()


def refused(response: httpx.Response, status: int, code: str) -> str:
    """The error's message, once the answer is the platform's error shape with this code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return str(body["error"]["message"])


def test_settings_resolve_against_the_config_folder(world):
    settings = world.host.settings
    root = world.config.parent
    assert (settings.store, settings.certificates) == (root / "store", root / "certificates")
    assert world.host.data_path == root / "pooled" / "pool.duckdb"
    assert PoolSettings().max_extract_bytes == 256 * 1024 * 1024
    assert (
        NodeConfig.model_validate(
            {
                "node": {"name": "n", "hub_url": "https://hub"},
                "data": {"engine": "duckdb", "path": "x.duckdb"},
            },
            context={"base_dir": root},
        ).pool.store
        == root / "pool-store"
    )


def test_the_challenge_is_signed_with_the_pools_key(world):
    nonce = os.urandom(16).hex()
    answer = world.http.get(f"/pool/v1/pools/{POOL_ID}/challenge", params={"nonce": nonce})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["pool_id"], found["nonce"]) == (POOL_ID, nonce)
    verify(
        {"pool_id": POOL_ID, "nonce": nonce}, found["signature"], public_key_text(world.host.key)
    )

    unknown = world.http.get("/pool/v1/pools/pl_ffffffffffff/challenge", params={"nonce": nonce})
    refused(unknown, 404, "not_found")
    bad = world.http.get(f"/pool/v1/pools/{POOL_ID}/challenge", params={"nonce": "<script>"})
    assert "<script>" not in refused(bad, 422, "invalid_request") + bad.text
    world.host.pools[POOL_ID][0] = make_terms(generate_key(), world.host.key, world.node_keys)
    forged = world.http.get(f"/pool/v1/pools/{POOL_ID}/challenge", params={"nonce": nonce})
    assert "signature" in refused(forged, 503, "unavailable")


def test_an_extract_of_a_node_of_the_terms_is_kept_and_its_receipt_verifies(world, extracts):
    body = extracts["northfield"]["own"]
    answer = world.push("northfield", body)
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    verify(receipt["payload"], receipt["signature"], public_key_text(world.host.key))
    payload = receipt["payload"]
    assert payload["pool_id"] == POOL_ID and payload["node"] == "northfield"
    assert payload["digest"] == hashlib.sha256(body).hexdigest()
    assert payload["persons"] == 150
    kept = world.host.settings.store / POOL_ID / "northfield.extract"
    assert kept.read_bytes() == body
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert world.host.audited(AuditEventType.POOL_EXTRACT_RECEIVED) == [
        {"pool_id": POOL_ID, "node": "northfield", "persons": 150, "digest": payload["digest"]}
    ]
    assert not world.host.data_path.exists()  # lakeside has not sent: nothing merged

    again = world.push("northfield", body)  # a node may send again before the merge
    assert again.status_code == 200
    status = world.signed_call("GET", f"/pool/v1/pools/{POOL_ID}", "lakeside")
    assert status.status_code == 200, status.text
    assert (status.json()["state"], status.json()["sent"]) == ("requested", ["northfield"])


REFUSALS = {
    "an unknown node": (404, "not_found"),
    "a bad signature": (401, "bad_signature"),
    "a wrong terms digest": (409, "conflict"),
    "a declared body over the limit": (413, "payload_too_large"),
    "a streamed body over the limit": (413, "payload_too_large"),
    "malformed bytes": (422, "invalid_request"),
    "variables other than the terms'": (422, "invalid_request"),
    "a pool whose time has passed": (409, "conflict"),
    "a revoked pool": (409, "conflict"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_an_extract_is_refused_in_words_and_nothing_is_kept(world, extracts, case):
    body = extracts["northfield"]["own"]
    too_big = body + b"\0" * (world.host.settings.max_extract_bytes + 1 - len(body))
    if case == "an unknown node":
        world.node_keys["westgate"] = generate_key()
        answer = world.push("westgate", body)
    elif case == "a bad signature":
        answer = world.push("northfield", body, key=world.node_keys["lakeside"])
    elif case == "a wrong terms digest":
        answer = world.push("northfield", body, digest="0" * 64)
    elif case == "a declared body over the limit":
        answer = world.push("northfield", too_big)
    elif case == "a streamed body over the limit":
        answer = world.push("northfield", too_big, stream=True)
    elif case == "malformed bytes":
        answer = world.push("northfield", b"FIVESAFES-POOL-EXTRACT-1\n" + b"lk_0123456789abcdef")
    elif case == "variables other than the terms'":
        answer = world.push("northfield", extracts["northfield"]["wrong"])
    elif case == "a pool whose time has passed":
        world.clock.now += timedelta(days=31)
        answer = world.push("northfield", body)
    else:
        world.host.pools[POOL_ID][1] = PoolState.REVOKED
        answer = world.push("northfield", body)
    message = refused(answer, *REFUSALS[case])
    assert "lk_" not in answer.text and "westgate" not in message
    assert world.stored() == []
    assert world.host.audits == [] and world.host.events == []


def pooled_rows(path: Path) -> dict[str, int]:
    with open_omop(DuckDBSource(engine="duckdb", path=path)) as db:
        return {name: int(db.table(name).count().execute()) for name in db.stored_tables()}


def test_once_every_node_has_sent_the_data_file_holds_the_pooled_persons(world, extracts):
    for node in ("lakeside", "northfield"):
        assert world.push(node, extracts[node]["own"]).status_code == 200
    data = world.host.data_path
    assert stat.S_IMODE(data.stat().st_mode) == 0o600
    rows = pooled_rows(data)
    assert rows["person"] == len(SHARED)  # the persons linked at every node
    assert {"observation", "condition_occurrence"} <= set(rows)  # smoker, and lung_cancer
    assert sorted(p.name for p in (world.host.settings.store / POOL_ID).iterdir()) == ["pool.json"]
    [merged] = world.host.audited(AuditEventType.POOL_MERGED)
    assert merged["persons"] == len(SHARED)
    assert merged["persons_per_node"] == {"lakeside": 150, "northfield": 150}
    assert merged["sources"] == {
        **{name: ["northfield"] for name in VARIABLES["northfield"]},
        "lung_cancer": ["lakeside"],
    }
    [(pool_id, ready)] = world.host.events
    assert (pool_id, ready.kind, ready.digest, ready.persons) == (
        POOL_ID,
        "ready",
        world.digest,
        len(SHARED),
    )
    late = world.push("northfield", extracts["northfield"]["own"])
    refused(late, 409, "conflict")
    status = world.signed_call("GET", f"/pool/v1/pools/{POOL_ID}", "northfield").json()
    assert (status["state"], status["sent"]) == ("ready", ["lakeside", "northfield"])


def every_byte(world: World) -> bytes:
    return b"".join(path.read_bytes() for path in world.stored())


def link_ids() -> set[bytes]:
    return {
        i.encode()
        for i in itertools.chain(links("northfield").values(), links("lakeside").values())
    }


def certificate_of(world: World) -> SignedCertificate:
    path = world.host.settings.certificates / f"{POOL_ID}.json"
    signed = SignedCertificate.model_validate_json(path.read_text())
    verify(signed.payload, signed.signature, public_key_text(world.host.key))
    return signed


def test_at_expiry_the_sweeper_destroys_every_file_and_signs_a_certificate(world, extracts):
    assert world.push("northfield", extracts["northfield"]["own"]).status_code == 200
    assert any(i in every_byte(world) for i in link_ids())  # the extract holds link ids
    kept = world.host.settings.store / POOL_ID / "northfield.extract"
    sha = hashlib.sha256(kept.read_bytes()).hexdigest()

    world.pool.sweeper.step()  # not yet expired: nothing happens
    assert kept.exists() and world.host.audited(AuditEventType.POOL_DESTROYED) == []
    world.clock.now += timedelta(days=31)
    world.pool.sweeper.step()

    assert not (world.host.settings.store / POOL_ID).exists()
    signed = certificate_of(world)
    payload = signed.payload
    assert (payload["reason"], payload["pool_id"], payload["revoked_by"]) == (
        "expired",
        POOL_ID,
        None,
    )
    assert {
        "name": f"{POOL_ID}/northfield.extract",
        "bytes": len(extracts["northfield"]["own"]),
        "sha256": sha,
    } in payload["files"]
    assert payload["statement"]
    assert world.host.forgotten == ["p_pool"] and world.host.closed == ["p_pool"]
    [destroyed] = world.host.audited(AuditEventType.POOL_DESTROYED)
    assert (
        destroyed["certificate"]
        == hashlib.sha256(
            json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
    )
    [(_, event)] = world.host.events
    assert (event.kind, event.digest, event.certificate) == ("destroyed", world.digest, signed)
    left = every_byte(world)
    assert not [i for i in link_ids() if i in left]  # no link id in any byte the pool keeps
    refused(world.push("northfield", extracts["northfield"]["own"]), 409, "conflict")


def test_a_node_revoking_the_pool_destroys_its_data(world, extracts):
    for node in VARIABLES:
        assert world.push(node, extracts[node]["own"]).status_code == 200
    data = world.host.data_path
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    answer = world.signed_call("POST", f"/pool/v1/pools/{POOL_ID}/revoke", "lakeside")
    assert answer.status_code == 200, answer.text
    signed = certificate_of(world)
    assert answer.json() == signed.model_dump(mode="json")
    payload = signed.payload
    assert (payload["reason"], payload["revoked_by"], payload["persons"]) == (
        "revoked",
        "lakeside",
        len(SHARED),
    )
    assert [f["sha256"] for f in payload["files"] if f["name"] == data.name] == [sha]
    assert not data.exists() and list(data.parent.iterdir()) == []
    assert not (world.host.settings.store / POOL_ID).exists()
    assert not [i for i in link_ids() if i in every_byte(world)]
    status = world.signed_call("GET", f"/pool/v1/pools/{POOL_ID}", "northfield").json()
    assert status["state"] == "destroyed"


def test_destroying_twice_does_nothing_the_second_time(world, extracts):
    assert world.push("northfield", extracts["northfield"]["own"]).status_code == 200
    world.host.pools[POOL_ID][1] = PoolState.REVOKED  # the hub's word, seen by the sweeper
    world.pool.sweeper.step()
    first = certificate_of(world)
    assert first.payload["reason"] == "revoked"
    again = world.pool.destruction.destroy(POOL_ID, "expired")
    world.pool.sweeper.step()
    second = world.signed_call("POST", f"/pool/v1/pools/{POOL_ID}/revoke", "northfield")
    assert again == first == SignedCertificate.model_validate(second.json())
    assert len(world.host.audited(AuditEventType.POOL_DESTROYED)) == 1
    assert [e.kind for _, e in world.host.events] == ["destroyed"]
    assert world.host.forgotten == ["p_pool"] and world.host.closed == ["p_pool"]


def test_the_hub_is_told_of_the_destruction_once_it_can_be_reached(world, extracts):
    assert world.push("northfield", extracts["northfield"]["own"]).status_code == 200
    world.host.hub_down = True
    world.clock.now += timedelta(days=31)
    world.pool.sweeper.step()  # destroys by its own clock, with the hub out of reach
    assert certificate_of(world) and world.host.events == []
    world.host.hub_down = False
    world.pool.sweeper.step()
    world.pool.sweeper.step()
    assert [e.kind for _, e in world.host.events] == ["destroyed"]


def test_a_node_revokes_with_the_hub_out_of_reach_under_the_terms_the_pool_kept(world, extracts):
    assert world.push("northfield", extracts["northfield"]["own"]).status_code == 200
    world.host.hub_down = True
    refused(world.push("lakeside", extracts["lakeside"]["own"]), 503, "unavailable")
    answer = world.signed_call("POST", f"/pool/v1/pools/{POOL_ID}/revoke", "lakeside")
    assert answer.status_code == 200, answer.text
    assert certificate_of(world).payload["revoked_by"] == "lakeside"
    assert not (world.host.settings.store / POOL_ID).exists()


def test_the_operator_reads_the_certificate_and_its_verdict(world, extracts):
    runner = CliRunner()
    shown = runner.invoke(cli, ["pool", "status", "-c", str(world.config), "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout) == []
    assert world.push("northfield", extracts["northfield"]["own"]).status_code == 200
    shown = runner.invoke(cli, ["pool", "status", "-c", str(world.config), "--json"])
    [row] = json.loads(shown.stdout)
    assert (row["state"], row["received"]) == ("receiving", {"northfield": 150})
    world.signed_call("POST", f"/pool/v1/pools/{POOL_ID}/revoke", "northfield")
    said = runner.invoke(cli, ["pool", "certificate", "--pool", POOL_ID, "-c", str(world.config)])
    assert said.exit_code == 0, said.output
    assert "signature verifies" in said.stdout and '"reason": "revoked"' in said.stdout
    path = world.host.settings.certificates / f"{POOL_ID}.json"
    forged = json.loads(path.read_text())
    forged["payload"]["reason"] = "expired"
    path.write_text(json.dumps(forged))
    said = runner.invoke(cli, ["pool", "certificate", "--pool", POOL_ID, "-c", str(world.config)])
    assert said.exit_code == 1 and "does NOT verify" in said.output


def test_one_pool_at_a_time(world, extracts):
    other = "pl_ba9876543210"
    world.host.pools[other] = [
        make_terms(world.host.hub_key, world.host.key, world.node_keys, pool_id=other),
        PoolState.REQUESTED,
    ]
    assert world.push("northfield", extracts["northfield"]["own"]).status_code == 200
    signed = world.host.pools[other][0]
    answer = world.push(
        "northfield",
        extracts["northfield"]["own"],
        pool_id=other,
        digest=terms_digest(signed.payload),
    )
    assert "another pool" in refused(answer, 409, "conflict")


def test_the_node_host_audits_and_forgets_the_pool_projects_sets_without_a_trace(world):
    """The concrete host on a real node state database (SQLite): the audit chain holds the
    pool's event, and the pool project's released person sets leave no byte behind."""
    from pyroaring import BitMap
    from sqlalchemy import select

    from fivesafes.audit.chain import verify_chain
    from fivesafes.node.db import AUDIT
    from fivesafes.node.pool_host import NodePoolHost
    from fivesafes.node.service import NodeService

    service = NodeService(load_config(world.config, NodeConfig))
    service.start()
    host = NodePoolHost(service)
    try:
        assert (host.name, host.data_path) == ("the-pool", world.host.data_path)
        assert public_key_text(host.key) == public_key_text(world.host.key)
        marker = "POOLED-ANSWER-" + os.urandom(8).hex()
        sets = service.person_sets()
        sets.record("p_pool", "k1", "r1", BitMap(range(1, 90)), {"marker": marker})
        sets.record("p_pool", "k2", "r2", BitMap(range(5, 60)), {"marker": marker})
        sets.record("p_other", "k1", "r3", BitMap(range(1, 90)), {"kept": True})
        host.audit(
            AuditEventType.POOL_MERGED,
            by="the-pool",
            project_id="p_pool",
            details={"pool_id": POOL_ID, "persons": 89},
        )

        assert host.forget_released_sets("p_pool") == 2
        assert [s.run_id for s in sets.released_sets("p_other")] == ["r3"]
        assert service.person_sets().released_sets("p_pool") == []
        events = service.read(lambda s: s.execute(select(AUDIT.events)).mappings().all())
        assert events[-1]["event_type"] == "pool_merged"
        assert service.read(lambda s: verify_chain(s, AUDIT)).ok
        database = world.config.parent / "pool.db"  # read while the service runs (its WAL too)
        files = [database, *database.parent.glob("pool.db-*")]
        assert not [f for f in files if marker.encode() in f.read_bytes()]
    finally:
        host.close()
        service.stop()
