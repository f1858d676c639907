"""An unfinished multipart upload's parts laid out in one file, each at its
place in the finished object, so that completing the upload adopts the file
(one pass: its SHA-256 and block checks, which must be the parts') instead
of writing the object a second time.

Decision: S3 gives a part's place only at completion, but clients send
parts of one size but the last (boto3 and the aws cli 8 MiB, rclone 5 MiB,
restic 16 MiB). The first part laid out fixes the stride: part 1, or a part
of at least ``MIN_PART`` bytes (only the last part may be shorter, and it
often comes first: boto3 sends its parts from several threads); part N goes
at ``(N - 1) x stride`` when it is that long or shorter (the last may be).
Anything else (another size, a part sent again, a copied part) is stored as
an object of its own. Completion adopts the file when every part but the
last is in it; the last, if it is not, is copied to its place first (at
most a stride of bytes, each block checked as it is read); otherwise the
parts are read one by one: the layout is a shortcut, never a condition.

Layout, in the upload's namespace (``parts/<upload id>``):
- the file: an object path named by the stride (``00/<stride as 64 hex
  digits>``), with an index row whose size is the file's, so the store's
  usage and ``--max-bytes`` count it and the index checks know it (it is
  removed with the upload's other objects);
- ``claims/<stride>-<N>``: made (``O_EXCL``) by the one write of part N to
  its place; a part sent again finds it and is stored as an object, so the
  bytes a record names are never written over.

Writers hold a shared ``flock`` on the file while they write; completion
takes it exclusively without waiting (a part still being written means the
file is not yet the object: the parts are then read one by one), and a
writer that finds the file adopted (a second link) or gone writes nothing
there. So no byte is written to a file once it is an object.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from typing import Callable, List, Optional, Tuple

from .. import blocks
from ..blocks import BLOCK
from ...errors import CorruptObject, NotFound
from ..interface import FinishedFile, LaidPart, Layout, Readable
from ..names import Namespace
from .files import make_dirs, remove_quietly
from .writer import write_object

log = logging.getLogger(__name__)

FOLDER = "00"  # the file's shard folder: a stride's 64 hex digits begin with zeros
MIN_PART = 5 * 1024 * 1024  # bytes S3 asks of every part but the last


class LaidOut(Layout):
    """The layout of one upload's namespace (see the module docstring);
    ``backend``: the disk backend it is in."""

    def __init__(self, backend, namespace: Namespace) -> None:
        self.backend = backend
        self.namespace = namespace
        self.folder = backend.namespace_dir(namespace)
        self.claims = os.path.join(self.folder, "claims")

    def put(self, number: int, size: int, stream: Readable, hashed: Callable[[str], None]) -> Optional[LaidPart]:
        stride, new = self._stride(number, size)
        if stride is None or size > stride:
            return None
        claim = self._claim(stride, number)
        if claim is None:
            return None
        path = self._path(stride)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if new else 0), 0o600)
        except FileNotFoundError:
            remove_quietly(claim)
            return None  # removed with its upload (completed or aborted) since
        except BaseException:
            remove_quietly(claim)
            raise
        kept = False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if not _still_unadopted(fd, path):
                return None

            def check(oid: str, written: int) -> None:
                hashed(oid)
                if not _still_unadopted(fd, path):  # the upload was aborted meanwhile
                    raise NotFound("the upload ended while its part was written")

            oid, written, checks = self._write(fd, stride, number, stream, size, check)
            kept = True
            return LaidPart(oid, written, stride, checks)
        finally:
            os.close(fd)  # lets go of the lock
            if not kept:
                remove_quietly(claim)  # its place may be written again

    def read(self, number: int, size: int, stride: int, checks: List[bytes]) -> Readable:
        return _Region(self._path(stride), (number - 1) * stride, size, checks)

    def finished(self, parts: List[Tuple[int, int, int, List[bytes]]], tail: Optional[Readable] = None,
                 tail_size: int = 0) -> Optional[FinishedFile]:
        if not parts:
            return None
        stride = parts[0][2]
        laid = len(parts)
        if stride <= 0 or [number for number, _, _, _ in parts] != list(range(1, laid + 1)):
            return None
        if any(part_stride != stride or size != stride for _, size, part_stride, _ in parts[:-1]):
            return None
        if parts[-1][2] != stride or parts[-1][1] > stride or (tail is not None and
                                                                 (parts[-1][1] != stride or tail_size > stride)):
            return None
        path = self._path(stride)
        checks = [check for _, _, _, part_checks in parts for check in part_checks]
        try:
            fd = os.open(path, (os.O_RDONLY if tail is None else os.O_RDWR) | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = (laid - 1) * stride + parts[-1][1]
            if not _still_unadopted(fd, path) or os.fstat(fd).st_size != held:
                raise BlockingIOError
            if tail is not None and not self._copy_tail(fd, stride, laid + 1, tail, tail_size, checks):
                raise BlockingIOError
        except BlockingIOError:
            os.close(fd)  # a part is being written (or the file is no longer the parts alone)
            return None
        except BaseException:
            os.close(fd)
            raise
        return _Sealed(path, checks, fd, self.namespace)

    def discard(self) -> None:
        """The upload's file (whatever its parts became: a file only refused
        or cut parts were written to was never an object of the upload's),
        the claims, then the upload's folders if nothing is left in them."""
        try:
            names = os.listdir(os.path.join(self.folder, FOLDER))
        except FileNotFoundError:
            names = []
        for name in names:
            if stride_file(name):
                try:
                    self.backend.delete(self.namespace, name)  # its file, its index row, its count
                except NotFound:
                    pass
        shutil.rmtree(self.claims, ignore_errors=True)
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return
        for name in names + [""]:
            try:
                os.rmdir(os.path.join(self.folder, name))
            except OSError:
                pass  # not empty: a part stored after the upload ended, or not a folder

    def _copy_tail(self, fd: int, stride: int, number: int, tail: Readable, size: int,
                   checks: List[bytes]) -> bool:
        """Write the last part (``tail``, checked as it is read, stored apart)
        to its place, under the completion's lock, its block checks added to
        ``checks``; False if its place is claimed (nothing written)."""
        claim = self._claim(stride, number)
        if claim is None:
            return False
        def check(oid: str, written: int) -> None:
            if written != size:
                raise CorruptObject("the last part gave %d bytes, not %d" % (written, size))

        try:
            checks.extend(self._write(fd, stride, number, tail, size, check)[2])
        except BaseException:
            os.ftruncate(fd, (number - 1) * stride)
            remove_quietly(claim)
            raise
        return True

    def _write(self, fd: int, stride: int, number: int, stream: Readable, size: int,
               check: Callable[[str, int], None]) -> Tuple[str, int, List[bytes]]:
        """Part ``number`` written at its place, ``check(oid, written)``
        passed, synced, and the file's size counted: ``write_object``'s
        SHA-256, size and block checks."""
        os.lseek(fd, (number - 1) * stride, os.SEEK_SET)
        with self.backend.writing(self.namespace) as reservation:
            reservation.take_ahead(size)  # the quota refuses before a byte is written
            try:
                written = write_object(fd, stream, reservation, size)
                check(written[0], written[1])
                os.fdatasync(fd)
            except BaseException:
                # Bytes of a refused or cut part stay in the file (the part sent
                # again writes the same place) until the upload ends and takes
                # the file: counted meanwhile, as the file's size.
                try:
                    if _still_unadopted(fd, self._path(stride)):  # not taken with its upload meanwhile
                        self.backend.count_file(self.namespace, _name(stride), os.fstat(fd).st_size)
                except Exception as error:  # the refusal is what the client hears; fsck counts it later
                    log.warning("an upload's file could not be counted after a refused part: %s", error)
                raise
            self.backend.count_file(self.namespace, _name(stride), os.fstat(fd).st_size, reservation)
        return written

    def _claim(self, stride: int, number: int) -> Optional[str]:
        """The claim on part ``number``'s place, made; None if it was made before."""
        claim = os.path.join(self.claims, "%d-%d" % (stride, number))
        make_dirs(self.claims)
        try:
            os.close(os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return None
        return claim

    def _stride(self, number: int, size: int) -> Tuple[Optional[int], bool]:
        """The stride of this upload's file and False; a new one (``size``)
        and True if it has none yet and part ``number`` may fix it (whole
        blocks, and part 1 or not shorter than every part but the last must
        be); else None."""
        try:
            names = os.listdir(os.path.join(self.folder, FOLDER))
        except FileNotFoundError:
            names = []
        strides = [int(name, 16) for name in names if stride_file(name)]
        if len(strides) == 1:
            return strides[0], False
        if strides:
            return None, False  # two parts raced to make it with two sizes: the parts are read one by one
        if size <= 0 or size % BLOCK or (number > 1 and size < MIN_PART):
            return None, False
        make_dirs(os.path.join(self.folder, FOLDER))
        return size, True

    def _path(self, stride: int) -> str:
        return self.backend.object_path(self.namespace, _name(stride))


def _name(stride: int) -> str:
    return "%064x" % stride


def stride_file(name: str) -> bool:
    """A stride's name, not a part stored as an object in the same folder
    (whose SHA-256 never begins with 48 zeros)."""
    return len(name) == 64 and name.startswith("0" * 48) and all(c in "0123456789abcdef" for c in name)


def _still_unadopted(fd: int, path: str) -> bool:
    """Whether the file is still at ``path`` and nowhere else (not linked
    into place as an object, nor removed with its upload)."""
    found = os.fstat(fd)
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    return found.st_nlink == 1 and (there.st_dev, there.st_ino) == (found.st_dev, found.st_ino)


class _Sealed(FinishedFile):
    """The upload's file as its object, held (no part is written to it)
    until closed; its index row counts its bytes."""

    counted = True

    def __init__(self, path: str, checks: List[bytes], fd: int, namespace: Namespace) -> None:
        super().__init__(path, checks)
        self._fd = fd
        self.counted_in = namespace

    def close(self) -> None:
        super().close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _Region:
    """One laid-out part's bytes, a block at a time, each checked against
    the check it was written with before any of it is given."""

    def __init__(self, path: str, start: int, size: int, checks: List[bytes]) -> None:
        self._path, self._start, self._size, self._checks = path, start, size, checks
        self._fd = -1
        self._done = 0  # bytes of the part read and checked
        self._block = b""
        self._given = 0  # bytes of the current block given

    def readinto(self, buffer: memoryview) -> int:
        if self._given == len(self._block):
            if self._done == self._size:
                self.close()
                return 0
            self._next_block()
        count = min(len(buffer), len(self._block) - self._given)
        buffer[:count] = self._block[self._given:self._given + count]
        self._given += count
        return count

    def _next_block(self) -> None:
        if self._fd < 0:
            self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        index = self._done // BLOCK
        want = min(BLOCK, self._size - self._done)
        data = os.pread(self._fd, want, self._start + self._done)
        if len(data) != want or index >= len(self._checks) or not blocks.matches(data, self._checks[index]):
            raise CorruptObject("block %d of a laid-out part does not match its check" % index)
        self._block, self._given = data, 0
        self._done += want

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
