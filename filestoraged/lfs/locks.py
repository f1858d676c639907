"""Git LFS file locks, one record per locked path of a repository, in the
records store: ``meta.db`` by default, the bucket with ``--records s3``.

A lock is created with the records' conditional ``create``: of two requests
for one path, in one daemon or in two behind a balancer, exactly one gets
the lock and the other learns who holds it. A lock's id is the first 40 hex
digits of the SHA-256 of its repository and path (the record's key) and 8
random ones, so an unlock finds its record from the id alone and an old id
never unlocks a newer lock of the same path.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from ..errors import BadRequest, Forbidden, NotFound
from ..records.interface import Conflict, Records
from ..base.timestamps import iso_utc

PREFIX = "lfs-locks/"
_KEY_DIGITS = 40
MAX_PATH = 4096  # bytes of a locked path


def lock_path(text: str) -> str:
    """``text`` as git names a file of the repository, so that one file
    has one lock however a client spells it: Unicode in NFC (macOS writes
    NFD), ``/`` between names (``\\`` from Windows too), no empty or ``.``
    names; ``BadRequest`` for ``..`` or a path that names no file."""
    names = [name for name in unicodedata.normalize("NFC", text).replace("\\", "/").split("/")
             if name not in ("", ".")]
    if not names or ".." in names:
        raise BadRequest("path must name a file inside the repository (no '..'): %r" % text[:200])
    return "/".join(names)


@dataclass(frozen=True)
class LfsLock:
    id: str
    path: str
    locked_at: float
    owner: str

    def as_json(self) -> dict:
        return {"id": self.id, "path": self.path, "locked_at": iso_utc(self.locked_at), "owner": {"name": self.owner}}


class LockExists(Exception):
    """The path is locked already (``lock``: by whom)."""

    def __init__(self, lock: LfsLock) -> None:
        super().__init__("%s is locked by %s" % (lock.path, lock.owner))
        self.lock = lock


class LockStore:
    def __init__(self, records: Records) -> None:
        self.records = records

    def create(self, repo: str, path: str, owner: str) -> LfsLock:
        """Lock ``path`` for ``owner``; ``LockExists`` if anyone holds it."""
        key = _key(repo, path)
        lock = LfsLock(key[-_KEY_DIGITS:] + secrets.token_hex(4), path, self.records.now(), owner)
        try:
            self.records.create(key, {"id": lock.id, "path": path, "at": lock.locked_at, "owner": owner})
        except Conflict:
            held = self._read(key)
            if held is None:  # unlocked in between: the caller may ask again
                raise LockExists(LfsLock("", path, lock.locked_at, "someone who just let go")) from None
            raise LockExists(held) from None
        return lock

    def find(self, repo: str, lock_id: str) -> LfsLock:
        lock = self._read(PREFIX + repo + "/" + lock_id[:_KEY_DIGITS]) if _is_id(lock_id) else None
        if lock is None or lock.id != lock_id:
            raise NotFound("no lock %s" % lock_id[:60])
        return lock

    def unlock(self, repo: str, lock_id: str, owner: str, force: bool) -> LfsLock:
        """Remove a lock; ``Forbidden`` for another's lock without ``force``."""
        lock = self.find(repo, lock_id)
        if lock.owner != owner and not force:
            raise Forbidden("%s is locked by %s: only they may unlock it, or a token that may delete in the "
                            "repository with --force" % (lock.path, lock.owner))
        record = self.records.get(PREFIX + repo + "/" + lock_id[:_KEY_DIGITS])
        if record is not None and record.value.get("id") == lock_id:
            try:
                self.records.delete(PREFIX + repo + "/" + lock_id[:_KEY_DIGITS], record.version)
            except Conflict:
                raise NotFound("no lock %s" % lock_id) from None
        return lock

    def listing(self, repo: str, path: Optional[str] = None, lock_id: Optional[str] = None,
                cursor: str = "", limit: int = 100) -> Tuple[List[LfsLock], Optional[str]]:
        """Locks in key order after ``cursor``, at most ``limit``; the next cursor."""
        if path is not None:
            found = self._read(_key(repo, path))
            return ([found] if found is not None and (lock_id is None or found.id == lock_id) else []), None
        if lock_id is not None:
            try:
                return [self.find(repo, lock_id)], None
            except NotFound:
                return [], None
        locks: List[LfsLock] = []
        for key in self._keys(repo, cursor):
            lock = self._read(key)
            if lock is None:
                continue
            if len(locks) == limit:
                return locks, locks[-1].id[:_KEY_DIGITS]
            locks.append(lock)
        return locks, None

    def _keys(self, repo: str, cursor: str) -> Iterator[str]:
        prefix = PREFIX + repo + "/"
        for key in self.records.keys(prefix):
            if key[len(prefix):] > cursor:
                yield key

    def _read(self, key: str) -> Optional[LfsLock]:
        record = self.records.get(key)
        if record is None:
            return None
        value = record.value
        return LfsLock(str(value["id"]), str(value["path"]), float(value["at"]), str(value["owner"]))


def _key(repo: str, path: str) -> str:
    digest = hashlib.sha256(("%s\0%s" % (repo, path)).encode("utf-8")).hexdigest()
    return PREFIX + repo + "/" + digest[:_KEY_DIGITS]


def _is_id(text: str) -> bool:
    return len(text) == _KEY_DIGITS + 8 and all(c in "0123456789abcdef" for c in text)
