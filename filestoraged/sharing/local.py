"""Share links: records in SQLite (``meta.db``), counting, passwords, clean-up.

A link points at a blob in the private ``shares`` namespace. Downloads are
counted with a reservation: ``reserve`` takes one of the link's remaining
downloads before the transfer starts (so two concurrent GETs of a
download-once link cannot both get it), ``finish(complete=True)`` turns it
into a download, ``finish(complete=False)`` gives it back (a dropped
connection does not burn the link). Reservations left by a crash are given
back at start.

Blobs are shared by links with the same bytes and removed once no live
link needs them: the blob of a link used up or deleted at once
(``release``, by the sweeper thread), the rest by ``sweep``. The race to
close: an upload stores bytes that are already there (dedupe), then the
blob is removed before the upload's link exists. Each upload pins its blob
(``share_pins``) once its bytes are hashed and before the backend looks for
them, until its link is made; a pinned blob is never removed. A blob that
no link names yet is left alone for ``ORPHAN_GRACE`` (a crashed upload's
leftover). ``_blob_lock`` orders the rest: a removal re-checks links and
pins and deletes one blob under it, and pinning, and ``create``'s check
that the blob still exists and insert of the link, take it too. No lock is
held through an upload, so uploads never starve the sweep (nor the other way).

Across worker processes: reservations are conditional updates in SQLite, so
exactly one of the requests racing for a link's last download wins whatever
worker each lands in. Each is also recorded in ``share_holds`` with the
worker's pid, so that when a worker dies the parent gives back only its
reservations (``give_back``). ``_blob_lock`` and the sweep's lock are file
locks in ``<data-dir>/run/``: one sweep at a time over all workers.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from typing import Callable, Dict, Optional

from ..errors import BackendUnavailable, Forbidden, Gone, NotFound
from ..base.sqlite import DatabaseStore, transaction
from ..storage.names import SHARES
from ..base.interprocess import ProcessLock, run_dir
from ..storage.interface import Backend
from .rules import (NEEDS_BLOB, ORPHAN_GRACE, PIN_SECONDS, SCHEMA, TOMBSTONE_SECONDS, Link, LinkRules,
                    NewLink, token_hash)
from ..records.interface import Records
from .passwords import Passwords
from .sweeper import Sweeper

log = logging.getLogger(__name__)

class ShareStore(LinkRules, DatabaseStore):
    def __init__(self, path: str, backend: Backend, throttle: Records, clock: Callable[[], float] = time.time,
                 worker: bool = False) -> None:
        """``worker``: one of several worker processes; the parent gives back
        the reservations of dead workers. Else this process is the only one,
        and what a previous run left reserved is given back now."""
        self.backend = backend
        self.clock = clock
        # _lock (DatabaseStore's) guards the database connection; it is never
        # held through backend I/O. _blob_lock orders blob removal against
        # linking (see the module docstring); when both are taken, _blob_lock first.
        super().__init__(path, SCHEMA)
        run = run_dir(os.path.dirname(path))
        self._blob_lock = ProcessLock(os.path.join(run, "share-blobs.lock"))
        self._sweeping = ProcessLock(os.path.join(run, "share-sweep.lock"))
        self._sweeper = Sweeper(lambda: self.sweep(wait=False), self.release)
        self._orphans: Dict[str, float] = {}  # blob no link names -> when a sweep of this process first saw it
        self.passwords = Passwords(throttle, clock)
        self._holder = os.getpid()
        if not worker:
            prepare_links(self._db, None)


    def create(self, oid: str, size: int, filename: Optional[str], content_type: Optional[str],
               password: Optional[str], max_downloads: int, expires_in: int,
               digested: Optional[tuple] = None) -> NewLink:
        link_id, delete_token, salt, digest = self.new_secrets(password, digested)
        now = self.clock()
        with self._blob_lock, self._lock:
            try:
                self.backend.stat(SHARES, oid)
            except NotFound:
                raise BackendUnavailable("the file was cleaned up while it was being uploaded; send it again") from None
            self._db.execute(
                "INSERT INTO share_links (id, oid, size, filename, content_type, password_salt, password_hash,"
                " delete_token_hash, max_downloads, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (link_id, oid, size, filename, content_type, salt, digest, token_hash(delete_token),
                 max_downloads, now, now + expires_in),
            )
        return NewLink(link_id, delete_token, now + expires_in)

    def get(self, link_id: str) -> Link:
        with self._lock:
            row = self._db.execute("SELECT * FROM share_links WHERE id = ?", (link_id,)).fetchone()
        if row is None:
            raise NotFound("no such link")
        return Link(*row)

    def reserve(self, link_id: str) -> str:
        """Take one of the remaining downloads for a transfer; ``Gone`` if
        none is left. The ticket ``finish`` takes (here the link's id)."""
        with self._lock, self.transaction() as db:
            taken = db.execute(
                "UPDATE share_links SET in_flight = in_flight + 1 WHERE id = ? AND deleted = 0"
                " AND expires_at > ? AND downloads + in_flight < max_downloads",
                (link_id, self.clock()),
            ).rowcount
            if taken:
                db.execute("INSERT INTO share_holds VALUES (?, ?)", (link_id, self._holder))
        if not taken:
            raise Gone("this link has no downloads left")
        return link_id

    def finish(self, link_id: str, complete: bool) -> None:
        """End a reserved transfer (its ticket): count it if complete, else give it back."""
        with self._lock, self.transaction() as db:
            db.execute(
                "UPDATE share_links SET in_flight = in_flight - 1, downloads = downloads + ? WHERE id = ?",
                (1 if complete else 0, link_id),
            )
            db.execute("DELETE FROM share_holds WHERE rowid = (SELECT rowid FROM share_holds"
                       " WHERE link_id = ? AND holder = ? LIMIT 1)", (link_id, self._holder))

    def refund(self, ticket: str, link_id: str) -> None:
        """Give back a download counted by ``finish`` whose last piece then failed to leave."""
        with self._lock:
            self._db.execute("UPDATE share_links SET downloads = downloads - 1 WHERE id = ? AND downloads > 0",
                             (link_id,))

    def pin(self, oid: str) -> str:
        with self._blob_lock, self._lock:
            return str(self._db.execute("INSERT INTO share_pins VALUES (?, ?)",
                                        (oid, self.clock() + PIN_SECONDS)).lastrowid)

    def unpin(self, oid: str, pin: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM share_pins WHERE rowid = ?", (int(pin),))

    def delete(self, link_id: str, token: Optional[str], any_link: bool = False) -> str:
        """Delete with the link's delete token, or ``any_link`` (an API token
        with the ``share:delete`` scope); the blob it named."""
        link = self.get(link_id)
        if not any_link and (not token or not hmac.compare_digest(token_hash(token), link.delete_token_hash)):
            raise Forbidden("a valid X-Delete-Token header is required")
        with self._lock:
            changed = self._db.execute(
                "UPDATE share_links SET deleted = 1 WHERE id = ? AND deleted = 0", (link_id,)
            ).rowcount
        if not changed:
            raise Gone("this link was deleted already")
        return link.oid


    def sweep(self, wait: bool = True) -> int:
        """Remove blobs no live link needs, and old dead links; return blobs
        removed. One sweep at a time over all workers; ``wait=False``: none
        if another is running."""
        if not self._sweeping.acquire(wait):
            return 0
        try:
            return self._sweep()
        finally:
            self._sweeping.release()

    def _sweep(self) -> int:
        now = self.clock()
        with self._lock:
            linked = {row[0] for row in self._db.execute(
                "SELECT DISTINCT oid FROM share_links WHERE blob_released = 0")}
            needed = {row[0] for row in self._db.execute(
                "SELECT DISTINCT oid FROM share_links WHERE " + NEEDS_BLOB, (now,))}
        stored = {info.oid for info in self.backend.list(SHARES)}
        # A blob no link names yet may be an upload between storing its bytes
        # and making its link: it is removed only once it has stayed so for
        # ORPHAN_GRACE (a failed upload's leftover).
        orphans = stored - linked - needed
        self._orphans = {oid: self._orphans.get(oid, now) for oid in orphans}
        ripe = {oid for oid, seen in self._orphans.items() if now - seen >= ORPHAN_GRACE}
        # A blob links no longer need goes now, unless an upload pinned it.
        removed = sum(self._remove(oid, now) for oid in sorted(ripe | (linked - needed)))
        self.passwords.wrong.prune(now)
        with self._lock:
            self._db.execute(
                "DELETE FROM share_links WHERE blob_released = 1 AND NOT " + NEEDS_BLOB
                + " AND max(expires_at, created_at) < ?", (now, now - TOMBSTONE_SECONDS))
            self._db.execute("DELETE FROM share_pins WHERE until <= ?", (now,))
        return removed

    def release(self, oid: str) -> int:
        """A link to ``oid`` was used up or deleted: remove its blob now if
        no live link needs it and no upload pinned it; 1 if removed."""
        with self._lock:
            named = self._db.execute("SELECT 1 FROM share_links WHERE oid = ? AND blob_released = 0",
                                     (oid,)).fetchone()
        return self._remove(oid, self.clock()) if named else 0

    def _remove(self, oid: str, now: float) -> int:
        with self._blob_lock:
            with self._lock:  # a link or a pin may have been made for these bytes since
                if self._db.execute("SELECT 1 FROM share_links WHERE oid = ? AND " + NEEDS_BLOB
                                    + " UNION ALL SELECT 1 FROM share_pins WHERE oid = ? AND until > ?",
                                    (oid, now, oid, now)).fetchone():
                    return 0
            try:
                self.backend.delete(SHARES, oid)
                removed = 1
            except NotFound:
                removed = 0
            with self._lock:
                self._db.execute("UPDATE share_links SET blob_released = 1 WHERE oid = ?", (oid,))
            self._orphans.pop(oid, None)
            return removed

    def start_sweeper(self, interval: float) -> None:
        """Sweep every ``interval`` seconds (expired links), and look at a
        blob at once after ``wake_sweeper`` (a link to it used up or deleted)."""
        self._sweeper.start(interval)

    def wake_sweeper(self, oid: str) -> None:
        self._sweeper.wake(oid)

    def close(self) -> None:
        self._sweeper.close()
        self.passwords.close()
        self._blob_lock.close()
        self._sweeping.close()
        super().close()


def prepare_links(db, holder: Optional[int]) -> None:
    """Make sure the tables exist, and give back the reservations of the
    worker process ``holder`` (which died: its transfers will never finish),
    or of every process (None: none runs yet)."""
    db.executescript(SCHEMA)
    with transaction(db):
        if holder is None:
            db.execute("UPDATE share_links SET in_flight = 0 WHERE in_flight > 0")
            db.execute("DELETE FROM share_holds")
        else:
            db.execute("UPDATE share_links SET in_flight = max(0, in_flight - (SELECT count(*) FROM share_holds"
                       " WHERE holder = ? AND link_id = id)) WHERE id IN"
                       " (SELECT link_id FROM share_holds WHERE holder = ?)", (holder, holder))
            db.execute("DELETE FROM share_holds WHERE holder = ?", (holder,))

