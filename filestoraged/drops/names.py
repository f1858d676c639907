"""Where a file sent through a drop link lands: its name made safe (no path
leaves the link's folder), then the first of ``name``, ``name (2)``,
``name (3)``... that names nothing yet in the bucket, so that a file never
replaces another."""

from __future__ import annotations

import re
from typing import Callable

from ..base.header_values import MAX_FILE_NAME, is_file_name
from ..errors import Conflict

MOST_TRIES = 100  # names tried for one file before it is refused
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069/\\\\:*?\"<>|]")


def safe_name(sent: str) -> str:
    """``sent`` (a browser's file name, a path curl was given) as a name
    that stays in the folder: its last path segment, without control or
    bidirectional characters, characters Windows refuses, or leading dots
    and blanks; at most ``MAX_FILE_NAME`` bytes, its extension kept; ``file``
    for what is left empty."""
    name = sent.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    while len(name.encode("utf-8")) > MAX_FILE_NAME:
        stem, dot, extension = name.rpartition(".")
        name = (stem[:-1] + dot + extension) if dot and 0 < len(extension) < 16 and stem else name[:-1]
    name = name.strip(" .")
    return name if name and is_file_name(name) else "file"


def numbered(name: str, number: int) -> str:
    """``report.pdf`` as the ``number``-th of its name: ``report (2).pdf``."""
    if number == 1:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    return "%s (%d)%s" % (stem, number, "." + extension if extension else "")


def free_key(prefix: str, name: str, taken: Callable[[str], bool]) -> str:
    """The first key of the folder ``prefix`` for ``name`` that ``taken``
    says names nothing; ``Conflict`` after ``MOST_TRIES``."""
    for number in range(1, MOST_TRIES + 1):
        key = prefix + numbered(name, number)
        if not taken(key):
            return key
    raise Conflict("%d files named %s are there already: rename it" % (MOST_TRIES, name[:100]))
