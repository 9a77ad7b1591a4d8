"""What every benchmark script shares: a description of the machine, and its own section of
docs/benchmarks.md.

Benchmarks run as ``python benchmarks/bench_x.py`` from the repository root, so Python puts
this folder first on ``sys.path`` and a script imports this module as ``record``.

    from record import machine, update_section

    update_section("federated-count", markdown)   # rewrites only that section
"""

from __future__ import annotations

import os
import platform
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
TITLE = "# Benchmarks"


def _proc_field(path: str, key: str) -> str | None:
    """The value of the first ``key: value`` line of a /proc file, if there is one."""
    try:
        for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """This process's peak resident set size, in MiB, since it started.

    Read from ``VmHWM`` in /proc/self/status, which belongs to this process's own address space
    and so starts afresh at ``exec``. ``getrusage``'s ``ru_maxrss`` does not: Linux carries the
    high-water mark across ``exec``, so a child started by a parent holding 900 MiB reports at
    least 900 MiB whatever it used itself. ``ru_maxrss`` is the fallback where /proc is absent.
    """
    hwm = _proc_field("/proc/self/status", "VmHWM")
    if hwm:
        return int(hwm.split()[0]) / 1024
    import resource  # not on every platform; only reached without /proc

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_peak_mib(pid: int) -> float | None:
    """Another process's peak resident set size (``VmHWM``) in MiB, if it can be read."""
    hwm = _proc_field(f"/proc/{pid}/status", "VmHWM")
    try:
        return int(hwm.split()[0]) / 1024 if hwm else None
    except (ValueError, IndexError):
        return None


class Timed(Protocol):
    """A measurement's result as :func:`timed` fills it."""

    count: int | None
    cold: float | None
    warm: list[float]


def timed(fn: Callable[[], int], runs: int, result: Timed) -> None:
    """Run ``fn`` once (``result.cold``, its answer ``result.count``), then ``runs`` more times
    (``result.warm``); a warm run that answers otherwise is an error."""
    started = time.perf_counter()
    result.count = fn()
    result.cold = time.perf_counter() - started
    for _ in range(runs):
        started = time.perf_counter()
        n = fn()
        result.warm.append(time.perf_counter() - started)
        if n != result.count:
            raise AssertionError(f"a warm run counted {n}, the first {result.count}")


def machine_facts() -> dict[str, str]:
    """nproc, CPU model, RAM, Python version and OS of this machine, one string each."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    mem_kib = _proc_field("/proc/meminfo", "MemTotal")
    ram = f"{int(mem_kib.split()[0]) / 1024**2:.1f} GiB" if mem_kib else "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def machine() -> str:
    """One line for a benchmark report, e.g. ``2 CPUs (AMD EPYC), 23.5 GiB RAM, ...``."""
    f = machine_facts()
    return f"{f['nproc']} CPUs ({f['cpu']}), {f['ram']} RAM, Python {f['python']}, {f['os']}"


def update_section(name: str, body: str, path: Path = DOCS, *, title: str = TITLE) -> None:
    """Replace the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``.

    Appends the section when it is missing and creates the file (headed by ``title``) when
    that is missing; the rest of the file is left exactly as it was. ``body`` is inserted
    literally (no regex escapes are interpreted).
    """
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else f"{title}\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


class TreeWatch:
    """A process and all its descendants, sampled from /proc: the most resident memory they
    held at once (summed), and the CPU time each used (the workers of a pool are children of
    its forkserver, not of the measured process, so ``os.times`` would not count them)."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.pid, self.every = pid, every
        self.peak = 0
        self.cpu: dict[int, int] = {}  # pid -> user + system clock ticks, last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._tick = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> TreeWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values()) / self._tick

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)

    def _sample(self) -> None:
        stats: dict[int, list[str]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    text = Path(f"/proc/{entry}/stat").read_text()
                    stats[int(entry)] = text.rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
        tree, frontier = {self.pid}, [self.pid]
        while frontier:
            parent = frontier.pop()
            for pid, fields in stats.items():
                if fields[1] == str(parent) and pid not in tree:
                    tree.add(pid)
                    frontier.append(pid)
        total = 0
        for pid in tree & stats.keys():
            fields = stats[pid]  # after the name: state, ppid, ..., utime (12), stime (13)
            self.cpu[pid] = max(self.cpu.get(pid, 0), int(fields[11]) + int(fields[12]))
            total += int(fields[21]) * self._page  # rss, in pages
        self.peak = max(self.peak, total)
