"""Benchmark scripts rewrite only their own section of docs/benchmarks.md (unit).

The scripts run as ``python benchmarks/bench_x.py`` and share ``benchmarks/record.py``;
here the benchmarks folder is put on ``sys.path`` as running a script there would.
"""

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import record  # noqa: E402

spec = importlib.util.spec_from_file_location("bench_synth", BENCHMARKS / "bench_synth.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_creates_the_file_with_the_section(tmp_path):
    doc = tmp_path / "docs" / "benchmarks.md"
    record.update_section("synth", "## Synthetic\n\nfast", doc)
    assert (
        doc.read_text()
        == "# Benchmarks\n\n<!-- bench:synth -->\n## Synthetic\n\nfast\n<!-- /bench:synth -->\n"
    )


def test_replaces_only_its_own_section(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\nintro\n\n<!-- bench:synth -->\nold\n<!-- /bench:synth -->\n\n"
        "<!-- bench:gate -->\ngate figures\n<!-- /bench:gate -->\n"
    )
    record.update_section("synth", "new $1 \\g<0>", doc)  # replacement text is taken literally
    assert doc.read_text() == (
        "# Benchmarks\n\nintro\n\n<!-- bench:synth -->\nnew $1 \\g<0>\n<!-- /bench:synth -->\n\n"
        "<!-- bench:gate -->\ngate figures\n<!-- /bench:gate -->\n"
    )


def test_appends_when_the_section_is_missing(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- bench:gate -->\ng\n<!-- /bench:gate -->\n")
    record.update_section("synth", "s", doc)
    assert doc.read_text().endswith(
        "<!-- /bench:gate -->\n\n<!-- bench:synth -->\ns\n<!-- /bench:synth -->\n"
    )


def test_machine_description_reads_proc():
    info = record.machine_facts()
    assert set(info) == {"nproc", "cpu", "ram", "python", "os"}
    assert int(info["nproc"]) >= 1
    assert record.machine().startswith(f"{info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM")


def test_synth_benchmark_writes_its_section_with_the_shared_helper(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- bench:other -->\nkept\n<!-- /bench:other -->\n")
    assert bench.main(["--persons", "200", "--docs", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\n<!-- bench:other -->\nkept\n<!-- /bench:other -->\n")
    assert "<!-- bench:synth -->\n## Synthetic data generation" in text
    assert "`generate()` of 200 persons" in text


def test_a_childs_peak_memory_is_its_own_not_its_parents():
    """A benchmark measures each form in a fresh process; its peak must not include what the
    parent held when it started the child (``ru_maxrss`` survives ``exec`` on Linux)."""
    import subprocess

    held = bytearray(600 * 1024 * 1024)  # 600 MiB, every page touched
    held[::4096] = b"\x01" * len(held[::4096])
    child = subprocess.run(
        [sys.executable, "-c", "import record; print(record.peak_rss_mib())"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(child.stdout) < 200, "the child reported its parent's peak"
    assert record.peak_rss_mib() >= 600
    del held
