"""Analysis references and the allow-lists custodians keep.

An analysis is named with its version, ``glm@1`` (``fivesafes.analyses.registry``).
A project asks for a set of them; each node's custodian allows a subset in their approval; a
task names one analysis and version, and a node runs it only if its approval lists exactly
that reference (``fivesafes.node.policy``).

**Extension point: custom code by hash (not built).** A reference ``code@sha256:<64 hex>``
is reserved for reviewed custom code: a custodian would allow the digest of the exact code
they reviewed, a task would carry the code and the node would run it (sandboxed) only if its
digest is on the approval's list. Parsing such a reference today refuses it as not supported;
building it needs the sandbox, the node's runner for code, and the task's code field, and
this module's :func:`parse_ref` and :func:`allows` are where its references are recognised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from fivesafes.analyses.registry import REGISTRY
from fivesafes.protocol.errors import InvalidRequest

CODE_PREFIX = "code@sha256:"
_REF = re.compile(r"^(?P<name>[a-z][a-z0-9_]{0,31})(@(?P<version>[1-9][0-9]{0,3}))?$")


@dataclass(frozen=True, order=True)
class AnalysisRef:
    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


def current(name: str) -> AnalysisRef:
    """The version of ``name`` this release runs."""
    versions = REGISTRY.versions()
    if name not in versions:
        known = ", ".join(versions)
        raise InvalidRequest(f"Unknown analysis {name!r}; analyses are {known}.")
    return AnalysisRef(name, versions[name])


def parse_ref(text: str) -> AnalysisRef:
    """``glm@1``, or ``glm`` for this release's version. A version this release does not run
    is refused: nobody can approve what no node here can run."""
    if text.startswith(CODE_PREFIX):
        raise InvalidRequest("Custom code by hash is not supported yet; name a built-in analysis.")
    match = _REF.match(text)
    if match is None:
        raise InvalidRequest(f"An analysis is written name@version, e.g. glm@1, not {text!r}.")
    ref = current(match["name"])
    if match["version"] is not None and int(match["version"]) != ref.version:
        raise InvalidRequest(f"This release runs {ref}, not {text}.")
    return ref


def refs(texts: Iterable[str]) -> frozenset[str]:
    return frozenset(str(parse_ref(t)) for t in texts)


def every_builtin() -> frozenset[str]:
    return frozenset(str(current(name)) for name in REGISTRY.names())


def allows(allow_list: Iterable[str], name: str, version: int) -> bool:
    """Whether an allow-list holds exactly this analysis at this version."""
    return str(AnalysisRef(name, version)) in set(allow_list)


def names(allow_list: Iterable[str]) -> list[str]:
    """The analysis names of a list of references (in order, without repeats)."""
    return list(dict.fromkeys(ref.split("@", 1)[0] for ref in allow_list))
