"""What a command run as root (``sudo filestoraged token create``,
``fsck``, ``backup``, ``restore``) leaves in a data directory another user
owns (the service's): made that user's, so that the daemon, run as that
user, can open it. Without it the records, their lock and ``run/`` were
root's, and the service then stopped at start (``cannot use the data
directory …/run/daemon.lock (Permission denied)``)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator

from ..errors import Forbidden

_MARGIN_NS = 2_000_000_000  # a folder changed this close before the command began is looked into too


@contextmanager
def for_its_owner(folder: str) -> Iterator[None]:
    """Run the block; then, where this process is root and ``folder``
    belongs to another user, give that user (and its group) every file and
    folder in ``folder`` the block left to root. Only folders that root
    owns, or that changed while the block ran, are looked into, so a store
    of millions of objects is not walked for a token. ``Forbidden`` where
    what was made cannot be given (it names the command to run instead)."""
    try:
        owner = os.stat(folder)
    except FileNotFoundError:
        owner = None
    if os.geteuid() != 0 or owner is None or owner.st_uid == 0:
        yield
        return
    began = time.time_ns() - _MARGIN_NS
    try:
        yield
    finally:
        give(folder, owner.st_uid, owner.st_gid, began)


def give(folder: str, uid: int, gid: int, since_ns: int = 0) -> None:
    """Every entry under ``folder`` that root owns made ``uid``'s, looking
    into the folders root owns or that changed after ``since_ns``."""
    try:
        for entry in os.scandir(folder):
            info = entry.stat(follow_symlinks=False)
            if info.st_uid == 0:
                os.lchown(entry.path, uid, gid)
            if entry.is_dir(follow_symlinks=False) and (info.st_uid == 0 or info.st_mtime_ns >= since_ns):
                give(entry.path, uid, gid, since_ns)
    except PermissionError as error:
        raise Forbidden("%s belongs to uid %d, and what this command made in it cannot be given to it (%s): run "
                        "the command as that user (sudo -u '#%d' filestoraged ...)" % (folder, uid, error, uid)
                        ) from None
