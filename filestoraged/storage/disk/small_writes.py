"""Small objects made durable by the journal (``journal``), not each by
syncs of its own.

An object of at most ``SMALL`` bytes put to the disk backend is written to
the journal first, where writers at once share one ``fdatasync``; once
that returns, its file is written and linked into place as any object's
is, but not synced, nor its folder: the journal holds it until a
checkpoint (every ``CHECKPOINT_SECONDS``, by whichever process of the
store takes its turn) syncs the file system and retires the journal. So
an object at rest is still one hash-sharded file named by its SHA-256,
read, listed, backed up and checked as before.

Decision: 64 KiB. Past it the object's own write, not its syncs, is most
of what it costs, and its bytes would be written twice (journal and
file); below it a put's two syncs (its file, its folder) were about a
quarter of its CPU here.

A removal of a small object is written to the journal (and synced) before
its file goes, so that no replay brings it back. At a daemon's start,
before it serves (``replay``), the puts the journals still hold and no
removal took back are checked against their files: one missing or not
whole (a power cut took what was not synced) is written again from the
journal's checked bytes.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import List, Tuple

from ...base.interprocess import run_dir
from ...base.periodic import Periodic
from ...base.streams import fill
from ..names import Namespace
from .files import (TempFile, fsync_dir, get_content_type, make_dirs, namespace_folder, object_file, remove_quietly,
                    set_content_type, write_all)
from .journal import Journal
from .journal_records import Record, journals, read_all, standing

log = logging.getLogger(__name__)

SMALL = 64 * 1024
CHECKPOINT_SECONDS = 1.0
FOLDER = ".journal"


def journal_dir(root: str) -> str:
    return os.path.join(root, FOLDER)


class SmallWrites:
    """This process's use of the store's journal, and its turn at checkpoints."""

    def __init__(self, root: str, checkpoints: bool = True) -> None:
        # Idle holds only where this process's checkpoints run: others' wait for them.
        self.journal = Journal(journal_dir(root), run_dir(root), idle_holds=checkpoints)
        self._checkpointer = (Periodic("journal", CHECKPOINT_SECONDS, self.journal.checkpoint).start()
                              if checkpoints else None)

    def gone(self, namespace: Namespace, oid: str) -> None:
        """A small object's removal on disk in the journal, before its file goes."""
        with self.journal.recording() as recording:
            recording.gone(namespace.path, oid)

    def close(self) -> None:
        """Stop, with what was journaled made durable at rest (unless
        another process checkpoints now: its turn covers it, or the next start's)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        try:
            self.journal.checkpoint()
        finally:
            self.journal.close()


class Prefixed:
    """A stream's first bytes, read already, then the rest of it."""

    def __init__(self, head: bytes, rest) -> None:
        self._head = memoryview(head)
        self._rest = rest
        self.left = None if getattr(rest, "left", None) is None else len(head) + rest.left

    def readinto(self, buffer: memoryview) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            if self.left is not None:
                self.left -= count
            return count
        count = self._rest.readinto(buffer)
        if self.left is not None:
            self.left -= count
        return count


def read_head(stream, most: int) -> bytes:
    """Up to ``most`` bytes of ``stream`` (fewer only at its end). A stream
    that says how much is left (``left``) is read into a buffer of that
    much and one byte, not one of ``most`` bytes made and zeroed for a
    body of a few: its last read finds its end, where a stream may check
    what follows its bytes (an aws-chunked body's trailing checksum)."""
    left = getattr(stream, "left", None)
    size = left + 1 if left is not None and left < most else most
    buffer = bytearray(size)
    count = fill(stream, memoryview(buffer))
    if count < size:
        del buffer[count:]
    return bytes(buffer)


def replay(root: str) -> int:
    """The journals a previous run left, replayed (see the module
    docstring); by the daemon alone on ``root``, at its start, before it
    marks its run. How many objects had to be written again (the object
    index must then be checked: they may lack rows)."""
    journal = Journal(journal_dir(root), run_dir(root))
    restored = []
    try:
        journal.replay(lambda record: restored.append(record) if _restore(root, record) else None)
    finally:
        journal.close()
    if restored:
        log.warning("the journal gave back %d small object(s) a crash had left missing or torn", len(restored))
    return len(restored)


def check(root: str) -> Tuple[List[str], List[str]]:
    """``fsck``: what the journals hold that does not hold (where, why),
    and the objects of their standing puts not whole at rest (a start
    writes them again); beside a serving daemon the second may name a put
    under way."""
    records, dropped = read_all(journals(journal_dir(root)))
    missing = ["%s/%s" % (record.namespace or "files", record.oid) for record in standing(records)
               if not _whole(_target(root, record), record.oid)]
    return ["%s: %s" % (os.path.basename(path), why) for path, why in dropped], missing


def _target(root: str, record: Record) -> str:
    return object_file(namespace_folder(root, record.namespace), record.oid)


def _whole(target: str, oid: str) -> bool:
    try:
        with open(target, "rb") as handle:
            return hashlib.sha256(handle.read(SMALL + 1)).hexdigest() == oid
    except FileNotFoundError:
        return False


def _restore(root: str, record: Record) -> bool:
    """The object of a standing put at rest, whole; whether it had to be written again."""
    target = _target(root, record)
    if _whole(target, record.oid):
        if record.content_type and not get_content_type(target):
            set_content_type(target, record.content_type)
        return False
    tmp_dir = os.path.join(root, ".tmp")
    os.makedirs(tmp_dir, exist_ok=True)
    make_dirs(os.path.dirname(target))
    with TempFile(tmp_dir, "replay") as tmp:
        write_all(tmp.fd, record.data)
        if record.content_type:
            set_content_type(tmp.fd, record.content_type)
        tmp.finish()
        remove_quietly(target)  # (torn: a whole one takes its place)
        tmp.link(target)
    fsync_dir(os.path.dirname(target))
    return True


def small_enough(stream, most: int) -> bool:
    """Whether ``stream`` may be one for the journal: it does not say its
    length (``left``), or says at most ``most``."""
    left = getattr(stream, "left", None)
    return left is None or left <= most
