"""benchmarks/bench_synth.py rewrites only its own section of docs/benchmarks.md (unit)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_synth.py"
spec = importlib.util.spec_from_file_location("bench_synth", BENCH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_creates_the_file_with_the_section(tmp_path):
    doc = tmp_path / "docs" / "benchmarks.md"
    bench.update_section(doc, "synth", "## Synthetic\n\nfast")
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
    bench.update_section(doc, "synth", "new $1 \\g<0>")  # replacement text is taken literally
    assert doc.read_text() == (
        "# Benchmarks\n\nintro\n\n<!-- bench:synth -->\nnew $1 \\g<0>\n<!-- /bench:synth -->\n\n"
        "<!-- bench:gate -->\ngate figures\n<!-- /bench:gate -->\n"
    )


def test_appends_when_the_section_is_missing(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- bench:gate -->\ng\n<!-- /bench:gate -->\n")
    bench.update_section(doc, "synth", "s")
    assert doc.read_text().endswith(
        "<!-- /bench:gate -->\n\n<!-- bench:synth -->\ns\n<!-- /bench:synth -->\n"
    )


def test_machine_description_reads_proc():
    info = bench.machine()
    assert set(info) == {"nproc", "cpu", "ram"}
    assert int(info["nproc"]) >= 1
