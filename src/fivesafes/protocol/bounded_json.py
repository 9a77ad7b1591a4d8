"""JSON from people, read within bounds: a document nested deeper than :data:`MAX_DEPTH`
levels is refused before it is parsed (Python's parser would recurse until the interpreter
gives up: ``[`` repeated 100,000 times once ended an airlock upload in a 500). Sizes are bounded
where the bytes arrive (a request's body limit, an airlock file's size limit)."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class TooDeep(ValueError):
    """JSON nested deeper than the bound (a ``ValueError``, as any JSON that is not valid)."""


def depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings do not count)."""
    deepest = level = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        level += 1 if bracket in "[{" else -1
        deepest = max(deepest, level)
    return deepest


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, refusing a document nested more than ``max_depth`` levels deep; bytes
    must be UTF-8. Raises ``ValueError``: ``TooDeep``, ``JSONDecodeError`` or
    ``UnicodeDecodeError``."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if depth(text) > max_depth:
        raise TooDeep(f"JSON nested more than {max_depth} levels deep")
    return json.loads(text)
