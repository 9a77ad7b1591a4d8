"""Indexing through DICOMweb (fivesafes.imaging.dicomweb, dicom_json, dicomweb_index), against
an in-memory DICOMweb service (httpx.MockTransport) that serves the synthetic archive as
pydicom turns it into DICOM JSON: what is asked (paging, includefield, one metadata request a
series), what a re-run reads (only new and changed series), a crash mid-run, the bounds, and
every failure told in words. The real Orthanc is tests/integration/test_imaging_orthanc.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pydicom
import pytest

from fivesafes.imaging import dicom_json as dj
from fivesafes.imaging.dicomweb import (
    Credentials,
    DicomwebClient,
    DicomwebError,
    Limits,
    base_url,
)
from fivesafes.imaging.dicomweb_index import index_dicomweb
from fivesafes.imaging.headers import DICOM_JSON, HeaderStore, dataset_of
from fivesafes.imaging.index import IndexOptions
from fivesafes.imaging.reading import TAGS, Header, Reason, Unreadable
from fivesafes.imaging.rules import load_rules
from fivesafes.protocol.errors import ConfigError
from imaging_data import TODAY, SynthNode, pseudonymiser, synth_node

URL = "http://pacs.test/dicom-web"


class Service:
    """A DICOMweb service holding DICOM JSON instances, counting what it is asked."""

    def __init__(
        self, instances: list[dict[str, Any]], page_cap: int | None = None, warn: bool = True
    ) -> None:
        self.studies: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        for obj in instances:
            self.add(obj)
        self.asked: list[httpx.Request] = []
        self.page_cap = page_cap  # the most results it gives a page
        self.warn = warn  # whether it says so (Warning: 299), as PS3.18 asks
        self.fail_after: int | None = None  # metadata requests answered before it is gone

    def add(self, obj: dict[str, Any]) -> None:
        study = dj.uid(obj, dj.STUDY_INSTANCE_UID)
        series = dj.uid(obj, dj.SERIES_INSTANCE_UID)
        sop = dj.uid(obj, dj.SOP_INSTANCE_UID)
        self.studies.setdefault(study, {}).setdefault(series, {})[sop] = obj

    def paths(self, kind: str) -> list[str]:
        return [r.url.path for r in self.asked if r.url.path.endswith(kind)]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        parts = request.url.path.removeprefix("/dicom-web/").split("/")
        if parts[-1] == "metadata":
            if self.fail_after is not None:
                if self.fail_after == 0:
                    raise httpx.ConnectError("gone")
                self.fail_after -= 1
            return self.answer(list(self.studies[parts[1]][parts[3]].values()))
        if parts == ["studies"]:
            found = [
                {
                    dj.STUDY_INSTANCE_UID: {"vr": "UI", "Value": [s]},
                    dj.NUMBER_OF_STUDY_INSTANCES: {"vr": "IS", "Value": [_count(series)]},
                }
                for s, series in sorted(self.studies.items())
            ]
        elif len(parts) == 3 and parts[2] == "series":
            found = [
                {
                    dj.SERIES_INSTANCE_UID: {"vr": "UI", "Value": [r]},
                    dj.NUMBER_OF_SERIES_INSTANCES: {"vr": "IS", "Value": [len(objs)]},
                }
                for r, objs in sorted(self.studies.get(parts[1], {}).items())
            ]
        elif len(parts) == 5 and parts[4] == "instances":
            wanted = set(request.url.params.get_list("includefield"))
            keep = wanted | {dj.SOP_INSTANCE_UID, dj.STUDY_INSTANCE_UID, dj.SERIES_INSTANCE_UID}
            found = [
                {k: v for k, v in obj.items() if k in keep}
                for _, obj in sorted(self.studies[parts[1]][parts[3]].items())
            ]
        else:
            return httpx.Response(404)
        limit = int(request.url.params.get("limit", 10**9))
        offset = int(request.url.params.get("offset", 0))
        cut = self.page_cap is not None and limit > self.page_cap
        limit = min(limit, self.page_cap or limit)
        page = found[offset : offset + limit]
        more = cut and self.warn and offset + limit < len(found)
        return self.answer(page, {"Warning": '299 pacs "results cut short"'} if more else {})

    def answer(self, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.Response(
            200,
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/dicom+json", **(headers or {})},
        )


def _count(series: dict[str, dict[str, Any]]) -> int:
    return sum(len(objs) for objs in series.values())


def as_json(path: Path) -> dict[str, Any]:
    """An instance as a DICOMweb service gives it: pixel data as a bulk data URI."""
    return pydicom.dcmread(path, force=True).to_json_dict(
        bulk_data_threshold=64, bulk_data_element_handler=lambda e: f"{URL}/bulk/{e.tag:08X}"
    )


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> SynthNode:
    return synth_node(tmp_path_factory.mktemp("dicomweb"), persons=80, persons_limit=45)


@pytest.fixture(scope="module")
def instances(node) -> list[dict[str, Any]]:
    return [as_json(p) for p in sorted(node.archive.rglob("*")) if p.is_file()]


def index(node: SynthNode, service: Service, database: Path, headers: Path, **limits):
    client = DicomwebClient(URL, transport=service.transport(), limits=Limits(**limits))
    return index_dicomweb(
        client,
        database=database,
        header_store=headers,
        rules=load_rules(),
        pseudonym_of=pseudonymiser(node.key),
        options=IndexOptions(today=TODAY),
    )


def rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


SERIES = "SELECT * EXCLUDE (bytes) FROM imaging_series ORDER BY ALL"


@pytest.mark.parametrize(
    ("cap", "warn", "page"),
    [
        (None, True, 5),  # every page full but the last
        (7, True, 50),  # a service that gives at most 7 a page, and says so
        (3, False, 50),  # one that gives at most 3 and does not say: nothing may be lost
    ],
)
def test_the_same_series_as_from_the_files(node, instances, tmp_path, cap, warn, page):
    files = node.fresh_database("files")
    node.index(files, tmp_path / "files.sqlite")
    service = Service(instances, page_cap=cap, warn=warn)
    database = node.fresh_database("web")
    report = index(node, service, database, tmp_path / "h.sqlite", page=page)
    assert rows(database, SERIES) == rows(files, SERIES)
    assert report.source == "dicomweb" and report.finished
    assert report.series == report.new == len(rows(files, SERIES))
    # every search asks for exactly the index's attributes, one includefield each
    searches = [r for r in service.asked if r.url.path.endswith("/instances")]
    assert {tuple(r.url.params.get_list("includefield")) for r in searches} == {
        tuple(f"{t:08X}" for t in TAGS.values())
    }
    # one metadata request a series; paging walked every page; no bulk data, no pixels
    assert len(service.paths("/metadata")) == report.series
    assert not [r for r in service.asked if "/bulk" in r.url.path or "/frames" in r.url.path]
    assert {r.url.params["limit"] for r in searches} == {str(page)}
    # locations are WADO-RS URLs, with no size and no mtime; bytes unknown
    located = rows(database, "SELECT path, size, mtime FROM imaging_instance")
    assert all(
        re.fullmatch(rf"{URL}/studies/[\d.]+/series/[\d.]+/instances/[\d.]+", p)
        and s is None
        and m is None
        for p, s, m in located
    )
    assert rows(database, "SELECT DISTINCT bytes FROM imaging_series") == [(None,)]


def test_the_header_kept_is_the_metadata(node, instances, tmp_path):
    database = node.fresh_database("meta")
    index(node, Service(instances), database, tmp_path / "h.sqlite")
    path, uid = rows(database, "SELECT path, sop_instance_uid FROM imaging_instance LIMIT 1")[0]
    with HeaderStore(tmp_path / "h.sqlite") as store:
        kept = store.get(path)
    assert kept is not None and kept.media_type == DICOM_JSON
    full = dataset_of(kept)
    assert full.SOPInstanceUID == uid and str(full.PatientName).startswith("SYNTHETIC^PERSON")
    assert "PixelData" in full and not full.PixelData  # bulk data is never fetched


def test_a_rerun_reads_only_new_and_changed_series(node, instances, tmp_path):
    by_series: dict[str, list[dict[str, Any]]] = {}
    for obj in instances:
        by_series.setdefault(dj.uid(obj, dj.SERIES_INSTANCE_UID), []).append(obj)
    held_back = sorted(by_series)[0]  # a series the service gets later
    grown = next(s for s in sorted(by_series) if len(by_series[s]) > 2 and s != held_back)
    late = by_series[grown][-1]
    first = [o for o in instances if o is not late and o not in by_series[held_back]]
    service = Service(first)
    database, headers = node.fresh_database("rerun"), tmp_path / "h.sqlite"
    index(node, service, database, headers)

    service.asked.clear()
    again = index(node, service, database, headers)
    assert (again.read, again.studies_read, again.new, again.changed) == (0, 0, 0, 0)
    assert service.paths("/series") == [] and service.paths("/metadata") == []

    for obj in by_series[held_back]:
        service.add(obj)
    service.add(late)
    service.asked.clear()
    third = index(node, service, database, headers)
    assert (third.new, third.changed) == (1, 1)
    assert third.read == len(by_series[held_back]) + len(by_series[grown])
    assert sorted(p.split("/series/")[1].split("/")[0] for p in service.paths("/metadata")) == (
        sorted([held_back, grown])
    )
    assert rows(
        database, f"SELECT n_instances FROM imaging_series WHERE series_instance_uid = '{grown}'"
    ) == [(len(by_series[grown]),)]
    whole = node.fresh_database("whole")
    index(node, Service(instances), whole, tmp_path / "whole.sqlite")
    assert rows(database, SERIES) == rows(whole, SERIES)


def test_series_and_studies_gone_leave_the_index(node, instances, tmp_path):
    service = Service(instances)
    database, headers = node.fresh_database("gone"), tmp_path / "h.sqlite"
    index(node, service, database, headers)
    study = sorted(service.studies)[0]
    other = next(s for s in sorted(service.studies) if len(service.studies[s]) > 1)
    series = sorted(service.studies[other])[0]
    gone_series = len(service.studies[study]) + 1
    del service.studies[study]
    del service.studies[other][series]
    report = index(node, service, database, headers)
    assert report.removed == gone_series
    found = rows(database, "SELECT study_instance_uid, series_instance_uid FROM imaging_series")
    assert study not in {s for s, _ in found} and series not in {r for _, r in found}
    left = rows(database, "SELECT path FROM imaging_instance")
    with HeaderStore(headers) as store:
        assert store.count() == len(left)
    assert not [p for (p,) in left if f"/studies/{study}/" in p or f"/series/{series}/" in p]


def test_a_service_that_lists_nothing_empties_nothing(node, instances, tmp_path):
    service = Service(instances)
    database, headers = node.fresh_database("empty"), tmp_path / "h.sqlite"
    first = index(node, service, database, headers)
    service.studies.clear()
    with pytest.raises(DicomwebError, match="lists no studies") as error:
        index(node, service, database, headers)
    assert f"{first.studies:,} were indexed" in error.value.message
    assert rows(database, "SELECT count(*) FROM imaging_instance") == [(first.instances,)]


def test_a_crash_loses_at_most_the_series_in_flight(node, instances, tmp_path):
    service = Service(instances)
    service.fail_after = 10  # the service goes away after ten series
    database, headers = node.fresh_database("crash"), tmp_path / "h.sqlite"
    with pytest.raises(DicomwebError, match="cannot be reached"):
        index(node, service, database, headers)
    assert rows(database, "SELECT count(*) FROM imaging_dicomweb_series") == [(10,)]
    assert rows(database, "SELECT status FROM imaging_runs") == [("failed",)]
    service.fail_after = None
    service.asked.clear()
    resumed = index(node, service, database, headers)
    total = sum(len(series) for series in service.studies.values())
    assert resumed.new == total - 10 and len(service.paths("/metadata")) == total - 10
    whole = node.fresh_database("whole-crash")
    index(node, Service(instances), whole, tmp_path / "whole.sqlite")
    assert rows(database, SERIES) == rows(whole, SERIES)
    assert rows(database, "SELECT path, header_sha256 FROM imaging_instance ORDER BY 1") == rows(
        whole, "SELECT path, header_sha256 FROM imaging_instance ORDER BY 1"
    )


def test_metadata_too_large_indexes_without_keeping_headers(node, instances, tmp_path):
    database = node.fresh_database("large")
    report = index(node, Service(instances), database, tmp_path / "h.sqlite", max_metadata=100)
    assert report.headers_stored == 0 and report.indexed == report.instances > 0
    assert report.issues["header_too_large_to_store"] == report.instances


# ---- the client: bounds and failures, in words ------------------------------------------------


def client_of(handler, **limits) -> DicomwebClient:
    return DicomwebClient(URL, transport=httpx.MockTransport(handler), limits=Limits(**limits))


SECRET = "2.25.424242"  # a value from the service: never in an error


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (httpx.Response(404, text=SECRET), "answered a search for studies with 404 Not Found"),
        (httpx.Response(500, text=SECRET), "with 500 Internal Server Error"),
        (httpx.Response(401, text=SECRET), "FIVESAFES_DICOMWEB_TOKEN"),
        (httpx.Response(302, headers={"Location": "http://elsewhere"}), "Redirects are not"),
        (httpx.Response(200, text=SECRET, headers={"Content-Type": "text/html"}), "not DICOM JSON"),
        (
            httpx.Response(200, text='{"a": 1}', headers={"Content-Type": "application/json"}),
            "not DICOM JSON",
        ),
        (httpx.Response(200, text="[{", headers={"Content-Type": DICOM_JSON}), "not DICOM JSON"),
        (
            httpx.Response(
                200, text=json.dumps([{SECRET: 1}] * 9000), headers={"Content-Type": DICOM_JSON}
            ),
            "more than 0 MiB",
        ),
    ],
)
def test_a_bad_answer_is_told_in_words(answer, said):
    client = client_of(lambda request: answer, max_answer=100_000)
    with client, pytest.raises(DicomwebError) as error:
        list(client.studies(()))
    assert said in error.value.message and URL in error.value.message
    assert SECRET not in error.value.message and error.value.code == "unavailable"


def test_an_unreachable_service_and_a_slow_one():
    def unreachable(request):
        raise httpx.ConnectError("refused")

    def slow(request):
        raise httpx.ReadTimeout("slow")

    with client_of(unreachable) as client, pytest.raises(DicomwebError, match="cannot be reached"):
        list(client.studies(()))
    with client_of(slow) as client, pytest.raises(DicomwebError, match="did not answer"):
        list(client.studies(()))


def test_a_service_that_ignores_offset_is_refused():
    page = [{dj.STUDY_INSTANCE_UID: {"vr": "UI", "Value": ["2.25.1"]}}] * 2
    answer = httpx.Response(200, json=page, headers={"Content-Type": DICOM_JSON})
    with (
        client_of(lambda r: answer, page=2) as client,
        pytest.raises(DicomwebError, match="offset"),
    ):
        list(client.studies(()))


def test_credentials_are_sent_and_never_in_the_url():
    seen: list[str] = []

    def handler(request):
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(204)

    for credentials in (Credentials(token="t0k"), Credentials(user="u", password="p")):
        client = DicomwebClient(
            URL, credentials=credentials, transport=httpx.MockTransport(handler)
        )
        with client:
            assert list(client.studies(())) == []
    assert seen == ["Bearer t0k", "Basic dTpw"]
    assert Credentials.from_environ({}) is None
    assert Credentials.from_environ({"FIVESAFES_DICOMWEB_TOKEN": "x"}) == Credentials(token="x")
    with pytest.raises(ConfigError):
        Credentials.from_environ({"FIVESAFES_DICOMWEB_USER": "u"})
    with pytest.raises(ConfigError, match="not in the URL"):
        base_url("https://u:secret@pacs.test/dicom-web")
    with pytest.raises(ConfigError):
        base_url("ftp://pacs.test/")
    assert base_url("https://pacs.test/dicom-web/") == "https://pacs.test/dicom-web"


# ---- DICOM JSON to the index's record ----------------------------------------------------------

TEXTS = [
    ({"vr": "CS", "Value": ["ORIGINAL", "PRIMARY", "AXIAL"]}, "ORIGINAL\\PRIMARY\\AXIAL"),
    ({"vr": "DS", "Value": [2.5]}, "2.5"),
    ({"vr": "DS", "Value": [3.0]}, "3"),
    ({"vr": "IS", "Value": [12]}, "12"),
    ({"vr": "DS", "Value": ["1.25 "]}, "1.25"),
    ({"vr": "PN", "Value": [{"Alphabetic": "DOE^JANE"}]}, "DOE^JANE"),
    ({"vr": "CS"}, None),
    ({"vr": "LO", "Value": []}, None),
    ({"vr": "OB", "BulkDataURI": "http://pacs.test/bulk"}, None),
    ({"vr": "LO", "Value": [None, "B"]}, "\\B"),
    ("not an attribute", None),
]


@pytest.mark.parametrize(("attribute", "text"), TEXTS)
def test_an_attribute_as_text(attribute, text):
    assert dj.text(attribute) == text


def test_an_instance_without_a_patient_is_refused_in_words(instances):
    obj = {k: v for k, v in instances[0].items() if k != "00100020"}
    outcome = dj.header_of(obj, URL + "/x", None, "header_not_in_metadata")
    assert isinstance(outcome, Unreadable) and outcome.reason is Reason.MISSING_PATIENT_ID
    assert isinstance(dj.header_of([], URL, None, "n"), Unreadable)
    kept = dj.header_of(instances[0], URL + "/x", instances[0], "n")
    assert isinstance(kept, Header) and kept.stored is not None and kept.notes == ()
    assert set(kept.values) == set(TAGS) and kept.values["PatientID"]
