"""A DICOMweb client for the index (PS3.18): QIDO-RS searches for a service's studies, a study's
series and a series' instances, and WADO-RS metadata of a series, nothing else (never pixel
data, never bulk data).

Every answer is bounded and told in words when it fails:

- searches are paged (``limit`` and ``offset``): studies and series until an empty page (what
  a listing misses leaves the index, so a silent server-side cap must not pass for the whole);
  instances until a short page, unless the service warns that it cut the answer short
  (``Warning: 299``) or fewer than the series counted have come; a service that ignores
  ``offset`` (the same page again) is refused rather than read for ever;
- each answer is read as a stream and refused past a size (``max_answer``; a series'
  metadata past ``max_metadata`` is not read: its headers are not kept, the index still is);
- connect and read timeouts; redirects are not followed;
- an unreachable service, a timeout, a 4xx or 5xx, an answer that is not DICOM JSON: a
  :class:`DicomwebError` naming the service and what was asked, never a value from a header
  or from the answer (no UID, no body).

Credentials (optional): a bearer token, or a user and password for HTTP basic auth, read from
the environment by the command (:meth:`Credentials.from_environ`) and handed in. The base URL
may not carry them (``https://user:secret@…`` is refused: it would be audited and logged).
The transport is injected (``transport``), so the client is tested without a network.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from fivesafes.protocol.errors import ConfigError, ServiceUnavailable

DICOM_JSON = "application/dicom+json"
TOKEN_ENV = "FIVESAFES_DICOMWEB_TOKEN"  # noqa: S105 - the variable's name, not a secret
USER_ENV = "FIVESAFES_DICOMWEB_USER"
PASSWORD_ENV = "FIVESAFES_DICOMWEB_PASSWORD"  # noqa: S105 - a name, not a secret
MIB = 1024 * 1024


class DicomwebError(ServiceUnavailable):
    """The DICOMweb service could not be read; the message says which and why, in words."""


@dataclass(frozen=True)
class Limits:
    page: int = 1000  # results asked for per search
    max_answer: int = 64 * MIB  # a search's answer
    max_metadata: int = 64 * MIB  # a series' metadata (larger: its headers are not kept;
    # parsed, JSON takes several times its size in memory)
    connect_timeout: float = 10.0
    read_timeout: float = 120.0


@dataclass(frozen=True)
class Credentials:
    """A bearer token, or a user and password (HTTP basic auth)."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Credentials | None:
        """From ``FIVESAFES_DICOMWEB_TOKEN``, or ``FIVESAFES_DICOMWEB_USER`` and
        ``FIVESAFES_DICOMWEB_PASSWORD``; None when none is set."""
        token = environ.get(TOKEN_ENV) or None
        user = environ.get(USER_ENV) or None
        password = environ.get(PASSWORD_ENV) or None
        if token and (user or password):
            raise ConfigError(f"Set {TOKEN_ENV} or {USER_ENV} and {PASSWORD_ENV}, not both.")
        if bool(user) != bool(password):
            raise ConfigError(f"{USER_ENV} and {PASSWORD_ENV} go together.")
        if not (token or user):
            return None
        return cls(token=token, user=user, password=password)

    def auth(self) -> httpx.Auth:
        if self.token:
            return _Bearer(self.token)
        return httpx.BasicAuth(self.user or "", self.password or "")


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def base_url(url: str) -> str:
    """The service's DICOMweb root, checked (http or https, a host, no credentials, no query),
    without a trailing slash: it names the source in the index and in the audit log."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "The DICOMweb URL must be http:// or https:// with a host, such as "
            "https://pacs.example/dicom-web."
        )
    if parts.username or parts.password:
        raise ConfigError(
            f"Put the DICOMweb credentials in {TOKEN_ENV} (or {USER_ENV} and {PASSWORD_ENV}), "
            "not in the URL: the URL is audited."
        )
    if parts.query or parts.fragment:
        raise ConfigError("The DICOMweb URL is the service's root: no query, no fragment.")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


class DicomwebClient:
    """QIDO-RS and WADO-RS metadata of the service at ``url``; :meth:`start` opens it."""

    def __init__(
        self,
        url: str,
        *,
        credentials: Credentials | None = None,
        limits: Limits = Limits(),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url(url)
        self.credentials = credentials
        self.limits = limits
        self.transport = transport
        self._client: httpx.Client | None = None

    def start(self) -> DicomwebClient:
        limits = self.limits
        self._client = httpx.Client(
            base_url=self.url + "/",
            auth=self.credentials.auth() if self.credentials else None,
            timeout=httpx.Timeout(
                limits.read_timeout, connect=limits.connect_timeout, pool=limits.connect_timeout
            ),
            follow_redirects=False,
            transport=self.transport,
            headers={"Accept": f"{DICOM_JSON}, application/json;q=0.9"},
        )
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> DicomwebClient:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ---- what the index asks ----------------------------------------------------------------

    def studies(self, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every study of the service (QIDO-RS), with ``fields`` (``includefield``, each an
        attribute's tag in hex). Paged until a page comes back empty: studies missing from
        the listing leave the index, so a listing a service cut short without saying must
        not pass for the whole."""
        return self._search("studies", fields, "a search for studies", whole=True)

    def series(self, study: str, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every series of ``study`` (paged until a page comes back empty, as studies)."""
        return self._search(
            f"studies/{_segment(study)}/series",
            fields,
            "a search for the series of a study",
            whole=True,
        )

    def instances(
        self, study: str, series: str, fields: Sequence[str], expected: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The instances of a series; paged on while fewer than ``expected`` (the number the
        series listing gave) have come."""
        return self._search(
            f"studies/{_segment(study)}/series/{_segment(series)}/instances",
            fields,
            "a search for the instances of a series",
            expected=expected,
        )

    def metadata(self, study: str, series: str) -> list[dict[str, Any]] | None:
        """Every instance's metadata in the series (WADO-RS, one request; bulk data as URIs),
        or None if the answer is larger than ``max_metadata``."""
        path = f"studies/{_segment(study)}/series/{_segment(series)}/metadata"
        try:
            found, _ = self._get(
                path, [], "a request for a series' metadata", self.limits.max_metadata
            )
        except _TooLarge:
            return None
        return found

    def location(self, study: str, series: str | None = None, instance: str | None = None) -> str:
        """Where the index says an instance is: its WADO-RS URL (``…/studies/{study}/series/
        {series}/instances/{instance}``); without ``instance``, the prefix of a series' (or,
        without ``series``, a study's) instances, ending with '/'."""
        found = f"{self.url}/studies/{_segment(study)}/"
        if series is not None:
            found += f"series/{_segment(series)}/"
            if instance is not None:
                found += f"instances/{_segment(instance)}"
        return found

    # ---- paging, bounds, errors -------------------------------------------------------------

    def _search(
        self,
        path: str,
        fields: Sequence[str],
        what: str,
        *,
        whole: bool = False,
        expected: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Page through a search. A page shorter than the limit ends it, unless the service
        said it cut the answer short (``Warning: 299``), fewer than ``expected`` results have
        come, or the ``whole`` listing is wanted (then only an empty page ends it)."""
        page = self.limits.page
        offset, first = 0, None
        while True:
            query = [("includefield", field) for field in fields]
            query += [("limit", str(page)), ("offset", str(offset))]
            try:
                found, cut = self._get(path, query, what, self.limits.max_answer)
            except _TooLarge:
                raise DicomwebError(
                    f"{self._service} answered {what} with more than "
                    f"{self.limits.max_answer // MIB} MiB."
                ) from None
            if not found:
                return
            if offset and found[0] == first:
                raise DicomwebError(
                    f"{self._service} gave the same page again for {what}: it does not "
                    "support paging with offset."
                )
            first = found[0]
            yield from found
            offset += len(found)
            short = expected is not None and offset < expected
            if len(found) < page and not cut and not whole and not short:
                return

    @property
    def _service(self) -> str:
        return f"The DICOMweb service at {self.url}"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("the DICOMweb client is not started")
        return self._client

    def _get(
        self, path: str, params: Sequence[tuple[str, str]], what: str, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """The answer's list of DICOM JSON objects, and whether the service said it cut it
        short (a ``Warning: 299``)."""
        try:
            with self.client.stream("GET", path, params=tuple(params)) as answer:
                self._check(answer, what)
                if answer.status_code == 204:
                    return [], False
                body = _read_bounded(answer, limit)
                cut = any(w.strip().startswith("299") for w in answer.headers.get_list("warning"))
        except httpx.TimeoutException:
            raise DicomwebError(
                f"{self._service} did not answer {what} in time "
                f"(timeouts: {self.limits.connect_timeout:g} s to connect, "
                f"{self.limits.read_timeout:g} s to read)."
            ) from None
        except httpx.TransportError as exc:
            raise DicomwebError(
                f"{self._service} cannot be reached ({type(exc).__name__})."
            ) from None
        try:
            found = json.loads(body) if body.strip() else []
        except (ValueError, RecursionError):
            found = None
        if not isinstance(found, list) or not all(isinstance(item, dict) for item in found):
            raise DicomwebError(
                f"{self._service} answered {what} with something that is not DICOM JSON."
            )
        return found, cut

    def _check(self, answer: httpx.Response, what: str) -> None:
        status = answer.status_code
        if 200 <= status < 300:
            kind = answer.headers.get("content-type", "").split(";")[0].strip().lower()
            if status != 204 and kind not in (DICOM_JSON, "application/json"):
                raise DicomwebError(
                    f"{self._service} answered {what} with something that is not DICOM JSON."
                )
            return
        phrase = httpx.codes.get_reason_phrase(status) or "an error"
        hint = {
            401: f" Check the credentials ({TOKEN_ENV}, or {USER_ENV} and {PASSWORD_ENV}).",
            403: " The credentials given may not read this service.",
            404: " Is the URL the service's DICOMweb root (such as https://pacs.example/dicom-web)?",
        }.get(
            status,
            " Redirects are not followed: give the URL it redirects to."
            if 300 <= status < 400
            else "",
        )
        raise DicomwebError(f"{self._service} answered {what} with {status} {phrase}.{hint}")


class _TooLarge(Exception):
    pass


def _read_bounded(answer: httpx.Response, limit: int) -> bytes:
    declared = answer.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    body = bytearray()
    for chunk in answer.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def usable_uid(uid: str | None) -> bool:
    """A UID the index can name a study, series or instance by: 1 to 64 printable ASCII
    characters (a DICOM UID is digits and dots; archives hold worse, which is kept)."""
    return bool(uid) and len(uid or "") <= 64 and all(" " < c <= "~" for c in uid or "")


def _segment(uid: str) -> str:
    """A UID as one path segment, percent-encoded (it came from the service)."""
    return quote(uid, safe=".")
