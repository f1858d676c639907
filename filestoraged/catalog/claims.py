"""When the bytes of a bucket's object may go: never while an S3 key names
them, an upload is about to name them, or the repository's own face
(``/data``, Git LFS, a resumable upload into it) stored them; and not kept
for ever once none of these holds them.

Records (a bucket is a repository; an object is its oid there):

- ``s3/blobs/<bucket>/<oid>``: what holds the bytes besides keys:
  ``pins`` (uploads under way, ``{pin: when}``), ``data`` (the
  repository's face stored them), ``idle`` (since when nothing holds
  them), ``removing`` (since when a removal is under way: one older than
  ``idle_rules.STALE_REMOVAL`` died midway, and the sweep finishes it).
- ``s3/names/<bucket>/<oid>/<encoded key>``: a key names the bytes (a
  record a name: a popular object, the empty one, is named by many keys
  at the cost of one small record each); ``…/<encoded key>,<version id>``:
  an older version of the key does (``versions``).
- ``s3/due/<when>/<bucket>/<oid>``: look at these bytes then
  (``holds.due``): written when they fall idle, for ``GRACE`` later, so a
  sweep reads only bytes that may be ripe, never every idle one. (``s3/idle/<bucket>/<oid>``, the form before it, is
  moved into it by the next sweep.)

The blob records, their pins, the claim of a removal and its end are the
holds engine's (``holds.blobs``, which holds share links' bytes too); the
rule by which idle bytes go is ``idle_rules``.

An S3 upload pins its bytes before its backend looks whether they are
stored already (``Backend.put``'s ``hashed``), names them, then lets go; a
removal first keeps uploads away (``catalog.pins``: how the two exclude
each other), marks the blob record ``removing`` with a compare-and-swap
that fails while ``data`` holds it, then looks for names: so of a removal
and an upload, one wins, and a key never names removed bytes. An upload
that meets a removal under way waits for it, then stores its bytes afresh.
Bytes the backend held before an S3 upload touched them (stored through
``/data``, or before there was an S3 API) count as the repository's. A
``/data`` upload of bytes S3 already tracks marks them ``data`` right
after; the sweep removes idle bytes only ``GRACE`` after they fell idle,
far beyond that moment.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, List, Optional, Tuple

from ..base.interprocess import NamedLocks
from ..errors import BackendUnavailable, Conflict, FileStoreError, NotFound, StillUnderWay
from ..holds.blobs import BlobRecords
from ..holds.due import PAGE
from ..records.interface import Conflict as RecordConflict, Records
from ..storage.interface import Backend
from ..storage.names import repository
from .idle_rules import CLAIM, LATER, NOTHING, judged
from .names import decode_key, encode_key
from .pins import BLOBS, GRACE, PIN_WAIT, RACED, UNDER_WAY, Pin, Pins, blob, blob_id
from .upload_marks import UploadMarks

log = logging.getLogger(__name__)

NAMES = "s3/names/"
DUE = "s3/due/"
IDLE = "s3/idle/"  # idle bytes as stores made before the due index listed them
SWEEP_TURN = "s3-sweep"
TRACKING_STEP = 0.005  # seconds between looks while an upload tracks bytes a /data upload relies on


class Claims:
    def __init__(self, records: Records, backend: Backend, written: Optional[Records] = None,
                 locks: Optional[NamedLocks] = None, marks: Optional[UploadMarks] = None) -> None:
        """``written``: the records an upload's pin is written in where
        there are no ``locks`` (``records`` by default; the daemon gives
        records that commit without an fsync, see ``Pins``). ``locks``:
        given where every process that may remove these bytes opens the
        same locks (one machine's), pins are holds of them: an upload costs
        no write before its key's commit. ``marks``: with ``locks``, where
        uploads that may store new bytes mark them (``upload_marks``)."""
        self.records = records
        self.backend = backend
        self.blobs = BlobRecords(records, BLOBS, DUE, SWEEP_TURN, written)
        self.pins = Pins(self.blobs, locks, marks)
        self._stop = threading.Event()

    # -- S3 uploads -------------------------------------------------------------

    def pinned(self, bucket: str) -> Pin:
        """For one S3 upload: its ``Pin`` (give ``pin.hashed`` to
        ``Backend.put``), to hold in a ``with`` block: let go when the block
        ends, named or not."""
        return Pin(self.pins, bucket, self._settle)

    def release(self, pin: Pin) -> None:
        """Let go of ``pin`` as part of the caller's batch, once a key names
        its bytes in that same batch: one commit for both (where the records
        batch at all), and nothing to settle after, since the name holds the
        bytes from the moment the pin stops. Call ``released`` once the
        batch is committed."""
        self.pins.release(pin)

    def stored(self, pin: Pin, created: bool) -> None:
        """An S3 upload stored its bytes (``created``: they were new): bytes
        it found stored before S3 tracked them are the repository's."""
        self.pins.stored(pin, created)

    def name(self, bucket: str, oid: str, key: str, version: Optional[str] = None) -> bool:
        """``key`` (its older ``version``, if given) names the bytes (under
        the upload's pin, or while another name holds them); False if it
        did already."""
        try:
            self.records.create(name_record(bucket, oid, key, version), {})
            return True
        except RecordConflict:
            return False

    def unname(self, bucket: str, oid: str, key: str, version: Optional[str] = None, still_named: bool = False
               ) -> None:
        """``key`` (its older ``version``) names the bytes no more: once
        nothing holds them, they fall idle. ``still_named``: the caller
        knows another name of them stays (the same key's, under another
        version): nothing to settle."""
        self.records.delete(name_record(bucket, oid, key, version))
        if not still_named:
            self._settle(bucket, oid)

    def named(self, bucket: str, oid: str, key: str, version: Optional[str] = None) -> bool:
        """Whether ``key`` (its older ``version``) holds its claim on the bytes."""
        return self.records.get(name_record(bucket, oid, key, version)) is not None

    def names(self, bucket: str, oid: str, limit: int = 1) -> List[str]:
        """Keys that name the bytes, as current or older versions (the first ``limit``)."""
        prefix = "%s%s/%s/" % (NAMES, bucket, oid)
        return [decode_key(name[len(prefix):].partition(",")[0]) for name in self.records.keys(prefix, "", limit)]

    # -- the repository's own face ----------------------------------------------

    @property
    def marks_uploads(self) -> bool:
        """Whether S3 uploads mark new bytes (``upload_marks``): only then
        does ``relied_on`` need to know whether new bytes are a bucket's."""
        return self.pins.marks is not None

    def relied_on(self, bucket: str, oid: str, created: bool, in_bucket: bool = False, quota: bool = False
                  ) -> None:
        """A ``/data`` upload stored (``created``) or found these bytes: if
        S3 tracks them, they are the repository's too from now on. If a
        removal was under way, they are checked for once it ended
        (``BackendUnavailable`` if they went: send again). Of a ``/data``
        upload and a ``/data`` DELETE racing, the upload comes first, as it
        always did. ``in_bucket``: the repository is a bucket, where bytes
        no record tracks may be those of an S3 upload whose process died
        (``recover``): where uploads mark such bytes, they are tracked as
        the repository's now, and looked for after. ``quota``: the bucket
        has one, so that bytes found may have been removed at once as a key
        let go of them (``remove_idle``), not a grace later: found, they
        are looked for once marked (gone: send again)."""
        deadline = time.monotonic() + PIN_WAIT
        waited = made = False
        while True:
            # Whether an S3 upload tracks them, asked before the record is
            # read: one that stored them held the lock from before they were
            # there until after its commit, so either it is held now or the
            # record read next is the commit's (asked after, a commit and a
            # release between the two looks went unseen). Bytes this upload
            # stored were no S3 upload's: one that comes finds them stored
            # and marks them the repository's itself.
            tracking = not created and self.pins.tracking(bucket, oid)
            record = self.records.get(blob(bucket, oid))
            if record is None and not tracking:
                if not in_bucket or self.pins.marks is None:
                    break
                try:
                    self.records.create(blob(bucket, oid), {"data": True})
                except RecordConflict:
                    continue
                made = True
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
                    self.records.replace(blob(bucket, oid), dict(record.value, data=True, idle=None),
                                         record.version)
                    break
                except RecordConflict:
                    continue
            if time.monotonic() >= deadline:
                raise BackendUnavailable(RACED)
            waited = True
            self._stop.wait(0.05)
        # A removal ended meanwhile, or may have (before the record was made:
        # one of bytes a dead upload left): are they still there?
        if waited or made or (quota and not created):
            self._still_stored(bucket, oid)

    # -- what uploads left when their process died ----------------------------

    def recover(self) -> List[Tuple[str, str]]:
        """Bytes that S3 uploads stored before their process died, with no
        key's commit after (``upload_marks``), tracked now and fallen idle
        (swept ``GRACE`` later), unless a record tracks them already or an
        upload of them is under way again; the ``(bucket, oid)`` of those
        tracked now. A dead process's marks that could not all be judged
        (an upload under way) are looked at again by the next call."""
        marks = self.pins.marks
        if marks is None:
            return []
        adopted: List[Tuple[str, str]] = []
        for left in marks.left_by_the_dead():
            judged = True
            for bucket, oid in left.marks:
                verdict = self._adopt(bucket, oid)
                if verdict is None:
                    judged = False
                elif verdict:
                    adopted.append((bucket, oid))
            if judged:
                left.done()
        if adopted:
            log.warning("%d object(s) that S3 uploads stored before their process stopped, with no key to name "
                        "them, are tracked now: removed once idle for %d s (at once in a bucket with a quota)",
                        len(adopted), GRACE)
        return adopted

    def _adopt(self, bucket: str, oid: str) -> Optional[bool]:
        """Bytes a dead upload marked, tracked and settled if no record
        tracks them and they are stored; None while an upload of them is
        under way (judged again later)."""
        with self.pins.removal(bucket, oid) as free:
            if not free:
                return None
            if self.records.get(blob(bucket, oid)) is not None:
                return False  # its commit came, or a /data upload relies on them
            try:
                self.backend.stat(repository(bucket), oid)
            except NotFound:
                return False  # it died before they were stored
            try:
                self.records.create(blob(bucket, oid), {"data": False})
            except RecordConflict:
                return False
            self._settle(bucket, oid)
            return True

    def remove(self, bucket: str, oid: str) -> None:
        """A ``/data`` DELETE: the bytes go now, unless a key names them
        (``Conflict``, 409, naming one). An S3 upload of the same bytes
        under way, or another removal, is waited for (up to ``PIN_WAIT``),
        so the delete comes after its commit: then a key names them (409),
        or they are gone (``NotFound``). Still under way by then: 409 with
        ``Retry-After``."""
        deadline = time.monotonic() + PIN_WAIT
        with self.pins.removal(bucket, oid, PIN_WAIT) as free:
            if not free:
                raise _under_way()
            while True:
                record = self.records.get(blob(bucket, oid))
                value = dict(record.value) if record is not None else {"pins": {}}
                if self.pins.live(value):  # pins written in the record (several daemons): waited for too
                    if time.monotonic() >= deadline:
                        raise _under_way()
                    self._stop.wait(0.05)
                    continue
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
                    self.records.delete(blob(bucket, oid))  # a due entry left finds nothing
                return

    def remove_idle(self, bucket: str, oid: str) -> bool:
        """Bytes nothing holds removed now, not ``GRACE`` after they fell
        idle: a bucket with a quota gets its room back as a key goes. The
        sweep's removal (the same claim, the same look for names after it),
        so an upload of the same bytes either comes first and keeps them,
        or stores them afresh; a ``/data`` upload that found them looks
        whether they are still there once it marked them (``relied_on``
        with ``quota``).
        Whether they went."""
        with self.pins.removal(bucket, oid) as free:
            if not free:
                return False  # an upload of them is under way: the sweep looks later
            record = self.records.get(blob(bucket, oid))
            if record is None:
                return False
            value = dict(record.value)
            if value.get("idle") is None or self._holds(bucket, oid, value):
                return False
            if not self._claim_removal(bucket, oid, record, value, "sweep"):
                return False
            if self.names(bucket, oid):  # named after all: kept
                self._change(bucket, oid, lambda value: dict(value, removing=None, by=None, idle=None))
                return False
            return bool(self.blobs.finish(blob_id(bucket, oid), lambda: self.backend.delete(repository(bucket), oid)))

    # -- the sweep --------------------------------------------------------------

    def sweep(self, interval: float, wait: bool = False) -> int:
        """Remove bytes idle for ``GRACE``, reading only those due; how
        many. Without ``wait`` (the timer), only if no daemon swept in the
        last half ``interval``."""
        now = self.records.now()
        if not self.blobs.turn_taken(interval, wait):
            return 0
        self._index_old()
        return self.blobs.index.sweep(now, lambda what: self._sweep_one(what, now))

    def _index_old(self) -> None:
        """Idle bytes listed as stores made before the due index listed
        them (``s3/idle/``) made due when their grace ends; one look at an
        empty prefix once none are left."""
        for name in self.records.walk_keys(IDLE, PAGE):
            bucket, oid = name[len(IDLE):].split("/", 1)
            record = self.records.get(blob(bucket, oid))
            idle = record.value.get("idle") if record is not None else None
            self.blobs.index.at((idle if idle is not None else self.records.now()) + GRACE, "%s/%s" % (bucket, oid))
            self.records.delete(name)

    def _sweep_one(self, what: str, now: float) -> int:
        bucket, oid = what.split("/", 1)
        with self.pins.removal(bucket, oid) as free:
            removed, look_again = self._sweep_free(bucket, oid, now) if free else (0, now + 1)
        if look_again is not None:
            self.blobs.index.at(look_again, what)
        return removed

    def _sweep_free(self, bucket: str, oid: str, now: float) -> Tuple[int, Optional[float]]:
        """Remove the bytes if the rule says so (``idle_rules``): 1 if they
        were removed, and when to look at them again (None: not unless they
        fall idle again)."""
        record = self.records.get(blob(bucket, oid))
        value = None if record is None else dict(record.value)
        verdict = judged(value, now, lambda: self._holds(bucket, oid, value))
        if verdict.action in (NOTHING, LATER):
            return 0, verdict.at
        if verdict.action == CLAIM:
            if not self._claim_removal(bucket, oid, record, value, "sweep"):
                return 0, now + 1  # changed since read: judged again by the next sweep
            if self.names(bucket, oid):  # named after all: kept
                self._change(bucket, oid, lambda value: dict(value, removing=None, by=None, idle=None))
                return 0, None
        return self.blobs.finish(blob_id(bucket, oid), lambda: self.backend.delete(repository(bucket), oid)), None

    def close(self) -> None:
        self._stop.set()
        self.pins.close()

    # -- the blob record --------------------------------------------------------

    def _settle(self, bucket: str, oid: str) -> None:
        """If nothing holds the bytes any more, they fall idle (swept
        ``GRACE`` later: the due entry written first, so that bytes marked
        idle are always looked at)."""
        record = self.records.get(blob(bucket, oid))
        if record is None or record.value.get("idle") is not None or self._holds(bucket, oid, record.value):
            return
        now = self.records.now()
        self.blobs.index.at(now + GRACE, "%s/%s" % (bucket, oid))
        try:  # as read (always, inside a key's commit where the records batch at all): no second read
            self.records.replace_as_read(blob(bucket, oid), record, dict(record.value, idle=now))
        except RecordConflict:
            self._change(bucket, oid, lambda value: None if value.get("idle") is not None else dict(value, idle=now))

    def _holds(self, bucket: str, oid: str, value: dict) -> bool:
        return bool(value.get("data") or self.pins.live(value) or self.names(bucket, oid))

    def _claim_removal(self, bucket: str, oid: str, record, value: dict, by: str) -> bool:
        """Mark the blob ``removing`` (``by``: a ``/data`` DELETE, or the
        sweep) if it is still as read (nothing but names, and the
        repository's hold a DELETE lets go of, may hold it: the caller looks
        for names after); False if it changed."""
        return self.blobs.claim(blob_id(bucket, oid), record, value, data=False, by=by)

    def _change(self, bucket: str, oid: str, change: Callable[[dict], Optional[dict]]) -> None:
        self.records.update(blob(bucket, oid), lambda value: None if value is None else change(value))

    def _still_stored(self, bucket: str, oid: str) -> None:
        try:
            self.backend.stat(repository(bucket), oid)
        except NotFound:
            raise BackendUnavailable(RACED) from None


def _under_way() -> FileStoreError:
    """409 (with ``Retry-After``) for a removal that waited ``PIN_WAIT``
    for an upload of its bytes, which is still under way."""
    return StillUnderWay(UNDER_WAY).as_s3("OperationAborted")


def name_record(bucket: str, oid: str, key: str, version: Optional[str] = None) -> str:
    """The record by which ``key`` (its older ``version``) holds the bytes ``oid``."""
    return "%s%s/%s/%s%s" % (NAMES, bucket, oid, encode_key(key), "," + version if version else "")
