"""The hub's linkage worker (``hub.linkage``: uploads kept as Parquet, matched in DuckDB in the
background, ``linkage.match_sql.match_records_sql``), against the in-memory rule it must equal
(``linkage.match.match_records``) and through its states in a real hub database:

* the pairs the worker links from files are the in-memory rule's, on synthetic hospitals with
  a planted overlap, by tokens and by encodings alike;
* the candidate pairs of encodings anonlink's native Dice finds are exactly those of the numpy
  product (``encodings.dice_matrix``), coefficients equal to the last bit, a pair exactly at the
  threshold kept;
* a person found at three nodes by tokens and encodings is one link id;
* the last upload leaves the project ``linking`` and returns at once; the mapping is refused
  in words (``linkage_running``) until the worker has run; then each node gets its own link
  ids, the files of tokens and encodings are gone, and the run is audited;
* a run whose uploads changed while it matched (a node began another run) records nothing;
* a run that fails links nothing, drops the uploads and says so to the members;
* a token of a kind the linkage unit does not know is refused, not dropped.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from fivesafes.audit.events import AuditEventType
from fivesafes.hub import linkage
from fivesafes.hub.db import AUDIT, Node, Project, ProjectNode
from fivesafes.hub.enrolment import enrol_node, issue_enrolment_token
from fivesafes.hub.people import create_user
from fivesafes.hub.projects import create_project
from fivesafes.linkage.encodings import THRESHOLD, _candidates, clk, dice_matrix
from fivesafes.linkage.identifiers import Identity
from fivesafes.linkage.match import Matched, match_records
from fivesafes.linkage.match_sql import Spill, connect, match_records_sql, parquet
from fivesafes.linkage.tokens import fingerprint, project_key, tokens
from fivesafes.protocol.errors import Conflict, InvalidRequest
from fivesafes.protocol.linkage import TokenChunk, TokenRecord
from fivesafes.sdc.profiles import Profile
from fivesafes.storage.engine import make_engine, make_sessionmaker, transaction
from fivesafes.storage.migrate import upgrade
from fivesafes.storage.types import utcnow

KEY = project_key(bytes(range(32)), "p_worker")
PROFILE = Profile(name="t", threshold=10, rounding_base=5, zeros_are_disclosive=False)


def chunks(people: dict[str, Identity], *, run: str, size: int = 400) -> list[TokenChunk]:
    """A node's upload of ``people`` (ref -> identity) in chunks, as a node sends it."""
    records = [
        TokenRecord(ref=ref, tokens=tokens(person, KEY), encoding=_text(clk(person, KEY)))
        for ref, person in people.items()
    ]
    return [
        TokenChunk(
            run=run,
            fingerprint=fingerprint(KEY),
            records=records[i : i + size],
            final=i + size >= len(records),
        )
        for i in range(0, len(records), size)
    ]


def _text(encoding: bytes) -> str:
    import base64

    return base64.b64encode(encoding).decode()


def refs(people: dict[int, Identity]) -> dict[str, Identity]:
    return {f"{person:016x}": identity for person, identity in people.items()}


@pytest.fixture(scope="module")
def hospitals():
    from test_linkage_encodings_match import TODAY
    from test_linkage_synth_tokens import cdm

    from fivesafes.linkage.identifiers import identity
    from fivesafes.linkage.synth import synthesise

    records = synthesise({"northfield": cdm(1, 1500, 1), "lakeside": cdm(2, 1500, 100_001)},
                         overlap=0.3, seed=11)  # fmt: skip
    fields = ("nhs_number", "given_name", "family_name", "date_of_birth", "sex", "postcode")

    def person(r) -> Identity:
        return identity({"person_id": str(r.person_id)} | {f: getattr(r, f) for f in fields}, TODAY)

    return {
        site: refs({r.person_id: person(r) for r in records if r.site == site})
        for site in ("northfield", "lakeside")
    }


def test_the_worker_links_from_files_exactly_the_pairs_the_rule_links_in_memory(
    hospitals, tmp_path
):
    folders = {}
    for site, people in hospitals.items():
        folders[site] = tmp_path / site
        for n, chunk in enumerate(chunks(people, run="0" * 16)):
            linkage._append(folders[site], chunk, first=400 * n)
        assert len(list(folders[site].glob("*.parquet"))) == 4  # 1,500 in chunks of 400
    memory = {
        site: ({r: tokens(p, KEY) for r, p in people.items()},
               {r: clk(p, KEY) for r, p in people.items()})
        for site, people in hospitals.items()
    }  # fmt: skip
    (lt, le), (rt, re) = memory["lakeside"], memory["northfield"]
    in_memory = Matched()
    by_tokens, by_encodings = match_records(lt, rt, le, re, done=in_memory)
    con = connect(Spill(tmp_path / "spill", memory_limit="200MB"))
    try:
        left, right = (parquet(folders[s] / "*.parquet") for s in ("lakeside", "northfield"))
        in_sql = Matched()
        sql_tokens, sql_encodings = match_records_sql(con, left, right, done=in_sql)
    finally:
        con.close()
    assert set(sql_tokens) == set(by_tokens) and len(sql_tokens) == len(by_tokens)
    assert set(sql_encodings) == set(by_encodings)
    assert in_sql.threshold == in_memory.threshold and in_sql.threshold is not None
    assert len(by_tokens) > 300 and by_encodings  # the truth has 450 shared persons

    links, pairs = linkage._clusters(folders, Spill(tmp_path / "spill"))
    joined = {(a, b) for a, b in by_tokens + by_encodings}
    assert {(a, b) for a in hospitals["lakeside"] for b in hospitals["northfield"]
            if links.get(("lakeside", a)) is not None
            and links.get(("lakeside", a)) == links.get(("northfield", b))} == joined  # fmt: skip
    chosen = in_memory.threshold.value
    assert pairs == [["lakeside", "northfield", len(joined), len(by_encodings), chosen]]


def test_anonlink_finds_the_candidates_the_numpy_product_finds():
    rng = np.random.default_rng(5)
    left = rng.integers(0, 256, size=(300, 128), dtype=np.uint8)
    near = np.unpackbits(left, axis=1) ^ (rng.random((300, 1024)) < 0.15)
    right = np.concatenate([np.packbits(near, axis=1), left[:5], left[:5]])  # ties: 1.0 twice
    for threshold in (0.6, 0.72, 0.9):
        rows, cols, scores = _candidates(left, right, threshold)
        dice = dice_matrix(left, right).astype(np.float64)
        i, j = np.nonzero(dice >= threshold - 1e-4)
        lb, rb = np.unpackbits(left, axis=1).sum(1), np.unpackbits(right, axis=1).sum(1)
        common = np.unpackbits(left[i], axis=1) & np.unpackbits(right[j], axis=1)
        exact = 2 * common.sum(1) / (lb[i] + rb[j])
        keep = exact >= threshold
        expected = set(zip(i[keep].tolist(), j[keep].tolist(), exact[keep].tolist(), strict=True))
        assert set(zip(rows.tolist(), cols.tolist(), scores.tolist(), strict=True)) == expected
        assert len(rows) == len(expected) > 0
    a = np.packbits(np.array([[1, 1, 1, 1] + [0] * 1020], dtype=np.uint8), axis=1)
    b = np.packbits(np.array([[1, 1, 1, 0, 1] + [0] * 1019], dtype=np.uint8), axis=1)
    assert _candidates(a, b, 0.75)[2].tolist() == [0.75]  # 2 * 3 / (4 + 4): at the threshold


def test_a_person_at_three_nodes_is_one_link_id_and_counted_by_how_they_were_linked(tmp_path):
    ann = Identity(1, "9434765919", "ANN", "LEE", date(1950, 1, 2), "F", "LS1 4AP")
    typo = Identity(2, None, "ANN", "LEA", date(1950, 1, 2), "F", "LS1 4AP")  # no NHS number
    bob = Identity(3, "9990000018", "BOB", "KHAN", date(1961, 6, 7), "M", "B33 8TH")
    ref = {"n1": "a1", "n2": "a2", "l1": "b1", "w1": "c1"}
    nodes = {"north": {"n1": ann, "n2": bob}, "lake": {"l1": typo}, "west": {"w1": ann}}
    folders = {}
    for name, people in nodes.items():
        folders[name] = tmp_path / name
        upload = {ref[r].rjust(16, "0"): p for r, p in people.items()}
        for chunk in chunks(upload, run="1" * 16):
            linkage._append(folders[name], chunk, first=0)
    links, counted = linkage._clusters(folders, Spill(tmp_path / "spill"))

    def of(node: str, short: str) -> str | None:
        return links.get((node, ref[short].rjust(16, "0")))

    # ann at north and west by tokens, at lake by her encoding: one person, one link id
    assert of("north", "n1") == of("lake", "l1") == of("west", "w1") is not None
    assert of("north", "n2") is None
    # three records prove no other threshold than THRESHOLD (linkage.calibrate)
    assert counted == [["lake", "north", 1, 1, THRESHOLD], ["lake", "west", 1, 1, THRESHOLD],
                       ["north", "west", 1, 0, THRESHOLD]]  # fmt: skip


class Hub:
    """A hub database with two approved nodes of a project asking for linkage."""

    def __init__(self, url: str, root: Path) -> None:
        engine = make_engine(url)
        upgrade(engine, "fivesafes.hub:migrations")
        self.sessions = make_sessionmaker(engine)
        self.root = root
        with transaction(self.sessions) as s:
            for name in ("north", "lake"):
                token = issue_enrolment_token(s, node_name=name, lifetime=timedelta(hours=1),
                                              by="a")  # fmt: skip
                enrol_node(s, token=token, node_name=name, public_key=_public())
            create_user(s, username="alice", display_name="alice", role="researcher",
                        accredited_until=date.today() + timedelta(days=30), by="a")  # fmt: skip
            project = create_project(
                s, title="Linked", members=["alice"], nodes=["north", "lake"],
                start_date=date.today(), end_date=date.today() + timedelta(days=100),
                linkage="across_nodes", by="a",
            )  # fmt: skip
            self.project = project.id
            for link in s.scalars(select(ProjectNode).where(ProjectNode.project_id == project.id)):
                link.approval, link.approved_version = "approved", project.version

    def unit(self, work):
        with transaction(self.sessions) as s:
            return work(s)

    def node(self, session, name: str) -> Node:
        return session.execute(select(Node).where(Node.name == name)).scalar_one()

    def send(self, name: str, upload: list[TokenChunk]):
        state = None
        for chunk in upload:
            state = self.unit(
                lambda s, c=chunk: linkage.receive(
                    s, self.root, self.node(s, name), self.project, c, utcnow()
                )
            )
        return state

    def mapping(self, name: str):
        return self.unit(lambda s: linkage.mapping(s, self.root, self.node(s, name),
                                                   self.project, utcnow()))  # fmt: skip

    def view(self) -> dict:
        return self.unit(lambda s: linkage.gated_view(s, s.get(Project, self.project), PROFILE))

    def run(self, read=None) -> list[str]:
        spill = Spill(self.root / ".spill", memory_limit="200MB")
        return linkage.run_pending(self.unit, read or self.unit, self.root, spill, utcnow)

    def events(self) -> list[str]:
        table = AUDIT.events
        return self.unit(lambda s: list(s.scalars(select(table.c.event_type))))


def _public() -> str:
    from fivesafes.protocol.signing import generate_key, public_key_text

    return public_key_text(generate_key())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub(request, tmp_path):
    if request.param == "sqlite":
        yield Hub(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path / "store")
    else:
        from federation import postgres_database

        with postgres_database() as url:
            yield Hub(url, tmp_path / "store")


def two_uploads(hospitals) -> dict[str, list[TokenChunk]]:
    return {
        "north": chunks(hospitals["northfield"], run=secrets.token_hex(8)),
        "lake": chunks(hospitals["lakeside"], run=secrets.token_hex(8)),
    }


def test_the_last_upload_returns_at_once_and_the_worker_links_in_the_background(hub, hospitals):
    uploads = two_uploads(hospitals)
    assert hub.send("north", uploads["north"]).state == "complete"
    last = hub.send("lake", uploads["lake"])
    assert last.state == "linking"
    assert hub.view()["state"] == "linking"
    with pytest.raises(linkage.LinkageRunning, match="still linking"):
        hub.mapping("north")
    assert linkage.LinkageRunning("x").status == 409
    kept = sorted(p.name for p in (hub.root / hub.project).rglob("*.parquet"))
    assert len(kept) == 8 and all(
        oct(p.stat().st_mode)[-3:] == "600" for p in (hub.root / hub.project).rglob("*.parquet")
    )

    assert hub.run() == [hub.project]
    assert hub.run() == []  # nothing waits any more
    north, lake = hub.mapping("north"), hub.mapping("lake")
    assert {x.ref for x in north.links} <= set(hospitals["northfield"])
    assert {x.link_id for x in north.links} == {x.link_id for x in lake.links}
    assert len(north.links) > 300
    assert not list((hub.root / hub.project).rglob("*.parquet"))  # tokens and encodings gone
    view = hub.view()
    assert view["state"] == "linked" and view["pairs"][0]["nodes"] == ("lake", "north")
    assert 0.6 <= view["pairs"][0]["encodings_threshold"] <= 0.9  # the run's own
    assert AuditEventType.LINKAGE_RUN_COMPLETED.value in hub.events()


def test_a_run_whose_uploads_changed_while_it_matched_records_nothing(hub, hospitals):
    uploads = two_uploads(hospitals)
    hub.send("north", uploads["north"])
    hub.send("lake", uploads["lake"])
    again = chunks(hospitals["northfield"], run=secrets.token_hex(8))

    def read_then_north_starts_again(work):
        found = hub.unit(work)
        if isinstance(found, dict):  # the runs the worker is about to match
            hub.send("north", again[:1])
        return found

    assert hub.run(read=read_then_north_starts_again) == [hub.project]
    assert hub.view()["state"] == "waiting"  # nothing linked; north's new upload receiving
    with pytest.raises(Conflict, match="not linked yet"):
        hub.mapping("lake")
    assert len(list((hub.root / hub.project / "north.upload").glob("*.parquet"))) == 1
    assert AuditEventType.LINKAGE_RUN_COMPLETED.value not in hub.events()


def test_a_run_that_fails_links_nothing_and_says_so(hub, hospitals):
    uploads = two_uploads(hospitals)
    hub.send("north", uploads["north"])
    hub.send("lake", uploads["lake"])
    broken = sorted((hub.root / hub.project / "lake.upload").glob("*.parquet"))[0]
    broken.write_bytes(b"not parquet")
    assert hub.run() == [hub.project]
    view = hub.view()
    assert view["state"] == "failed" and "Send again" in view["note"]
    assert not (hub.root / hub.project).exists() or not list(
        (hub.root / hub.project).rglob("*.parquet")
    )
    with pytest.raises(Conflict, match="failed"):
        hub.mapping("north")
    assert AuditEventType.LINKAGE_RUN_FAILED.value in hub.events()
    # the nodes send again, and it links
    again = two_uploads(hospitals)
    hub.send("north", again["north"])
    assert hub.send("lake", again["lake"]).state == "linking"
    hub.run()
    assert hub.view()["state"] == "linked"


def test_a_chunk_sent_again_after_its_request_failed_replaces_its_file(hub, hospitals):
    north = chunks(hospitals["northfield"], run="3" * 16)
    hub.send("north", north[:1])
    folder = hub.root / hub.project / "north.upload"
    # the next chunk's file was written, but its request failed before the database kept it
    linkage._append(folder, north[1], first=len(north[0].records))
    hub.send("north", north[1:])  # the node sends it again, then the rest
    assert len(list(folder.glob("*.parquet"))) == len(north)
    assert not list(folder.glob("*.writing"))
    lake = chunks(hospitals["lakeside"], run="4" * 16)
    assert hub.send("lake", lake).state == "linking"
    hub.run()
    view = hub.view()
    assert view["state"] == "linked" and view["uploads"]
    assert {u["records"] for u in view["uploads"]} == {1500}


def test_a_token_of_a_kind_the_linkage_unit_does_not_know_is_refused(hub, hospitals):
    (chunk, *_) = chunks(hospitals["northfield"], run="2" * 16)
    odd = chunk.records[0].model_copy(update={"tokens": {"favourite_colour": "a" * 64}})
    with pytest.raises(InvalidRequest, match="kind"):
        hub.send("north", [chunk.model_copy(update={"records": [odd]})])
    assert not (hub.root / hub.project / "north.upload").exists()
