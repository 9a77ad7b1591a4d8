"""Starting hub and node services as separate OS processes, and stopping them cleanly."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fivesafes.protocol.tls import verify_context


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent dies, so a killed
    demo or test run never leaves hub or node processes behind. (libc is loaded in the parent:
    the child only makes one system call.)"""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def fivesafes_command(*args: str) -> list[str]:
    """The argv that runs ``fivesafes ARGS`` with this interpreter."""
    return [sys.executable, "-m", "fivesafes.cli.main", *args]


def run_fivesafes(*args: str, timeout: float = 900) -> str:
    """Run ``fivesafes ARGS`` as an operator would; its output, or RuntimeError with the end of
    what it said went wrong."""
    done = subprocess.run(fivesafes_command(*args), capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"fivesafes {' '.join(args[:3])} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.alive():
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Supervisor:
    """Owns the service processes of one federation; stops them all on exit."""

    services: list[Service] = field(default_factory=list)

    def start(self, name: str, args: list[str], log_path: Path) -> Service:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                fivesafes_command(*args),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_die_with_parent,
            )
        service = Service(name, process, log_path)
        self.services.append(service)
        return service

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_all()


def wait_for_health(
    url: str, service: Service, timeout: float = 30.0, ca_file: Path | None = None
) -> None:
    """Wait until ``url``/api/v1/health answers; fail early if the process died."""
    verify = verify_context(ca_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited early:\n{service.log_tail()}")
        try:
            health = httpx.get(f"{url}/api/v1/health", timeout=1.0, verify=verify)
            if health.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{service.name} did not become healthy in {timeout:.0f} s")
