"""Finding files (fivesafes.imaging.walk): a fixed order, absolute paths, no folder links
followed (a loop cannot trap the walk), and names that cannot be stored reported, not fatal."""

from __future__ import annotations

import os

from fivesafes.imaging.reading import FileStat
from fivesafes.imaging.walk import WalkProblem, roots_of, walk


def test_the_walk_is_sorted_depth_first_and_absolute(tmp_path, monkeypatch):
    for name in ("b/2", "b/1", "a/z/9", "c"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * len(name))
    monkeypatch.chdir(tmp_path)
    found = list(walk(roots_of([tmp_path.relative_to(tmp_path), tmp_path / "b"])))
    assert [f.path for f in found] == [str(tmp_path / n) for n in ("a/z/9", "b/1", "b/2", "c")]
    assert all(
        isinstance(f, FileStat) and f.size == len(os.path.relpath(f.path, tmp_path)) for f in found
    )


def test_roots_inside_another_are_walked_once(tmp_path):
    assert roots_of([tmp_path / "a", tmp_path, tmp_path / "a" / "b"]) == [str(tmp_path)]
    assert roots_of([tmp_path / "ab", tmp_path / "a"]) == [
        str(tmp_path / "a"),
        str(tmp_path / "ab"),
    ]


def test_folder_links_are_not_followed(tmp_path):
    (tmp_path / "scan.dcm").write_bytes(b"x")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "alias.dcm").symlink_to(tmp_path / "scan.dcm")  # a link to a file is read
    assert [f.path for f in walk([str(tmp_path)])] == [
        str(tmp_path / "alias.dcm"),
        str(tmp_path / "scan.dcm"),
    ]


def test_a_name_that_is_not_utf8_is_reported(tmp_path):
    (tmp_path / "ok.dcm").write_bytes(b"x")
    fd = os.open(os.fsencode(tmp_path) + b"/\xff\xfe.dcm", os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    found = list(walk([str(tmp_path)]))
    problems = [f for f in found if isinstance(f, WalkProblem)]
    assert [f.path for f in found if isinstance(f, FileStat)] == [str(tmp_path / "ok.dcm")]
    assert len(problems) == 1 and "not UTF-8" in problems[0].problem
    problems[0].path.encode("utf-8")  # the report can show it
