"""Share links, kept in records: ``meta.db``'s on one machine
(``--records local``), the bucket's with ``--records s3``, where every
daemon sharing the bucket serves every link and losing a daemon loses
none of them. The logic is the same over both.

Three kinds of record:

- ``links/<id>``: the link and ``holds``, the reservations of transfers in
  flight, ``{hold id: lease end}``; a hold id begins with its holder (the
  worker's pid on one machine), so a dead worker's can be given back.
- ``share-blobs/<oid>``: who may need a blob (``holds.blobs``): ``pins``
  (link id, or an upload's pin, -> when it was pinned), ``idle`` (when a
  sweep first found it unpinned) and ``removing`` (since when a sweep is
  deleting it).
- ``share-sweep``: when the last timed sweep began, so that the daemons
  (or workers) take turns instead of all sweeping every interval.

Counting is exact over any number of daemons: a reservation is one
compare-and-swap that adds a hold only while downloads + live holds <
max_downloads. A hold is a lease: the daemon renews its holds while their
transfers run (``LEASE_RENEWALS`` times a lease), so the reservations of a
daemon killed mid-download come back once its leases run out; on one
machine sooner, when the parent gives back a dead worker's holds, and at
start (``give_back``). Expiry, leases and graces are judged by the records'
clock (the store's ``Date`` in a bucket), never by each daemon's own.

How a blob's removal and a new link to it never cross: ``sweep``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import BackendUnavailable, FileStoreError, Forbidden, Gone, NotFound
from ..records.interface import Records
from ..storage.interface import Backend
from ..storage.names import SHARES
from .rules import Link, LinkRules, NewLink, check_alive, token_hash
from .passwords import Passwords
from .sweep import LINKS, RACED, LinkSweep, link_of, live_holds, made_key, made_prefix
from .sweeper import Sweeper

log = logging.getLogger(__name__)

LEASE_RENEWALS = 3  # a transfer's hold is renewed this many times per lease


class LinkStore(LinkRules):
    """Share links in ``records`` (see the module docstring)."""

    def __init__(self, records: Records, backend: Backend, throttle: Records, lease: float = 60.0,
                 holder: Optional[str] = None) -> None:
        """``lease``: seconds a reservation outlives a daemon that stopped
        renewing it; ``holder``: what this process's hold ids begin with (a
        worker's pid, for ``give_back``; random if not given)."""
        self.holder = holder or secrets.token_hex(4)
        self.records = records
        self.backend = backend
        self.clock = records.now
        self.lease = lease
        self.passwords = Passwords(throttle, records.now)
        self._holds: Dict[str, str] = {}  # hold id -> link id: this process's transfers in flight
        self._uncounted: Dict[str, str] = {}  # likewise, of downloads complete but not counted yet
        # hold id -> when (time.monotonic) its lease runs out as far as this
        # process knows: set when taken, moved on by each renewal written.
        self._secured: Dict[str, float] = {}
        self._holds_lock = threading.Lock()
        self._sweep = LinkSweep(records, backend, self.passwords)
        self._interval = 60.0
        self._stop = threading.Event()
        self._sweeper = Sweeper(lambda: self.sweep(wait=False), self.release)
        self._threads: List[threading.Thread] = []
        # Told, before a completed download is counted (it may use the link up), the link's id (the
        # store's events: ``catalog.notifications``), so that no link is used up untold.
        self.spending: Callable[[str], None] = lambda link_id: None

    def create(self, oid: str, size: int, filename: Optional[str], content_type: Optional[str],
               password: Optional[str], max_downloads: int, expires_in: int,
               digested: Optional[tuple] = None, maker: Optional[str] = None) -> NewLink:
        """A link to the blob ``oid``; ``maker``: the name of the token that
        made it, under which ``made_by`` lists it."""
        link_id, delete_token, salt, digest = self.new_secrets(password, digested)
        now = self.clock()
        self._sweep.pin_for(oid, link_id, self._stop,
                            also=lambda: self._sweep.schedule_link(link_id, oid, now, now + expires_in))
        try:
            self.backend.stat(SHARES, oid)
        except NotFound:
            raise BackendUnavailable(RACED) from None
        value = {"oid": oid, "size": size, "filename": filename, "content_type": content_type,
                 "salt": salt.hex() if salt else None, "hash": digest.hex() if digest else None,
                 "delete": token_hash(delete_token), "max": max_downloads, "downloads": 0, "holds": {},
                 "created": now, "expires": now + expires_in, "deleted": False, "died": None}
        if maker:
            value["maker"] = maker
        with self.records.batch():
            if maker:  # listed first: a stop between the two leaves an entry that names no link, passed over
                self.records.create(made_key(maker, now, link_id), {})
            self.records.create(LINKS + link_id, value)
        return NewLink(link_id, delete_token, now + expires_in)

    def made_by(self, maker: str, after: str = "", limit: int = 100) -> Tuple[List[Link], Optional[str]]:
        """The links the token named ``maker`` made, oldest first, a page of
        at most ``limit`` after ``after`` (a place an earlier page gave);
        the place the next page starts after (None: no more)."""
        prefix = made_prefix(maker)
        links: List[Link] = []
        now = self.clock()
        for key, _ in self.records.items(prefix, prefix + after if after else "", limit + 1):
            if len(links) == limit:
                return links, key[len(prefix):]
            link_id = key[len(prefix):].split("-", 1)[1]  # ids hold "-" too: split at the first
            record = self.records.get(LINKS + link_id)
            if record is not None:
                links.append(link_of(link_id, record.value, now))
        return links, None

    def get(self, link_id: str) -> Link:
        record = self.records.get(LINKS + link_id)
        if record is None:
            raise NotFound("no such link")
        return link_of(link_id, record.value, self.clock())

    def reserve(self, link_id: str) -> str:
        """Take one of the remaining downloads for a transfer (a hold on a
        lease); ``Gone`` if none is left. The ticket ``finish`` takes."""
        hold = "%s.%s" % (self.holder, secrets.token_hex(8))

        def take(value: Optional[dict]) -> dict:
            if value is None:
                raise NotFound("no such link")
            now = self.clock()
            holds = live_holds(value, now)
            check_alive(link_of(link_id, dict(value, holds=holds), now), now)
            holds[hold] = now + self.lease
            return dict(value, holds=holds)

        with self._holds_lock:  # renewed from now on, even while the swap is under way
            self._holds[hold] = link_id
        secured = time.monotonic() + self.lease
        try:
            with self.records.batch():  # one transaction where the records have them
                self._sweep.holding(link_id)
                self.records.update(LINKS + link_id, take)
        except BaseException:
            self._forget(hold)
            raise
        with self._holds_lock:
            self._secured[hold] = secured
        return hold

    def finish(self, hold: str, complete: bool) -> bool:
        """End a reserved transfer: count it if complete, else give it back;
        True if that used the link up (its blob may go). Raises only for a
        lapsed lease (below): a completed download whose count cannot be
        written now (the store refusing writes) keeps its hold, renewed, and
        is counted by the lease thread once the store takes writes again, so
        its slot is never given out twice; a cut one's hold runs out by itself."""
        with self._holds_lock:
            link_id = self._holds.get(hold)
        if link_id is None:
            return False
        used_up = False
        try:
            written = self._end(link_id, hold, complete)
            used_up = written is not None and written["downloads"] >= written["max"]
        except FileStoreError as error:
            if complete:
                with self._holds_lock:
                    lapsed = time.monotonic() >= self._secured.get(hold, 0.0)
                if lapsed:  # another daemon may have been given this download: the last piece must not leave
                    raise BackendUnavailable("the download could not be counted and its reservation on share "
                                             "link %s... may have lapsed (%s): the transfer is cut"
                                             % (link_id[:6], error.text)) from None
                log.warning("could not count a download of share link %s... yet (%s): retrying", link_id[:6], error)
                with self._holds_lock:
                    self._uncounted[hold] = link_id
                return False
            log.warning("could not give back a reservation on share link %s... (%s): its lease will",
                        link_id[:6], error)
        self._forget(hold)
        return used_up

    def _forget(self, hold: str) -> None:
        """This process no longer tracks ``hold`` (its transfer ended)."""
        with self._holds_lock:
            for tracked in (self._holds, self._secured, self._uncounted):
                tracked.pop(hold, None)

    def refund(self, hold: str, link_id: str) -> None:
        """Give back a download counted by ``finish`` whose last piece then
        failed to leave (if its count is still waiting to be written, the
        hold is simply given back)."""
        with self._holds_lock:
            waiting = self._uncounted.pop(hold, None)
        if waiting is not None:
            self.finish(hold, complete=False)
            return

        def give_back(value: Optional[dict]) -> Optional[dict]:
            if value is None or value["downloads"] <= 0:
                return None
            downloads = value["downloads"] - 1
            alive = not value.get("deleted") and downloads < value["max"]
            return dict(value, downloads=downloads, died=None if alive else value.get("died"))

        try:
            self.records.update(LINKS + link_id, give_back)
        except FileStoreError as error:
            log.warning("could not give back a download of share link %s... (%s)", link_id[:6], error)

    def downloads_left(self, link_id: str) -> Optional[int]:
        """How many downloads the link has left (None: no such link)."""
        record = self.records.get(LINKS + link_id)
        return None if record is None else record.value["max"] - record.value["downloads"]

    def _end(self, link_id: str, hold: str, complete: bool) -> Optional[dict]:
        if complete:
            self.spending(link_id)

        def end(value: Optional[dict]) -> Optional[dict]:
            if value is None:
                return None
            now = self.clock()
            holds = live_holds(value, now)
            if holds.pop(hold, None) is None and complete:
                log.warning("a download of share link %s... completed after its lease ran out", link_id[:6])
            downloads = value["downloads"] + (1 if complete else 0)
            used_up = downloads >= value["max"] and not value.get("died")
            return dict(value, holds=holds, downloads=downloads, **({"died": now} if used_up else {}))

        return self.records.update(LINKS + link_id, end)

    def delete(self, link_id: str, token: Optional[str], any_link: bool = False) -> str:
        """Delete with the link's delete token, or ``any_link`` (an API token
        with the ``share:delete`` scope)."""
        def kill(value: Optional[dict]) -> dict:  # the token checked on the record this swap reads
            if value is None:
                raise NotFound("no such link")
            if not any_link and (not token or not hmac.compare_digest(token_hash(token), value["delete"])):
                raise Forbidden("a valid X-Delete-Token header is required")
            if value.get("deleted"):
                raise Gone("this link was deleted already")
            return dict(value, deleted=True, died=self.clock())

        return self.records.update(LINKS + link_id, kill)["oid"]

    def pin(self, oid: str) -> str:
        return self._sweep.pin(oid, self._stop)

    def unpin(self, oid: str, pin: str) -> None:
        self._sweep.unpin(oid, pin)

    def release(self, oid: str) -> int:
        """A link to ``oid`` was used up or deleted: remove its blob now if
        nothing needs it (see ``LinkSweep.release``)."""
        return self._sweep.release(oid)

    def sweep(self, wait: bool = True) -> int:
        """Remove blobs no live link needs, and old dead links; return blobs
        removed. ``wait=False`` (the timer): only if no daemon swept in the
        last half interval."""
        if wait:  # asked for: the blobs of links just ended first
            self._sweeper.flush()
        return self._sweep.run(wait, self._interval)

    def _renew(self) -> None:
        """Count the completed downloads that could not be counted yet, and
        extend the leases of this process's other transfers in flight."""
        with self._holds_lock:
            uncounted = dict(self._uncounted)
        for hold, link_id in uncounted.items():
            try:
                self._end(link_id, hold, True)
            except FileStoreError:
                continue  # still refused: its hold is renewed below, tried again next round
            self._forget(hold)
        with self._holds_lock:
            mine: Dict[str, set] = {}
            for hold, link_id in self._holds.items():
                mine.setdefault(link_id, set()).add(hold)
        for link_id, holds in mine.items():
            extended: List[str] = []

            def extend(value: Optional[dict], holds: set = holds, extended: List[str] = extended) -> Optional[dict]:
                if value is None:
                    return None
                until = self.clock() + self.lease
                current = dict(value.get("holds", {}))
                # Only holds still in the record: one pruned as expired may
                # have been counted free by another reservation since.
                renewed = {hold: until for hold in holds if hold in current}
                extended[:] = list(renewed)
                return dict(value, holds=dict(current, **renewed)) if renewed else None

            secured = time.monotonic() + self.lease
            try:
                self.records.update(LINKS + link_id, extend)
            except FileStoreError as error:
                log.warning("could not renew the reservations on share link %s...: %s", link_id[:6], error)
                continue
            with self._holds_lock:
                for hold in extended:
                    if hold in self._holds:
                        self._secured[hold] = secured

    def start_sweeper(self, interval: float) -> None:
        """Sweep every ``interval`` seconds (taking turns with the other
        daemons), and look at a blob at once after ``wake_sweeper`` (a link
        to it used up or deleted); renew leases all along."""
        self._interval = interval
        self._sweeper.start(interval)

        def renew() -> None:
            while not self._stop.wait(self.lease / LEASE_RENEWALS):
                try:
                    self._renew()
                except Exception:  # keep going; the next round retries
                    log.exception("share link lease renewal failed")

        thread = threading.Thread(target=renew, name="share-leases", daemon=True)
        thread.start()
        self._threads.append(thread)

    def wake_sweeper(self, oid: str) -> None:
        self._sweeper.wake(oid)

    def close(self) -> None:
        self._stop.set()
        self._sweeper.close()
        for thread in self._threads:
            thread.join()
        self.passwords.close()

