"""Finding the files under the paths an operator names: every regular file, in a fixed order
(each folder's entries sorted by name, depth first), with its size and modification time.

Symbolic links to files are followed; links to folders are not (a loop cannot trap the walk).
A folder that cannot be listed, or a name that is not UTF-8 (it could not be stored), is
reported as a :class:`WalkProblem` and the walk goes on. Paths are absolute, so a file has one
name whatever folder the operator started from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fivesafes.imaging.reading import FileStat


@dataclass(frozen=True, slots=True)
class WalkProblem:
    path: str
    problem: str  # in words


def roots_of(paths: Iterable[Path]) -> list[str]:
    """The absolute paths to walk, each once, leaving out any inside another."""
    absolute = sorted({os.path.abspath(os.fspath(p)) for p in paths})
    kept: list[str] = []
    for path in absolute:
        if not any(path == root or path.startswith(root.rstrip("/") + "/") for root in kept):
            kept.append(path)
    return kept


def walk(roots: Iterable[str]) -> Iterator[FileStat | WalkProblem]:
    for root in roots:
        if os.path.isdir(root):
            yield from _folder(root)
        else:
            yield _file(root)


def _file(path: str) -> FileStat | WalkProblem:
    if not _storable(path):
        return WalkProblem(_shown(path), "the name is not UTF-8, so it cannot be indexed")
    try:
        info = os.stat(path)
    except OSError as exc:
        return WalkProblem(path, f"cannot be read ({type(exc).__name__})")
    return FileStat(path, info.st_size, info.st_mtime_ns)


def _folder(folder: str) -> Iterator[FileStat | WalkProblem]:
    """Depth first, each folder's entries by name; a stack of listings rather than nested
    generators, whose every file would pass up through one generator per level."""
    listings: list[Iterator[os.DirEntry[str]]] = []
    listed = _listing(folder)
    if isinstance(listed, WalkProblem):
        yield listed
        return
    listings.append(listed)
    while listings:
        entry = next(listings[-1], None)
        if entry is None:
            listings.pop()
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                listed = _listing(entry.path)
                if isinstance(listed, WalkProblem):
                    yield listed
                else:
                    listings.append(listed)
                continue
            if not entry.is_file():  # a socket, a device, a broken or folder link
                continue
        except OSError:
            continue
        if not _storable(entry.path):
            yield WalkProblem(_shown(entry.path), "the name is not UTF-8, so it cannot be indexed")
            continue
        try:
            info = entry.stat()
        except OSError as exc:
            yield WalkProblem(entry.path, f"cannot be read ({type(exc).__name__})")
            continue
        yield FileStat(entry.path, info.st_size, info.st_mtime_ns)


def _listing(folder: str) -> Iterator[os.DirEntry[str]] | WalkProblem:
    try:
        with os.scandir(folder) as listing:
            return iter(sorted(listing, key=_name))
    except OSError as exc:
        return WalkProblem(folder, f"the folder cannot be listed ({type(exc).__name__})")


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _storable(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")
