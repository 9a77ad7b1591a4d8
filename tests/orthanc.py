"""A real Orthanc (Debian's package, installed by ``scripts/imaging.sh``) on loopback for the
imaging tests: its own storage in a temporary folder, free ports, the DICOMweb plugin, no
authentication (it listens on 127.0.0.1 only), stopped at the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from fivesafes.demo.processes import free_port

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


@contextmanager
def running_orthanc(folder: Path) -> Iterator[str]:
    """Start Orthanc with its storage under ``folder``; yield its base URL (DICOMweb under
    ``/dicom-web``). Skips the test where Orthanc is not installed (run scripts/imaging.sh)."""
    if not ORTHANC.exists() or not DICOMWEB_PLUGIN.exists():
        pytest.skip("Orthanc with its DICOMweb plugin is not installed: bash scripts/imaging.sh")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "Name": "fivesafes-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": port,
        "DicomPort": free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen([str(ORTHANC), str(folder / "orthanc.json")], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/system", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not start; see {folder / 'orthanc.log'}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(folder / "storage", ignore_errors=True)


def upload(url: str, files: Iterable[Path]) -> int:
    """Store each DICOM file in Orthanc (``POST /instances``); how many it accepted."""
    stored = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in files:
            answer = client.post("/instances", content=path.read_bytes())
            stored += answer.status_code == 200
    return stored
