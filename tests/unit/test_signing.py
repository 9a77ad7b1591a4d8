"""Signatures over canonical JSON: what verifies, and what any change breaks."""

from __future__ import annotations

import time

import pytest

from fivesafes.protocol.errors import BadSignature
from fivesafes.protocol.signing import (
    canonical_json,
    fingerprint,
    generate_key,
    public_key_text,
    sign,
    sign_request,
    verify,
    verify_request,
)

PAYLOAD = {"task_id": "t_1", "parameters": {"cohort": {"name": "x"}}, "targets": ["a", "b"]}


def test_canonical_json_ignores_key_order():
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})


def test_signature_verifies_with_the_signers_public_key():
    key = generate_key()
    verify(PAYLOAD, sign(PAYLOAD, key), public_key_text(key))


@pytest.mark.parametrize(
    "tampered",
    [
        {**PAYLOAD, "targets": ["a", "b", "c"]},
        {**PAYLOAD, "task_id": "t_2"},
        {**PAYLOAD, "parameters": {"cohort": {"name": "y"}}},
        {k: v for k, v in PAYLOAD.items() if k != "targets"},
    ],
)
def test_any_change_to_the_payload_breaks_the_signature(tampered):
    key = generate_key()
    with pytest.raises(BadSignature):
        verify(tampered, sign(PAYLOAD, key), public_key_text(key))


def test_another_key_does_not_verify():
    with pytest.raises(BadSignature):
        verify(PAYLOAD, sign(PAYLOAD, generate_key()), public_key_text(generate_key()))


def test_garbage_signature_and_key_are_bad_signatures_not_crashes():
    key = generate_key()
    with pytest.raises(BadSignature):
        verify(PAYLOAD, "not base64!", public_key_text(key))
    with pytest.raises(BadSignature):
        verify(PAYLOAD, sign(PAYLOAD, key), "AAAA")


def test_request_signature_covers_method_path_body_and_time():
    key = generate_key()
    public = public_key_text(key)
    headers = sign_request("n1", key, "POST", "/api/v1/x?wait=1", b"{}")
    ts, sig = headers["X-Fivesafes-Timestamp"], headers["X-Fivesafes-Signature"]
    verify_request(public, "POST", "/api/v1/x?wait=1", ts, b"{}", sig)
    for method, path, body in (
        ("GET", "/api/v1/x?wait=1", b"{}"),
        ("POST", "/api/v1/y", b"{}"),
        ("POST", "/api/v1/x?wait=1", b"{ }"),
    ):
        with pytest.raises(BadSignature):
            verify_request(public, method, path, ts, body, sig)


def test_stale_request_is_refused(monkeypatch):
    key = generate_key()
    headers = sign_request("n1", key, "GET", "/p", b"")
    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(BadSignature):
        verify_request(
            public_key_text(key),
            "GET",
            "/p",
            headers["X-Fivesafes-Timestamp"],
            b"",
            headers["X-Fivesafes-Signature"],
        )


def test_fingerprint_is_stable_and_short():
    key = public_key_text(generate_key())
    assert fingerprint(key) == fingerprint(key)
    assert len(fingerprint(key).split(":")) == 8
