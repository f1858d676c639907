"""Unfinished resumable uploads on the daemon's disk.

``<data-dir>/uploads/<id>`` holds the bytes received so far: its size *is*
the offset, so what ``HEAD`` reports is what a restart of a worker or of the
daemon finds (each ``PATCH`` is flushed with ``fdatasync`` before it is
answered). ``<id>.json`` says what the upload is (its length, where its
bytes go, the client's metadata, who made it) and, once the last byte came
and the object was stored, the answer the target face gave.

One request writes an upload at a time, in any worker: the writer holds an
``flock`` on the bytes file. Another request waits up to ``SETTLE`` seconds
for it to let go (a client that was cut and comes back at once meets its
cut PATCH still writing its last bytes), as tusd waits for an upload's
lock: a second writer is refused (``Locked``, 423) only past that, and
``HEAD`` then answers the bytes so far.

An upload expires ``TTL`` after its last write (after it finished, likewise:
its answer stays that long); expired ones are swept.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable, ContextManager, Dict, Iterator, List, Optional, Protocol

from ..errors import Gone, Locked, NotFound, TooLarge
from ..base.interprocess import run_dir
from ..base.threads import Stage
from ..storage.disk.files import remove_quietly, write_all
from ..storage.disk.writer import FLUSH_EVERY
from ..storage.interface import FinishedFile, Readable
from .ledger import Ledger

log = logging.getLogger(__name__)

TTL = 24 * 3600  # seconds an upload lives after its last write
MAX_PER_CLIENT = 64  # unfinished uploads one client address may hold at once
SWEEP_EVERY = 60.0  # seconds between sweeps (made by creations)
SETTLE = 2.0  # seconds a request waits for a running PATCH to let go of the upload
_ID_LENGTH = 32  # hex digits: 128 random bits
_RECORD_LIMIT = 64 * 1024
ADMISSION_LOCK = "tus-admission"  # in run/: held while a create counts what is unfinished and adds its own


@dataclass
class ResumableUpload:
    id: str
    length: int
    target: Dict[str, object]  # its target's record (uploads.targets.Target.record)
    metadata: str  # the Upload-Metadata to show back (no password)
    owner: str  # the client address that created it
    created: float
    result: Optional[Dict[str, object]] = field(default=None)  # the target's answer, once finished


class Writer(Protocol):
    """What the one request holding an upload does with it. ``upload``: as
    it is once held (finished meanwhile: its ``result`` is set)."""

    upload: "ResumableUpload"

    @property
    def kept(self) -> int:
        """The bytes the upload holds, as its holder sees them."""

    def append(self, stream, limit: int) -> int:
        """Add at most ``limit`` bytes of ``stream``; how many were kept."""

    def finished(self) -> Readable:
        """Every byte, as the source of the object the upload becomes
        (closed by the caller)."""


class Uploads(Protocol):
    """Where unfinished uploads are kept: on this daemon's disk
    (``UploadStore``), or in the records and the store every daemon shares
    (``tus.shared.SharedUploads``)."""

    def create(self, length: int, target: Dict[str, object], metadata: str, owner: str,
               room: Callable[[int], None] = lambda pending: None) -> "ResumableUpload": ...

    def get(self, upload_id: str) -> "ResumableUpload": ...

    def offset(self, upload: "ResumableUpload") -> int: ...

    def expires_at(self, upload: "ResumableUpload") -> float: ...

    def writing(self, upload: "ResumableUpload") -> ContextManager[Writer]: ...

    def finish(self, upload: "ResumableUpload", result: Dict[str, object]) -> None: ...

    def remove(self, upload: "ResumableUpload") -> None: ...

    def sweep(self) -> int: ...


def is_upload_id(text: str) -> bool:
    return len(text) == _ID_LENGTH and all(c in "0123456789abcdef" for c in text)


class UploadStore:
    def __init__(self, data_dir: str, clock: Callable[[], float] = time.time) -> None:
        self.root = os.path.join(data_dir, "uploads")
        os.makedirs(self.root, exist_ok=True)
        self._ledger = Ledger(run_dir(data_dir), os.path.join(run_dir(data_dir), ADMISSION_LOCK))
        self.clock = clock
        self._swept = 0.0
        # Told of each upload removed (ended, expired, given up): the tus
        # face gives back what it held against its bucket's quota.
        self.removed: Callable[[ResumableUpload], None] = lambda upload: None

    # -- records ----------------------------------------------------------------

    def create(self, length: int, target: Dict[str, object], metadata: str, owner: str,
               room: Callable[[int], None] = lambda pending: None) -> ResumableUpload:
        """A new, empty upload; ``TooManyRequests`` when ``owner`` holds
        ``MAX_PER_CLIENT`` unfinished ones already. ``room(bytes)`` is told
        what unfinished uploads have promised, this one included (and may
        refuse: the quota), from the ledger, not from every record."""
        now = self.clock()
        if now - self._swept >= SWEEP_EVERY:
            self._swept = now
            self.sweep()
        # Counted and made under one lock, in every worker: of two creates
        # that would each just fit, the second sees the first.
        with self._ledger.held() as tally:
            tally.admit(length, owner, room, MAX_PER_CLIENT)
            upload = ResumableUpload(secrets.token_hex(_ID_LENGTH // 2), length, target, metadata, owner, now)
            fd = os.open(self._bytes(upload.id), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.close(fd)
            self._write_record(upload)
        return upload

    def get(self, upload_id: str) -> ResumableUpload:
        """The upload; ``NotFound`` if there is none, ``Gone`` if it expired."""
        if not is_upload_id(upload_id):
            raise NotFound("no such upload")
        upload = self._read_record(upload_id)
        if upload is None:
            raise NotFound("no such upload")
        if self.expires_at(upload) <= self.clock():
            self.remove(upload)
            raise Gone("the upload expired")
        return upload

    def offset(self, upload: ResumableUpload) -> int:
        """Bytes received and kept: the bytes file's size (the length once
        finished), once no PATCH writes it (see ``SETTLE``). An upload
        finished since ``upload`` was read says so in its record."""
        if upload.result is not None:
            return upload.length
        try:
            fd = os.open(self._bytes(upload.id), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # stored (or removed) since it was read
            return self._now_held(upload).length
        try:
            settled = _lock(fd, fcntl.LOCK_SH)
            try:
                if not _still_named(fd, self._bytes(upload.id)):  # stored while this waited
                    return self._now_held(upload).length
                return os.fstat(fd).st_size
            finally:
                if settled:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _now_held(self, upload: ResumableUpload) -> ResumableUpload:
        """The upload as its record says now that its bytes file is gone:
        finished (the bytes are the object's), or ``NotFound``."""
        current = self._read_record(upload.id)
        if current is None or current.result is None:
            raise NotFound("no such upload")
        return current

    def expires_at(self, upload: ResumableUpload) -> float:
        try:
            last = os.stat(self._record(upload.id) if upload.result is not None else self._bytes(upload.id)).st_mtime
        except FileNotFoundError:
            last = upload.created
        return last + TTL

    def finish(self, upload: ResumableUpload, result: Dict[str, object]) -> None:
        """Keep the target's answer and let go of the bytes (the object has them)."""
        upload.result = result
        with self._ledger.held() as tally:
            self._write_record(upload)
            if remove_quietly(self._bytes(upload.id)):
                tally.take_out(upload.length, upload.owner)

    def remove(self, upload: ResumableUpload) -> None:
        with self._ledger.held() as tally:
            if remove_quietly(self._bytes(upload.id)):
                tally.take_out(upload.length, upload.owner)
            remove_quietly(self._record(upload.id))
        self.removed(upload)

    def unfinished(self) -> List[ResumableUpload]:
        found = []
        for name in os.listdir(self.root):
            if name.endswith(".json") and is_upload_id(name[:-5]):
                upload = self._read_record(name[:-5])
                if upload is not None and upload.result is None:
                    found.append(upload)
        return found

    def sweep(self) -> int:
        """Remove expired uploads (and a bytes file whose record never came);
        the number removed."""
        now, removed = self.clock(), 0
        for name in os.listdir(self.root):
            upload_id = name[:-5] if name.endswith(".json") else name
            if not is_upload_id(upload_id):
                continue
            upload = self._read_record(upload_id)
            if upload is None:
                path = os.path.join(self.root, name)
                try:
                    stale = os.stat(path).st_mtime + TTL <= now
                except FileNotFoundError:
                    continue
                if stale:
                    remove_quietly(path)
                    removed += 1
            elif self.expires_at(upload) <= now:
                self.remove(upload)
                removed += 1
                log.info("swept expired upload %s (%d of %d bytes)", upload_id, self.offset(upload), upload.length)
        self._ledger.recount(lambda: [(upload.length, upload.owner) for upload in self.unfinished()])
        return removed

    # -- bytes ------------------------------------------------------------------

    @contextmanager
    def writing(self, upload: ResumableUpload) -> Iterator["FileWriter"]:
        """The upload held by this request alone for appending (``Locked``
        while another holds it); flushed to disk on the way out. The
        writer's ``upload`` is as it is once held: another request may have
        finished it meanwhile (its ``result`` is then set, and there is
        nothing to write)."""
        try:
            fd = os.open(self._bytes(upload.id), os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError:
            yield FileWriter(self._finished_or_gone(upload), None, "")
            return
        try:
            if not _lock(fd, fcntl.LOCK_EX):
                raise Locked("another request is writing this upload; retry")
            if not _still_named(fd, self._bytes(upload.id)):  # stored, or removed, while this waited
                yield FileWriter(self._finished_or_gone(upload), None, "")
                return
            try:
                yield FileWriter(upload, fd, self._bytes(upload.id))
            finally:
                os.fdatasync(fd)
        finally:
            os.close(fd)

    def _finished_or_gone(self, upload: ResumableUpload) -> ResumableUpload:
        current = self._read_record(upload.id)
        if current is None or current.result is None:
            raise Gone("the upload was removed")
        return current

    # -- files ------------------------------------------------------------------

    def _bytes(self, upload_id: str) -> str:
        return os.path.join(self.root, upload_id)

    def _record(self, upload_id: str) -> str:
        return os.path.join(self.root, upload_id + ".json")

    def _write_record(self, upload: ResumableUpload) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".record-")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(asdict(upload), out)
                out.flush()
                os.fsync(out.fileno())
            os.rename(tmp, self._record(upload.id))
        except BaseException:
            remove_quietly(tmp)
            raise

    def _read_record(self, upload_id: str) -> Optional[ResumableUpload]:
        try:
            with open(self._record(upload_id)) as record:
                return ResumableUpload(**json.loads(record.read(_RECORD_LIMIT)))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            log.error("upload record %s does not read (%s): treated as absent", upload_id, error)
            return None


class FileWriter:
    """What the holder of an upload on this machine does with it: the bytes
    file, appended to; finished, the file itself, which the disk backend
    links into place. ``upload``: as it is once held (``fd`` None: it was
    finished meanwhile)."""

    def __init__(self, upload: ResumableUpload, fd: Optional[int], path: str) -> None:
        self.upload = upload
        self._fd = fd
        self._path = path

    @property
    def kept(self) -> int:
        """The offset as the holder sees it (``offset`` would wait on its
        very lock)."""
        return self.upload.length if self._fd is None else os.fstat(self._fd).st_size

    def append(self, stream, limit: int) -> int:
        """Copy ``stream`` to the end of the file (at most ``limit`` bytes); the
        count copied. What arrived before a failure stays written, but for a
        body longer than ``limit``: ``TooLarge``, and nothing of it is kept.
        As an upload's writer does, a helper thread flushes every few MiB so
        that writeback overlaps the transfer and the flush that answers the
        PATCH has only the tail left."""
        assert self._fd is not None
        start = os.fstat(self._fd).st_size
        buffer = memoryview(bytearray(256 * 1024))
        copied = unflushed = 0
        with Stage(os.fdatasync, name="fdatasync") as flusher:
            while copied < limit:
                count = stream.readinto(buffer[:min(len(buffer), limit - copied)])
                if not count:
                    break
                write_all(self._fd, buffer[:count])
                copied += count
                unflushed += count
                if unflushed >= FLUSH_EVERY:
                    unflushed = 0
                    flusher.offer(self._fd)  # skipped while the last flush still runs
            flusher.finish()
        try:
            refuse_longer(stream, copied, limit)
        except TooLarge:
            os.ftruncate(self._fd, start)
            raise
        return copied

    def finished(self) -> FinishedFile:
        """Every byte, as the source of the object the upload becomes."""
        return FinishedFile(self._path)


def refuse_longer(stream, copied: int, limit: int) -> None:
    """``TooLarge`` if ``stream`` holds more than the ``limit`` bytes read
    (a chunked body says so only as it goes on: one byte more is asked)."""
    if copied == limit and stream.readinto(memoryview(bytearray(1))):
        raise TooLarge("the PATCH is longer than what the upload still needs (%d bytes)" % limit)


def _still_named(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (once an upload
    is stored its name goes, though the disk backend keeps the file itself
    as the object)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _lock(fd: int, kind: int) -> bool:
    """Take ``flock`` ``kind`` on ``fd``, waiting up to ``SETTLE`` seconds
    for a writer to let go; False if it still holds it then. (``flock``
    has no timeout of its own: it is tried again at growing intervals.)"""
    deadline = time.monotonic() + SETTLE
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
