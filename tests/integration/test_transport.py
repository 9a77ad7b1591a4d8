"""Transport safety: the hub serves TLS itself; a node refuses plain HTTP off loopback."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fivesafes.data.synth import concepts as c
from fivesafes.node.config import check_hub_url

COHORT = {"name": "lung cancer", "criteria": [{"domain": "condition", "concepts": [c.LUNG_CANCER]}]}


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fivesafes test hub")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "hub.crt", tmp_path / "hub.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_federated_count_over_tls(harness, site_data, tmp_path):
    harness.start_hub(tls=self_signed(tmp_path))
    assert harness.hub_url.startswith("https://")
    harness.add_node("northfield", {"engine": "duckdb", "path": str(site_data["northfield"])})
    token = harness.researcher()
    project = harness.project(["alice"], ["northfield"])
    with harness.federation(token, project) as fed:
        result = fed.count(COHORT, timeout=60)
    assert result.nodes[0].state == "succeeded" and result.total is not None
    # without the CA the client refuses the hub's certificate
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{harness.hub_url}/api/v1/health")
    # and plain HTTP to the TLS port gets no answer
    with pytest.raises(httpx.HTTPError):
        httpx.get(harness.hub_url.replace("https", "http") + "/api/v1/health", timeout=3)


@pytest.mark.parametrize(
    ("url", "allow", "ok"),
    [
        ("https://hub.example.org", False, True),
        ("http://127.0.0.1:8700", False, True),
        ("http://localhost:8700", False, True),
        ("http://[::1]:8700", False, True),
        ("http://hub.example.org", False, False),
        ("http://10.1.2.3:8700", False, False),
        ("http://hub.example.org", True, True),
        ("ftp://hub.example.org", True, False),
        ("hub.example.org", False, False),
    ],
)
def test_node_refuses_plain_http_off_loopback_unless_told(url, allow, ok):
    if ok:
        check_hub_url(url, allow_insecure_http=allow)
    else:
        with pytest.raises(ValueError, match="hub_url"):
            check_hub_url(url, allow_insecure_http=allow)
