"""Unfinished resumable uploads that every daemon shares (``--records
s3``): a record each in the records, its bytes as parts in the shared
store (``catalog.parts``, the mechanism under S3 multipart uploads), so
that a round-robin balancer may send each PATCH to another daemon.

A PATCH's body is spooled to ``<data-dir>/.tmp`` as it arrives, then
stored as the upload's next part and counted in the record: what arrived
before the client was cut off is kept too, as on one machine. The record
(``tus/<id>``) holds what the upload is (its length, target, metadata,
owner), the bytes and parts counted so far, when it was last written, the
target's answer once finished, and who writes it now: a lease, taken and
given back with compare-and-swaps, renewed while the PATCH runs, that
lapses ``LEASE`` seconds after a daemon died holding it. A part is counted
only by the holder of the lease, so two daemons never both append.

What every daemon's unfinished uploads promised (the quota's bytes, the
uploads per address) is one record, ``tus-admitted`` (a ``ledger.Tally``),
changed with a compare-and-swap by each create (which it may refuse:
exactly what fits gets in, whatever daemons the creates land on) and by the
step that ends an unfinished upload; a create reads it, never every upload.
Each is written after the upload's record, so a sweep's recount is taken
only once the count stood unchanged for ``QUIET`` and none changed it
meanwhile: a count read between an upload's record and its count would
count that upload twice (or, for an end, not at all).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Set

from ..catalog.parts import Parts, PartsStream
from ..errors import Gone, Locked, NotFound, TooLarge
from ..records.interface import Conflict, Records
from ..storage.disk.files import remove_quietly, write_all
from ..storage.interface import FinishedFile
from .ledger import Tally
from .uploads import MAX_PER_CLIENT, SETTLE, SWEEP_EVERY, TTL, ResumableUpload, is_upload_id, refuse_longer

log = logging.getLogger(__name__)
QUIET = 10.0  # seconds the count must have stood unchanged before a sweep counts it afresh

UPLOADS = "tus/"
ADMITTED = "tus-admitted"
LEASE = 10.0  # seconds a writer's hold outlives a daemon that died holding it (renewed while it lives)
SPOOL_BUFFER = 256 * 1024


class SharedUploads:
    def __init__(self, records: Records, parts: Parts, data_dir: str) -> None:
        self.records = records
        self.parts = parts
        self.spool_dir = os.path.join(data_dir, ".tmp")
        os.makedirs(self.spool_dir, exist_ok=True)
        self._swept = 0.0

    # -- records ----------------------------------------------------------------

    def create(self, length: int, target: Dict[str, object], metadata: str, owner: str,
               room: Callable[[int], None] = lambda pending: None) -> ResumableUpload:
        """As ``UploadStore.create``, over every daemon's uploads."""
        now = self.records.now()
        if now - self._swept >= SWEEP_EVERY:
            self._swept = now
            self.sweep()
        upload = ResumableUpload(secrets.token_hex(16), length, target, metadata, owner, now)
        self.records.create(_key(upload.id), {
            "length": length, "target": target, "metadata": metadata, "owner": owner, "created": now,
            "touched": now, "offset": 0, "parts": 0, "result": None, "writer": None, "until": 0.0})

        def admit(value: Optional[dict]) -> dict:
            tally = Tally.of(value) if value is not None else Tally()
            tally.admit(length, owner, room, MAX_PER_CLIENT)
            return dict(tally.value(), changed=self.records.now())

        try:
            self.records.update(ADMITTED, admit)
        except BaseException:
            self.records.delete(_key(upload.id))  # refused: it never was
            raise
        return upload

    def get(self, upload_id: str) -> ResumableUpload:
        value = self._value(upload_id)
        upload = _upload(upload_id, value)
        if self._expires(value) <= self.records.now():
            self.remove(upload)
            raise Gone("the upload expired")
        return upload

    def offset(self, upload: ResumableUpload) -> int:
        """The bytes counted in the record (a PATCH under way counts its
        bytes once they are stored)."""
        value = self._value(upload.id)
        return int(value["length"]) if value.get("result") is not None else int(value["offset"])

    def expires_at(self, upload: ResumableUpload) -> float:
        try:
            return self._expires(self._value(upload.id))
        except NotFound:
            return upload.created + TTL

    def finish(self, upload: ResumableUpload, result: Dict[str, object]) -> None:
        """Keep the target's answer and let go of the parts (the object has them)."""
        now = self.records.now()
        ended: List[dict] = []

        def finish_it(value: Optional[dict]) -> Optional[dict]:
            ended[:] = [value] if value is not None and value.get("result") is None else []
            return None if value is None else dict(value, result=result, touched=now)

        self.records.update(_key(upload.id), finish_it)
        upload.result = result
        for value in ended:
            self._release(value)
        self.parts.drop(upload.id)

    def remove(self, upload: ResumableUpload) -> None:
        """The record first (no part is counted after), then the parts:
        marked ended by the one that removed the record, so that parts a
        stop (or a failing store) kept go later (``Parts.finish_ended``)."""
        while True:
            record = self.records.get(_key(upload.id))
            if record is None:
                self.parts.drop(upload.id)  # (whatever another end left)
                return
            try:
                with self.records.batch():  # (one transaction where the records make one: no end without its mark)
                    self.records.delete(_key(upload.id), record.version)
                    self.parts.ended(upload.id)
            except Conflict:
                continue  # changed meanwhile (a part counted): read it again
            if record.value.get("result") is None:
                self._release(record.value)
            break
        failed = self.parts.remove_ended(upload.id)
        if failed is not None:
            log.warning("the parts of the resumable upload %s, which ended, are removed later: %s", upload.id,
                        failed)

    def _release(self, value: dict) -> None:
        """An unfinished upload ended: no longer promised."""
        def take_out(admitted: Optional[dict]) -> Optional[dict]:
            if admitted is None:
                return None
            tally = Tally.of(admitted)
            tally.take_out(int(value["length"]), str(value["owner"]))
            return dict(tally.value(), changed=self.records.now())

        self.records.update(ADMITTED, take_out)

    def sweep(self) -> int:
        """Remove expired uploads; how many."""
        now, removed = self.records.now(), 0
        for name, value in self._all():
            if self._expires(value) <= now:
                upload = _upload(name, value)
                self.remove(upload)
                removed += 1
                log.info("swept expired upload %s (%d of %d bytes)", name, int(value["offset"]), upload.length)
        self._recount()
        return removed

    def _recount(self) -> None:
        """``tus-admitted`` counted afresh from the records (what a daemon
        that died between an upload's record and the count left), unless a
        create or an end changed it meanwhile, or did within ``QUIET``
        before: a create writes its record, then its count, and an end its
        record, then its count, so a count read between the two would count
        it twice, or not at all (the next sweep counts then). Made for the
        first time, it counts the uploads made before ``QUIET`` only."""
        before = self.records.get(ADMITTED)
        now = self.records.now()
        if before is not None and now - float(before.value.get("changed", 0)) < QUIET:
            return
        tally = Tally()
        for _, value in self._all():
            if value.get("result") is None and (before is not None or now - float(value["created"]) >= QUIET):
                tally.add(int(value["length"]), str(value["owner"]))
        counted = dict(tally.value(), changed=now)
        try:
            if before is None:
                self.records.create(ADMITTED, counted)
            elif Tally.of(before.value) != tally:
                self.records.replace(ADMITTED, counted, before.version)
        except Conflict:
            pass

    def _all(self) -> Iterator:
        for name, record in self.records.items(UPLOADS):
            upload_id = name[len(UPLOADS):]
            if is_upload_id(upload_id):
                yield upload_id, record.value

    def _value(self, upload_id: str) -> dict:
        record = self.records.get(_key(upload_id)) if is_upload_id(upload_id) else None
        if record is None:
            raise NotFound("no such upload")
        return record.value

    @staticmethod
    def _expires(value: dict) -> float:
        return float(value["touched"]) + TTL

    # -- the writer -----------------------------------------------------------------

    @contextmanager
    def writing(self, upload: ResumableUpload) -> Iterator["SharedWriter"]:
        """The upload held by this request alone, in every daemon (``Locked``
        while another holds it past ``SETTLE``); the writer's ``upload`` as
        it is once held (finished meanwhile: its ``result`` is set)."""
        holder = secrets.token_hex(8)
        value = self._take(upload.id, holder)
        if value.get("result") is not None:  # finished by another request meanwhile: nothing to hold
            yield SharedWriter(self, _upload(upload.id, value), holder, upload.length, 0)
            return
        renewing = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(upload.id, holder, renewing), name="tus-lease",
                                   daemon=True)
        renewer.start()
        try:
            yield SharedWriter(self, _upload(upload.id, value), holder, int(value["offset"]), int(value["parts"]))
        finally:
            renewing.set()
            renewer.join()
            self._give_back(upload.id, holder)

    def _take(self, upload_id: str, holder: str) -> dict:
        taken: List[dict] = []

        def take(value: Optional[dict]) -> Optional[dict]:
            taken.clear()
            if value is None:
                raise Gone("the upload was removed")
            if value.get("result") is not None:
                taken.append(value)
                return None
            if value.get("writer") == holder:  # ours: a write whose answer was lost, tried again
                taken.append(value)
                return None
            if value.get("writer") and float(value["until"]) > self.records.now():
                return None  # held: unchanged
            changed = dict(value, writer=holder, until=self.records.now() + LEASE)
            taken.append(changed)
            return changed

        deadline = time.monotonic() + SETTLE
        pause = 0.01
        while True:
            self.records.update(_key(upload_id), take)
            if taken:
                return taken[0]
            if time.monotonic() >= deadline:
                raise Locked("another request is writing this upload; retry")
            time.sleep(pause)  # records offer no wait: ask again, less often
            pause = min(pause * 2, 0.2)

    def _renew(self, upload_id: str, holder: str, stop: threading.Event) -> None:
        while not stop.wait(LEASE / 3):
            try:
                self.records.update(_key(upload_id), lambda value: None if value is None or
                                    value.get("writer") != holder else
                                    dict(value, until=self.records.now() + LEASE))
            except Exception:  # the next round tries again; the lease is long enough for one miss
                log.warning("could not renew the hold on upload %s", upload_id, exc_info=True)

    def _give_back(self, upload_id: str, holder: str) -> None:
        try:
            self.records.update(_key(upload_id), lambda value: None if value is None or
                                value.get("writer") != holder else dict(value, writer=None, until=0.0))
        except Exception:  # it lapses by itself
            log.warning("could not give back the hold on upload %s", upload_id, exc_info=True)

    def count(self, upload_id: str, holder: str, number: int, size: int) -> int:
        """Count part ``number``, ``size`` bytes (the holder's alone); the
        upload's bytes now. ``Locked`` if the hold was lost meanwhile."""
        counted: List[int] = []

        def add(value: Optional[dict]) -> Optional[dict]:
            counted.clear()
            if value is None:
                raise Gone("the upload was removed")
            if value.get("writer") != holder:
                raise Locked("this request lost its hold on the upload; send the rest again")
            if int(value["parts"]) >= number:  # counted already: a write whose answer was lost
                counted.append(int(value["offset"]))
                return None
            changed = dict(value, offset=int(value["offset"]) + size, parts=int(value["parts"]) + 1,
                           touched=self.records.now())
            counted.append(changed["offset"])
            return changed

        self.records.update(_key(upload_id), add)
        return counted[0]


class SharedWriter:
    """The holder's view of a shared upload: each ``append`` spools the body,
    stores it as the next part and counts it; ``finished`` reads the parts
    in order."""

    def __init__(self, uploads: SharedUploads, upload: ResumableUpload, holder: str, kept: int, parts: int) -> None:
        self._uploads = uploads
        self.upload = upload
        self._holder = holder
        self._kept = kept
        self._parts = parts

    @property
    def kept(self) -> int:
        return self._kept

    def append(self, stream, limit: int) -> int:
        """What arrives, at most ``limit`` bytes: all of it stored and counted,
        even when the body is cut off (the failure is raised after); a body
        longer than ``limit`` is ``TooLarge``, and nothing of it is kept."""
        fd, path = tempfile.mkstemp(dir=self._uploads.spool_dir, prefix="tus-%d-" % os.getpid())
        try:
            failure: Optional[BaseException] = None
            copied = 0
            buffer = memoryview(bytearray(SPOOL_BUFFER))
            try:
                while copied < limit:
                    count = stream.readinto(buffer[:min(len(buffer), limit - copied)])
                    if not count:
                        break
                    write_all(fd, buffer[:count])
                    copied += count
                refuse_longer(stream, copied, limit)
            except TooLarge:
                raise  # longer than the upload: nothing of it is kept
            except Exception as error:  # a cut body: keep what came, then answer as it deserves
                failure = error
            os.close(fd)
            fd = -1
            if copied:
                number = self._parts + 1
                with FinishedFile(path) as source:
                    self._uploads.parts.put(self.upload.id, number, source, lambda: "")
                self._parts = number
                self._kept = self._uploads.count(self.upload.id, self._holder, number, copied)
            if failure is not None:
                raise failure
            return copied
        finally:
            if fd >= 0:
                os.close(fd)
            remove_quietly(path)

    def finished(self) -> PartsStream:
        parts = self._uploads.parts.list(self.upload.id)
        return self._uploads.parts.stream(self.upload.id, parts)


def _key(upload_id: str) -> str:
    return UPLOADS + upload_id


def _upload(upload_id: str, value: dict) -> ResumableUpload:
    return ResumableUpload(upload_id, int(value["length"]), dict(value["target"]), str(value["metadata"]),
                  str(value["owner"]), float(value["created"]), value.get("result"))


def upload_ids(records: Records) -> Set[str]:
    """The ids of every resumable upload the shared records hold, finished
    or not (for ``fsck``: whose parts may be in the store)."""
    return {name[len(UPLOADS):] for name in records.keys(UPLOADS) if is_upload_id(name[len(UPLOADS):])}
