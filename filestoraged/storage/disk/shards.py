"""The disk store's folders walked: the namespaces that have one, the
objects of a namespace's shard folders (``ab/<sha256>``) in id order. What
the object index lists once it is made; before it is, and for the passes
that set it right (``indexing``, ``fsck``, ``backup``), the folders are
the truth."""

from __future__ import annotations

import os
import re
from typing import Iterable, Iterator, List, Optional, Tuple

from ..names import DEFAULT, SHARES, Namespace, is_object_id

_SHARD = re.compile(r"[0-9a-f]{2}")


def namespaces(root: str) -> List[Namespace]:
    """Every namespace that has a folder under ``root``: default, shares, each repository."""
    found = [DEFAULT, SHARES]
    repos = os.path.join(root, "repos")
    if os.path.isdir(repos):
        found += [Namespace("repos/" + name) for name in sorted(os.listdir(repos))]
    return found


def object_files(folder: str, after: str = "") -> Iterator[Tuple[str, str]]:
    """``(shard folder, object id)`` of a namespace's ``folder``, in id
    order, from after ``after``; a folder removed meanwhile (its upload's
    end, a delete) holds nothing."""
    try:
        shards = sorted(name for name in os.listdir(folder) if _SHARD.fullmatch(name) and name >= after[:2])
    except FileNotFoundError:
        return
    for shard in shards:
        shard_dir = os.path.join(folder, shard)
        try:
            names = sorted(os.listdir(shard_dir))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if is_object_id(name) and name > after:
                yield shard_dir, name


def listed(files: Iterable[Tuple[str, str]], limit: Optional[int]) -> List[Tuple[str, int]]:
    """``(object id, size)`` of ``files`` (``object_files``), at most ``limit``."""
    found: List[Tuple[str, int]] = []
    for shard_dir, name in files:
        try:
            size = os.stat(os.path.join(shard_dir, name)).st_size
        except FileNotFoundError:
            continue  # deleted while we listed
        found.append((name, size))
        if limit is not None and len(found) >= limit:
            break
    return found


def names_in(folder: str, shard: str) -> List[str]:
    """The object ids in one shard folder of a namespace's ``folder`` (none if it is not there)."""
    try:
        return [name for name in os.listdir(os.path.join(folder, shard)) if is_object_id(name)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def has_shards(folder: str) -> bool:
    """Whether a namespace's ``folder`` has a shard folder (objects may be stored)."""
    try:
        return any(_SHARD.fullmatch(name) for name in os.listdir(folder))
    except FileNotFoundError:
        return False
