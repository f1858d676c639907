"""When the bytes of a bucket's object may go: never while an S3 key names
them, an upload is about to name them, or the repository's own face
(``/data``, Git LFS, a resumable upload into it) stored them; and not kept
for ever once none of these holds them.

Records (a bucket is a repository; an object is its oid there):

- ``s3/blobs/<bucket>/<oid>``: what holds the bytes besides keys:
  ``pins`` (uploads under way, ``{pin: when}``), ``data`` (the
  repository's face stored them), ``idle`` (since when nothing holds
  them), ``removing`` (since when a removal is under way: one older than
  ``STALE_REMOVAL`` died midway, and the sweep finishes it).
- ``s3/names/<bucket>/<oid>/<encoded key>``: a key names the bytes (a
  record a name: a popular object, the empty one, is named by many keys
  at the cost of one small record each); ``…/<encoded key>,<version id>``:
  an older version of the key does (``versions``).
- ``s3/idle/<bucket>/<oid>``: the bytes held by nothing, for the sweep.

An S3 upload pins its bytes before its backend looks whether they are
stored already (``Backend.put``'s ``hashed``), names them, then unpins; a
removal first marks the blob record ``removing`` with a compare-and-swap
that fails while a pin or ``data`` holds it, then looks for names: so of a
removal and an upload, one wins, and a key never names removed bytes. An
upload that meets a removal under way waits for it, then stores its bytes
afresh. Where every daemon runs on one machine (``--records local``), a pin
is a shared hold of a lock on the blob's name instead (``NamedLocks``), and
a removal holds it exclusively from its mark to its end: the same one
winner, with no pin written. Bytes S3 does not track yet get their blob
record in the key's own commit: until then the upload holds a second lock
(``tracking:`` and the blob's name) exclusively, and whoever finds those
bytes stored meanwhile waits for its end (a ``/data`` upload, to mark them
``data`` after; a second S3 upload of them, to find them tracked), so no
write is spent before the key's; a record's ``idle`` is cleared in that
commit too. Bytes the backend held before an S3 upload touched them
(stored through ``/data``, or before there was an S3 API) count as the
repository's. A ``/data`` upload of bytes S3 already tracks marks them
``data`` right after; the sweep removes idle bytes only ``GRACE`` after
they fell idle, far beyond that moment.
"""

from __future__ import annotations

import secrets
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional

from ..base.interprocess import Held, NamedLocks
from ..errors import BackendUnavailable, Conflict, NotFound
from ..records.interface import Conflict as RecordConflict, Records
from ..storage.interface import Backend
from ..storage.names import repository
from .names import decode_key, encode_key

BLOBS = "s3/blobs/"
NAMES = "s3/names/"
IDLE = "s3/idle/"
SWEEP_TURN = "s3-sweep"
GRACE = 600.0  # seconds idle bytes are kept (a pin older than this has lapsed)
PIN_WAIT = 10.0  # seconds an upload waits for a removal of the same bytes (or their tracking) to end
SWEEP_PAGE = 1000  # idle candidates read at a time
STALE_REMOVAL = 60.0  # seconds after which a removal under way is taken for one that died
TRACKING = "tracking:"  # where pins are locks: the lock an upload holds while it may track new bytes
TRACKING_STEP = 0.005  # seconds between looks while an upload tracks bytes a /data upload relies on
RACED = "the object was removed while it was being uploaded; send it again"
UNDER_WAY = "an upload of these bytes is under way; retry"


class Pin:
    """One upload's hold on its bytes: ``hashed(oid)`` (for ``Backend.put``)
    pins them; ``known`` says whether S3 tracked them before."""

    def __init__(self, claims: "Claims", bucket: str) -> None:
        self._claims = claims
        self._bucket = bucket
        self.oid: Optional[str] = None
        self.name = ""  # its name in the blob's record, where pins are written (``Claims._pin``)
        self.known = False
        self.released = False  # let go with the key's own commit (``Claims.release``)
        self.held: Optional[Held] = None  # the shared hold, where pins are locks
        self.tracking: Optional[Held] = None  # bytes S3 did not track: held while this upload may track them
        self.created = False  # the upload stored the bytes (they were not stored before)
        self.busy = RACED  # why the pin could not be had, once it waited long enough

    def hashed(self, oid: str) -> None:
        self.known = self._claims._pin(self._bucket, oid, self)
        self.oid = oid


class Claims:
    def __init__(self, records: Records, backend: Backend, pins: Optional[Records] = None,
                 locks: Optional[NamedLocks] = None) -> None:
        """``pins``: the records an upload's pin is taken and let go in (the
        same as ``records`` by default). Decision: the daemon gives records
        that commit without an fsync (as the failed-attempt counts do): a
        pin only matters while its upload is unanswered and lapses after
        ``GRACE`` anyway, so a power cut that loses one loses nothing, and
        each S3 write spends two fsyncs fewer (a later durable commit
        carries it to the disk all the same). ``locks``: given where every
        process that may remove these bytes opens the same locks (one
        machine's), pins are holds of them and no pin is written: an upload
        costs no write before its key's commit."""
        self.records = records
        self.backend = backend
        self.pins = pins or records
        self.locks = locks
        self._stop = threading.Event()

    # -- S3 uploads -------------------------------------------------------------

    @contextmanager
    def pinned(self, bucket: str) -> Iterator[Pin]:
        """For one S3 upload: its ``Pin`` (give ``pin.hashed`` to
        ``Backend.put``), let go when the block ends, named or not."""
        pin = Pin(self, bucket)
        try:
            yield pin
        finally:
            if pin.held is not None:
                self._let_go(bucket, pin)
            elif pin.oid is not None and not pin.released:
                self._unpin(bucket, pin.oid, pin.name)

    def release(self, pin: Pin) -> None:
        """Let go of ``pin`` as part of the caller's batch, once a key names
        its bytes in that same batch: one commit for both (where the records
        batch at all), and nothing to settle after, since the name holds the
        bytes from the moment the pin stops. Call ``released`` once the
        batch is committed."""
        if pin.oid is None:
            return
        if pin.tracking is not None:  # tracked from this commit on (see ``_hold``)
            self.records.update(_blob(pin._bucket, pin.oid), _tracked(data=not pin.created))
        else:
            self.records.update(_blob(pin._bucket, pin.oid), _without(pin.name) if pin.held is None else _named)

    def stored(self, bucket: str, pin: Pin, created: bool) -> None:
        """An S3 upload stored its bytes (``created``: they were new): bytes
        it found stored before S3 tracked them are the repository's."""
        if pin.tracking is not None:
            pin.created = created
            if not created:  # found stored: the repository's, tracked now
                self.records.update(_blob(bucket, pin.oid or ""), _tracked(data=True))
                pin.tracking.release()
                pin.tracking = None
        elif not created and not pin.known:
            self._change(bucket, pin.oid or "", lambda value: None if value.get("data") else dict(value, data=True))

    def name(self, bucket: str, oid: str, key: str, version: Optional[str] = None) -> bool:
        """``key`` (its older ``version``, if given) names the bytes (under
        the upload's pin, or while another name holds them); False if it
        did already."""
        try:
            self.records.create(_name(bucket, oid, key, version), {})
            return True
        except RecordConflict:
            return False

    def unname(self, bucket: str, oid: str, key: str, version: Optional[str] = None) -> None:
        """``key`` (its older ``version``) names the bytes no more: once
        nothing holds them, they fall idle."""
        self.records.delete(_name(bucket, oid, key, version))
        self._settle(bucket, oid)

    def named(self, bucket: str, oid: str, key: str, version: Optional[str] = None) -> bool:
        """Whether ``key`` (its older ``version``) holds its claim on the bytes."""
        return self.records.get(_name(bucket, oid, key, version)) is not None

    def names(self, bucket: str, oid: str, limit: int = 1) -> List[str]:
        """Keys that name the bytes, as current or older versions (the first ``limit``)."""
        prefix = "%s%s/%s/" % (NAMES, bucket, oid)
        return [decode_key(name[len(prefix):].partition(",")[0]) for name in self.records.keys(prefix, "", limit)]

    # -- the repository's own face ----------------------------------------------

    def relied_on(self, bucket: str, oid: str) -> None:
        """A ``/data`` upload stored (or found) these bytes: if S3 tracks
        them, they are the repository's too from now on. If a removal was
        under way, they are checked for once it ended (``BackendUnavailable``
        if they went: send again). Of a ``/data`` upload and a ``/data``
        DELETE racing, the upload comes first, as it always did."""
        deadline = time.monotonic() + PIN_WAIT
        waited = False
        while True:
            record = self.records.get(_blob(bucket, oid))
            if record is None and not self._tracking(bucket, oid):
                break
            if record is None:  # an S3 upload tracks these bytes in its key's commit: marked after it
                if time.monotonic() >= deadline:
                    raise BackendUnavailable(UNDER_WAY)
                self._stop.wait(TRACKING_STEP)
                continue
            if record.value.get("data") or record.value.get("by") == "delete":
                break
            if record.value.get("removing") is None:
                try:
                    self.records.replace(_blob(bucket, oid), dict(record.value, data=True, idle=None),
                                         record.version)
                    break
                except RecordConflict:
                    continue
            if time.monotonic() >= deadline:
                raise BackendUnavailable(RACED)
            waited = True
            self._stop.wait(0.05)
        if waited:  # a removal ended meanwhile: were these bytes stored after it, or before?
            self._still_stored(bucket, oid)

    def remove(self, bucket: str, oid: str) -> None:
        """A ``/data`` DELETE: the bytes go now, unless a key names them
        (``Conflict``, 409, naming one) or an upload is about to."""
        with self._removal(bucket, oid) as free:
            if not free:
                raise Conflict(UNDER_WAY).as_s3("OperationAborted")
            while True:
                record = self.records.get(_blob(bucket, oid))
                value = dict(record.value) if record is not None else {"pins": {}}
                if self._live_pins(value):
                    raise Conflict(UNDER_WAY).as_s3("OperationAborted")
                if not self._claim_removal(bucket, oid, record, value, "delete"):
                    continue
                named = self.names(bucket, oid)
                if named:  # refused: put back what holds them
                    data = bool(value.get("data"))
                    self._change(bucket, oid, lambda value, data=data: dict(value, removing=None, by=None,
                                                                           data=data))
                    raise Conflict("the S3 key %r of bucket %s names these bytes: delete it first (S3 "
                                   "DeleteObject)" % (named[0][:200], bucket))
                try:
                    self.backend.delete(repository(bucket), oid)
                finally:
                    self._forget(bucket, oid)
                return

    # -- the sweep --------------------------------------------------------------

    def sweep(self, interval: float, wait: bool = False) -> int:
        """Remove bytes idle for ``GRACE``; how many. Without ``wait`` (the
        timer), only if no daemon swept in the last half ``interval``."""
        now = self.records.now()
        if not wait and self.records.update(SWEEP_TURN, lambda value: None if value and now - value["at"] <
                                            interval / 2 else {"at": now}) is None:
            return 0
        removed, cursor = 0, ""
        while True:
            page = list(self.records.keys(IDLE, cursor, SWEEP_PAGE))
            for name in page:
                bucket, oid = name[len(IDLE):].split("/", 1)
                removed += self._sweep_one(bucket, oid, now)
            if len(page) < SWEEP_PAGE:
                return removed
            cursor = page[-1]

    def _sweep_one(self, bucket: str, oid: str, now: float) -> int:
        with self._removal(bucket, oid) as free:
            return self._sweep_free(bucket, oid, now) if free else 0

    def _sweep_free(self, bucket: str, oid: str, now: float) -> int:
        record = self.records.get(_blob(bucket, oid))
        if record is None:
            self.records.delete(_idle(bucket, oid))
            return 0
        value = dict(record.value)
        removing = value.get("removing")
        if removing is not None and now - float(removing) < STALE_REMOVAL:
            return 0  # another is removing it
        if removing is None:  # else a removal died midway: finish the work
            if self._holds(bucket, oid, value) or value.get("idle") is None:
                self.records.delete(_idle(bucket, oid))
                return 0
            if now - float(value["idle"]) < GRACE or not self._claim_removal(bucket, oid, record, value, "sweep"):
                return 0
            if self.names(bucket, oid):  # named after all: kept
                self._change(bucket, oid, lambda value: dict(value, removing=None, by=None, idle=None))
                self.records.delete(_idle(bucket, oid))
                return 0
        try:
            self.backend.delete(repository(bucket), oid)
            removed = 1
        except NotFound:
            removed = 0
        self._forget(bucket, oid)
        return removed

    def close(self) -> None:
        self._stop.set()

    # -- the blob record --------------------------------------------------------

    def _pin(self, bucket: str, oid: str, pin: Pin) -> bool:
        """Pin the bytes, waiting up to ``PIN_WAIT`` for a removal under way
        to end; True if S3 tracked them before."""
        deadline = time.monotonic() + PIN_WAIT
        take = self._hold if self.locks is not None else self._write_pin
        while True:
            known = take(bucket, oid, pin)
            if known is not None:
                return known
            if time.monotonic() >= deadline:
                raise BackendUnavailable(pin.busy)
            self._stop.wait(0.05)

    def _hold(self, bucket: str, oid: str, pin: Pin) -> Optional[bool]:
        """Where pins are locks: the shared hold taken (None while a removal
        holds the bytes, or another upload may track them); whether S3
        tracked them before. Bytes it did not: this upload holds the right
        to track them (``pin.tracking``, exclusive) until its key's commit
        tracks them, or its end (see the module's docstring)."""
        assert self.locks is not None
        name = _blob(bucket, oid)
        pin.held = self.locks.try_hold(name, exclusive=False)
        if pin.held is None:
            return None
        if self.records.get(name) is not None:
            return True
        pin.tracking = self.locks.try_hold(TRACKING + name, exclusive=True)
        if pin.tracking is None:  # another upload may track them: this one waits for its end
            pin.busy = UNDER_WAY
            self._let_go(bucket, pin)
            return None
        # Tracked by another upload since the look above, they stay as that
        # one left them (``_tracked``): only a holder of the lock tracks.
        return False

    def _write_pin(self, bucket: str, oid: str, pin: Pin) -> Optional[bool]:
        """The pin written in the blob's record (None while a removal is
        under way); whether S3 tracked the bytes before."""
        pin.name = pin.name or "pin-" + secrets.token_hex(8)
        known: List[bool] = [False]

        def add(value: Optional[dict]) -> Optional[dict]:
            known[0] = value is not None
            value = dict(value or {"data": False})
            if value.get("removing") is not None:
                return None
            pins = dict(self._live_pins(value), **{pin.name: self.records.now()})
            return dict(value, pins=pins, idle=None)

        return known[0] if self.pins.update(_blob(bucket, oid), add) is not None else None

    def _unpin(self, bucket: str, oid: str, name: str) -> None:
        self.pins.update(_blob(bucket, oid), _without(name))
        self._settle(bucket, oid)

    def _let_go(self, bucket: str, pin: Pin) -> None:
        """Where pins are locks, the end of an upload: bytes that no key
        came to name fall idle (unless something else holds them); one
        whose pin failed stored nothing."""
        assert pin.held is not None
        try:
            if not pin.released and pin.oid is not None:
                if pin.tracking is not None and pin.created:  # stored, but no key came to name them
                    self.records.update(_blob(bucket, pin.oid), _tracked(data=False))
                self._settle(bucket, pin.oid)
        finally:
            if pin.tracking is not None:
                pin.tracking.release()
                pin.tracking = None
            pin.held.release()
            pin.held = None

    @contextmanager
    def _removal(self, bucket: str, oid: str) -> Iterator[bool]:
        """For a removal: whether no upload holds the bytes where pins are
        locks (then held exclusively to the end of the block, so that none
        begins); True otherwise (the blob record's pins say)."""
        if self.locks is None:
            yield True
            return
        held = self.locks.try_hold(_blob(bucket, oid), exclusive=True)
        try:
            yield held is not None
        finally:
            if held is not None:
                held.release()

    def _settle(self, bucket: str, oid: str) -> None:
        """If nothing holds the bytes any more, they fall idle (swept ``GRACE`` later)."""
        record = self.records.get(_blob(bucket, oid))
        if record is None or record.value.get("idle") is not None or self._holds(bucket, oid, record.value):
            return
        now = self.records.now()
        self._change(bucket, oid, lambda value: None if value.get("idle") is not None else dict(value, idle=now))
        try:
            self.records.create(_idle(bucket, oid), {})
        except RecordConflict:
            pass

    def _tracking(self, bucket: str, oid: str) -> bool:
        """Whether an S3 upload holds untracked bytes it may track (``_hold``)."""
        return self.locks is not None and self.locks.held(TRACKING + _blob(bucket, oid))

    def _holds(self, bucket: str, oid: str, value: dict) -> bool:
        return bool(value.get("data") or self._live_pins(value) or self.names(bucket, oid))

    def _live_pins(self, value: dict) -> dict:
        now = self.records.now()
        return {pin: at for pin, at in value.get("pins", {}).items() if now - at < GRACE}

    def _claim_removal(self, bucket: str, oid: str, record, value: dict, by: str) -> bool:
        """Mark the blob ``removing`` (``by``: a ``/data`` DELETE, or the
        sweep) if it is still as read (nothing but names, and the
        repository's hold a DELETE lets go of, may hold it: the caller looks
        for names after); False if it changed."""
        marked = dict(value, data=False, removing=self.records.now(), by=by)
        try:
            if record is None:
                self.records.create(_blob(bucket, oid), marked)
            else:
                self.records.replace(_blob(bucket, oid), marked, record.version)
            return True
        except RecordConflict:
            return False

    def _change(self, bucket: str, oid: str, change: Callable[[dict], Optional[dict]]) -> None:
        self.records.update(_blob(bucket, oid), lambda value: None if value is None else change(value))

    def _forget(self, bucket: str, oid: str) -> None:
        self.records.delete(_blob(bucket, oid))
        self.records.delete(_idle(bucket, oid))

    def _still_stored(self, bucket: str, oid: str) -> None:
        try:
            self.backend.stat(repository(bucket), oid)
        except NotFound:
            raise BackendUnavailable(RACED) from None


def _without(name: str) -> Callable[[Optional[dict]], Optional[dict]]:
    """The change that takes the pin ``name`` out of a blob's record."""
    def drop(value: Optional[dict]) -> Optional[dict]:
        if value is None or name not in value.get("pins", {}):
            return None
        return dict(value, pins={held: at for held, at in value["pins"].items() if held != name})

    return drop


def _tracked(data: bool) -> Callable[[Optional[dict]], Optional[dict]]:
    """Where pins are locks, the change that makes S3 track bytes it did
    not (``data``: they are the repository's too); on a record another
    upload made before this one held the lock, ``_named``'s (S3 tracked
    them first: whether they are the repository's, that record says)."""
    def track(value: Optional[dict]) -> Optional[dict]:
        return {"data": data} if value is None else _named(value)

    return track


def _named(value: Optional[dict]) -> Optional[dict]:
    """Where pins are locks, the change a key's naming makes: what no
    longer holds made right, ``idle`` (named now) and the mark of a removal
    that died (one alive would hold the lock); nothing written otherwise."""
    if value is None or (value.get("idle") is None and value.get("removing") is None):
        return None
    return dict(value, idle=None, removing=None, by=None)


def _blob(bucket: str, oid: str) -> str:
    return "%s%s/%s" % (BLOBS, bucket, oid)


def _idle(bucket: str, oid: str) -> str:
    return "%s%s/%s" % (IDLE, bucket, oid)


def _name(bucket: str, oid: str, key: str, version: Optional[str] = None) -> str:
    return "%s%s/%s/%s%s" % (NAMES, bucket, oid, encode_key(key), "," + version if version else "")
