"""How an S3 upload holds its bytes while it runs, so that no removal takes
them between the moment its body is hashed and its key's commit, and how a
removal keeps uploads away while it works (``catalog.claims`` says when
bytes may go; this module, how the two sides exclude each other).

Two ways, one rule (of an upload and a removal of the same bytes, one
wins):

- Where every process that may remove the bytes opens the same locks (one
  machine's, ``--records local``): an upload holds a shared lock on the
  blob's name (``NamedLocks``), a removal an exclusive one; nothing is
  written for either, and a process that dies lets go. Bytes S3 does not
  track yet are tracked in the key's own commit: an upload holds
  ``tracking:`` and the blob's name exclusively where no other does, from
  before its bytes are stored until that commit (which finds them tracked
  already, or tracks them), and whoever finds those bytes stored
  meanwhile, untracked, waits for that commit (a ``/data`` upload, to mark
  them the repository's after; a second S3 upload, to find them S3's).
  Such an upload that finds the bytes not stored yet marks them under way
  in its process's file (``upload_marks``) until they are tracked: if the
  process dies between, the next one to look tracks them (``Claims.recover``).
- Otherwise (``--records s3``): the pin is written in the blob's record
  (``holds.blobs``, the engine share links' bytes are held by too) and
  taken out after, through records that commit without an fsync of their
  own; a removal's compare-and-swap fails while a live pin is there. A pin
  older than ``GRACE`` has lapsed.
"""

from __future__ import annotations

import secrets
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from ..base.interprocess import AlsoHeld, Held, NamedLocks
from ..holds.blobs import BlobRecords, live, waiting
from ..records.interface import Conflict as RecordConflict
from ..storage.interface import Look
from .upload_marks import UploadMarks

BLOBS = "s3/blobs/"
GRACE = 600.0  # seconds idle bytes are kept (a pin older than this has lapsed)
PIN_WAIT = 10.0  # seconds an upload waits for a removal of the same bytes (or their tracking) to end
REMOVAL_STEP = 0.005  # seconds between looks while a removal waits for the uploads of its bytes
TRACKING = "tracking:"  # where pins are locks: the lock an upload holds while it may track new bytes
RACED = "the object was removed while it was being uploaded; send it again"
UNDER_WAY = "an upload of these bytes is under way; retry"



class Pin:
    """One upload's hold on its bytes: ``hashed(oid, look)`` (for
    ``Backend.put``; ``look``: the backend's ``Look`` at whether they are
    stored, if it offers one) pins them; ``known`` says whether S3 tracked
    them before. A context manager: leaving it ends the upload's hold
    (``Pins.end``, with ``settle``). Decision: a class, not
    ``contextlib.contextmanager``, whose generator costs every S3 write a
    frame and four calls more."""

    def __init__(self, pins: "Pins", bucket: str, settle: Callable[[str, str], None]) -> None:
        self._pins = pins
        self._settle = settle
        self.bucket = bucket
        self.oid: Optional[str] = None
        self.name = ""  # its name in the blob's record, where pins are written
        self.known = False
        self.released = False  # let go with the key's own commit (``Pins.release``)
        self.held: Optional[Held] = None  # the shared hold, where pins are locks
        self.tracking: Optional[AlsoHeld] = None  # bytes S3 did not track: held while this upload may track them
        self.created = False  # the upload stored the bytes (they were not stored before)
        self.mark: Optional[int] = None  # its slot in the process's marks, where they were not stored when pinned
        self.busy = RACED  # why the pin could not be had, once it waited long enough

    def hashed(self, oid: str, look: Optional[Look] = None) -> None:
        self.known = self._pins.take(self.bucket, oid, self, look)
        self.oid = oid

    def __enter__(self) -> "Pin":
        return self

    def __exit__(self, *exc_info) -> None:
        self._pins.end(self, self._settle)


class Pins:
    def __init__(self, blobs: BlobRecords, locks: Optional[NamedLocks], marks: Optional[UploadMarks] = None
                 ) -> None:
        """``blobs``: the blob records, whose pins are written when there
        are no ``locks`` in records that commit without an fsync (a pin
        only matters while its upload is unanswered and lapses after
        ``GRACE`` anyway, so a power cut that loses one loses nothing, and a
        later durable commit carries it to the disk all the same).
        ``marks``: where pins are locks, this process's marks of uploads
        that may store new bytes (those the backend's look finds not stored)."""
        self.blobs = blobs
        self.records = blobs.records
        self.locks = locks
        self.marks = marks if locks is not None else None
        self._stop = threading.Event()

    def take(self, bucket: str, oid: str, pin: Pin, look: Optional[Look] = None) -> bool:
        """Pin the bytes, waiting up to ``PIN_WAIT`` for a removal under way
        (or another upload's tracking of them) to end; True if S3 tracked
        them before. ``look``: the backend's, at whether they are stored."""
        if self.locks is None:
            return waiting(lambda: self._write(bucket, oid, pin), PIN_WAIT, self._stop, lambda: pin.busy)
        return waiting(lambda: self._hold(bucket, oid, pin, look), PIN_WAIT, self._stop, lambda: pin.busy)

    def stored(self, pin: Pin, created: bool) -> None:
        """The upload stored its bytes (``created``: they were new): bytes it
        found stored before S3 tracked them are the repository's (where it
        holds the right to track them, its key's commit marks them so:
        ``release``)."""
        if pin.tracking is not None:
            pin.created = created
        elif not created and not pin.known:
            self.records.update(blob(pin.bucket, pin.oid or ""), lambda value: None if value is None or
                                value.get("data") else dict(value, data=True))

    def release(self, pin: Pin) -> None:
        """The pin's end, written in the caller's batch, where a key names
        its bytes in that same batch (see ``Claims.release``)."""
        if pin.oid is None:
            return
        if pin.tracking is not None:  # tracked from this commit on (see ``_hold``)
            self._track(pin, data=not pin.created)
        elif pin.held is None:
            self.blobs.unpin(blob_id(pin.bucket, pin.oid), pin.name, self.records)
        else:
            self.records.update(blob(pin.bucket, pin.oid), _named)

    def end(self, pin: Pin, settle: Callable[[str, str], None]) -> None:
        """The upload's end, named or not: where no key came to name the
        bytes, ``settle(bucket, oid)`` (they may fall idle); an upload whose
        pin failed stored nothing."""
        if pin.held is not None:
            self._let_go(pin, settle)
        elif pin.oid is not None and not pin.released:
            self.blobs.unpin(blob_id(pin.bucket, pin.oid), pin.name)
            settle(pin.bucket, pin.oid)

    @contextmanager
    def removal(self, bucket: str, oid: str, wait: float = 0.0) -> Iterator[bool]:
        """For a removal: whether no upload holds the bytes where pins are
        locks (then held exclusively to the end of the block, so that none
        begins), waiting up to ``wait`` seconds for the uploads (and other
        removals) that do; True otherwise (the blob record's pins say)."""
        if self.locks is None:
            yield True
            return
        held = self.locks.hold_within(blob(bucket, oid), True, wait, self._stop.wait, REMOVAL_STEP)
        try:
            yield held is not None
        finally:
            if held is not None:
                held.release()

    def tracking(self, bucket: str, oid: str) -> bool:
        """Whether an S3 upload holds untracked bytes it may track (``_hold``)."""
        return self.locks is not None and self.locks.held(TRACKING + blob(bucket, oid))

    def live(self, value: dict) -> dict:
        """The pins of a blob record that have not lapsed."""
        return live(value.get("pins", {}), self.records.now(), GRACE)

    def close(self) -> None:
        self._stop.set()
        if self.marks is not None:
            self.marks.close()

    def _hold(self, bucket: str, oid: str, pin: Pin, look: Optional[Look]) -> Optional[bool]:
        """Where pins are locks: the shared hold taken (None while a removal
        holds the bytes, or another upload may track them); whether S3 is
        known to track them. The right to track them (``pin.tracking``,
        exclusive) is tried first: held, the upload keeps it until its key's
        commit tracks them, or finds them tracked (``_track``), or its end,
        and needs no look at their record now. Decision: that look was a
        read of its own before the key's commit, 12-16 % of a PUT of stored
        bytes under 16 writers; the commit reads the record anyway. Where
        another upload holds the right, the record says whether S3 tracks
        the bytes (this one goes on) or not (it waits for that one's end)."""
        assert self.locks is not None
        name = blob(bucket, oid)
        pin.held = self.locks.try_hold(name, exclusive=False)
        if pin.held is None:
            return None
        pin.tracking = pin.held.also(TRACKING + name, exclusive=True)
        if pin.tracking is not None:
            # Looked at under the right, so no other S3 upload stores them
            # meanwhile: stored after the look, they are this upload's (or a
            # /data upload's, which then tracks them itself: ``Claims.relied_on``).
            # The backend takes the same look after (``Look``: once), or a
            # backend with none to offer leaves them unmarked.
            if self.marks is not None and look is not None and not look():
                pin.mark = self.marks.mark(bucket, oid)
            return False
        # Looked at after the try: the holder of the right made the record
        # in its commit before it let go, or holds it still.
        if self.records.get(name) is not None:
            return True
        pin.busy = UNDER_WAY
        self._let_go(pin, lambda bucket, oid: None)
        return None

    def _write(self, bucket: str, oid: str, pin: Pin) -> Optional[bool]:
        """The pin written in the blob's record (None while a removal is
        under way); whether S3 tracked the bytes before. A record the pin
        made is looked at by the sweep once the pin would have lapsed
        (``idle_rules``): if the upload dies before its end (before it
        stores the bytes, or after), its pin stays, and nothing else would
        bring the sweep to them."""
        pin.name = pin.name or "pin-" + secrets.token_hex(8)
        known = self.blobs.try_pin(blob_id(bucket, oid), pin.name, lapse=GRACE)
        if known is False:
            self.blobs.index.at(self.records.now() + GRACE + 1, blob_id(bucket, oid))
        return known

    def _track(self, pin: Pin, data: bool) -> None:
        """Where pins are locks, S3 tracks the bytes it did not (``data``:
        they are the repository's too): their record made, without reading
        first; on a record made before (S3 tracked them first: an earlier
        upload, or one before this one held the lock), ``_named``'s change
        (whether they are the repository's, that record says)."""
        name = blob(pin.bucket, pin.oid or "")
        try:
            self.records.create(name, {"data": data})
        except RecordConflict:
            self.records.update(name, _named)

    def _let_go(self, pin: Pin, settle: Callable[[str, str], None]) -> None:
        """Where pins are locks, the end of an upload: new bytes it stored
        that no key came to name are tracked now, and settled."""
        assert pin.held is not None
        try:
            if not pin.released and pin.oid is not None:
                if pin.tracking is not None and pin.created:  # stored, but no key came to name them
                    self._track(pin, data=False)
                settle(pin.bucket, pin.oid)
            if pin.mark is not None and self.marks is not None:  # tracked by now (kept where that failed)
                self.marks.clear(pin.mark)
                pin.mark = None
        finally:
            # The right to track rides on the hold's description: the hold's
            # release lets go of both in one system call.
            pin.tracking = None
            pin.held.release()
            pin.held = None


def blob(bucket: str, oid: str) -> str:
    """The blob record's name: what holds the bytes besides keys."""
    return BLOBS + blob_id(bucket, oid)


def blob_id(bucket: str, oid: str) -> str:
    """The bytes' name among the S3 API's blob records."""
    return "%s/%s" % (bucket, oid)


def _named(value: Optional[dict]) -> Optional[dict]:
    """Where pins are locks, the change a key's naming makes: what no
    longer holds made right, ``idle`` (named now) and the mark of a removal
    that died (one alive would hold the lock); nothing written otherwise."""
    if value is None or (value.get("idle") is None and value.get("removing") is None):
        return None
    return dict(value, idle=None, removing=None, by=None)
