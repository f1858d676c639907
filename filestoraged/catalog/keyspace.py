"""A bucket's keys as one object: the one way every face names a key,
forgets one or reads one by version (the S3 API, its forms, tus, the
console, the restic face: through ``handle.BucketHandle``).

Every change of a key is one compare-and-swap of its head (``heads``),
on every kind of records, judged on the head it replaces:

- the head is read, the change judged on it (conditions, object lock,
  who may replace a key) and made by the rules over versions with the
  bucket's settings as they stand at that moment (``Buckets.standing``,
  read after the head, never the request's view of them), so a version
  locked while a request's body came slowly is never what it destroys: a
  lock is a change of the head, and the swap fails on it;
- the records the new head lists are written first (an older object's
  entry, ``Versions.spill``), and so are the names that hold the bytes it
  names (``claims``): no bytes go while any version names them; and so
  are the outbox items the change asks for (``outbound``: replication,
  events), so that none is committed without them (pending till the swap
  is in, where the records make no transaction of both: ``outbox``);
- the head is swapped; a try that lost its race writes nothing more (its
  spilled records go) and is judged again on the head that won;
- after the swap, what the old head named and the new one does not is let
  go, and the version records it no longer lists are removed.

Where the records make a batch one transaction (SQLite), all of it is one
commit. Elsewhere a stop after the swap leaves only what holds too much
(a name, an unlisted record), never a version lost; and the bucket is
looked at again once the key is written: a bucket deleted, or being
deleted, meanwhile takes the key back, so no key outlives its bucket and
comes back with a bucket made again under its name.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Union

from ..errors import BackendUnavailable, FileStoreError, MethodNotAllowed, NotFound, PreconditionFailed
from ..records.interface import UPDATE_TRIES, Conflict
from ..storage.names import repository
from ..wire.conditions import etag_matches
from .buckets import Bucket, Buckets
from .claims import Claims
from .heads import Head, Holds, Next, amended, checked_id, deleted, is_marker, label, new_version_id, removed, written
from .keys import Entry, Keys, head_name
from .pins import Pin
from .recent import Change, Recent
from .retention import guard
from .version_rules import change, may_replace, retention
from .versions import Version, Versions
from . import outbound
from .outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forgotten:
    """What a delete did: the version it made or removed (None in a bucket
    without versions) and whether that is a delete marker."""

    version: Optional[str]
    marker: bool


@dataclass
class _Swap:
    """One change swapped in: the head it replaced and the one it made, the
    version of the record now, the names its tries wrote, and what of the
    bytes each head holds (``Head.holds``, asked once)."""

    old: Head
    new: Next
    version: Optional[str]
    named: Holds
    held_before: Holds
    held_after: Holds


class Keyspace:
    def __init__(self, claims: Claims, keys: Keys, versions: Versions, buckets: Buckets,
                 recent: Optional[Recent] = None, outbox: Optional[Outbox] = None) -> None:
        """``recent``: told of every change committed (a bucket's recent
        changes, for people); ``outbox``: written by every commit a
        bucket's replication rule asks to send (``catalog.outbox``)."""
        self.claims, self.keys, self.versions, self.buckets = claims, keys, versions, buckets
        self.records = keys.records
        self.recent = recent
        self.outbox = outbox

    def name(self, bucket: Bucket, key: str, entry: Entry, if_match: Optional[str] = None,
             if_none_match: Union[bool, str] = False, pin: Optional[Pin] = None, replaces: bool = True) -> Entry:
        """Make ``key`` of ``bucket`` (as looked up when the request began)
        name ``entry``, whose bytes the caller holds pinned (``pin``: let go
        in the same commit as the key, where given); the entry as
        written (with its version id where the bucket keeps versions).
        What the write does (a version id, the default retention, the
        version it replaces kept or not) follows the bucket's settings as
        they stand at the commit, never the request's view.
        ``replaces``: False for a caller that may add keys but never replace
        one (append-only): unless versioning is enabled at the commit (the
        write then adds a version and replaces nothing), the key must name
        nothing (``PreconditionFailed``).
        ``if_none_match``: True or ``*``, only if the key names nothing;
        ETags, only if it names nothing of those; ``if_match``: only if it
        names an object of that ETag (``*``: any): ``PreconditionFailed``
        where a condition fails, ``NotFound`` (NoSuchKey) for ``if_match``
        on a key that names nothing, as S3 answers; ``NotFound``
        (NoSuchBucket) if the bucket went meanwhile, with nothing kept."""
        def decide(old: Head) -> Next:
            current = old.current
            if (if_none_match is True or if_none_match == "*") and current is not None:
                raise PreconditionFailed(message="the key %s exists" % key[:200])
            if if_match is not None and current is None:
                raise NotFound("no key %s to match If-Match" % key[:200]).as_s3("NoSuchKey")
            if if_match is not None and not etag_matches(if_match, current.etag):
                raise PreconditionFailed(message="the key %s does not name an object of ETag %s"
                                         % (key[:200], if_match[:100]))
            if isinstance(if_none_match, str) and if_none_match != "*" and current is not None \
                    and etag_matches(if_none_match, current.etag):
                raise PreconditionFailed(message="the key %s names an object of ETag %s"
                                         % (key[:200], if_none_match[:100]))
            now = self.buckets.standing(bucket)
            if current is not None and not may_replace(replaces, now.versioning):
                raise PreconditionFailed(message="the key %s exists, and the token may add keys but not replace "
                                         "them" % key[:200])
            made = outbound.as_written(now, key, _as_written(entry, now))
            nxt = written(old, made, now.versioning)
            nxt.sends.extend(outbound.of_write(now, key, made))
            return nxt

        atomic = self.records.serializes

        def commit() -> _Swap:
            swap = self._swap(bucket.name, key, decide)
            if pin is not None:
                self.claims.release(pin)  # the name holds the bytes from here
            if atomic:
                self._settle(bucket.name, key, swap)
            return swap

        if atomic:
            swap = self.records.serialized(commit)
        else:
            with self.records.batch():
                swap = commit()
        if pin is not None:
            pin.released = True
        if not atomic:
            # Where the batch is one transaction, the bucket was read inside
            # it: a delete's close either came first, and the write was
            # refused, or comes after and finds the key. Elsewhere the
            # bucket is looked at again once the key is written.
            if not self.buckets.holds(bucket):
                self._take_back(bucket.name, key, swap)
                raise NotFound("the bucket %s was deleted while the key was written" % bucket.name
                               ).as_s3("NoSuchBucket")
            self._settle(bucket.name, key, swap)
        self._free_at_once(bucket, swap)
        if swap.new.sends and self.outbox is not None:
            self.outbox.written()
        made = swap.new.head.current
        self._tell(bucket.name, "write", key, made.version, made.maker)
        return made

    def name_again(self, bucket: Bucket, key: str, entry: Entry, replaces: bool = True) -> Entry:
        """``key`` made to name bytes the bucket holds already (a copy, a
        rename: nothing copied), pinned while it is; ``NotFound`` if the
        bytes went meanwhile. The entry as written."""
        with self.claims.pinned(bucket.name) as pin:
            pin.hashed(entry.oid)
            self.claims.backend.stat(repository(bucket.name), entry.oid)
            return self.name(bucket, key, entry, pin=pin, replaces=replaces)

    def get(self, bucket: str, key: str, version_id: Optional[str] = None) -> Optional[Union[Entry, Version]]:
        """The current entry of ``key``; with ``version_id``, that version
        (the current ``Entry``, or an older ``Version``, perhaps a delete
        marker). None if there is none."""
        if version_id is None:
            return self.keys.get(bucket, key)
        version_id = checked_id(version_id)
        head = self.versions.head(bucket, key)
        if head.current is not None and label(head.current) == version_id:
            return head.current
        return self.versions.find(bucket, key, version_id, head)

    def forget(self, bucket: Bucket, key: str, version_id: Optional[str] = None, bypass: bool = False,
               condition: Optional[Callable[[Optional[Entry]], None]] = None, by: Optional[str] = None
               ) -> Forgotten:
        """DeleteObject: without ``version_id``, the key names nothing (in a
        versioned bucket, a delete marker is its newest version); with it,
        that version is gone for good, and where it was the newest, the
        next one is current again, unless its object lock forbids it
        (``retention.guard``; ``bypass``: a GOVERNANCE retention may be
        bypassed). Deleting what is not there is no error, as in S3.
        ``condition(entry)``: raises where the version about to go may not
        (None for a delete marker), judged on the very head swapped. ``by``:
        the name of the token that deletes (kept with a delete marker)."""
        judge = condition or (lambda entry: None)
        name = bucket.name
        if version_id is None:
            def decide(old: Head) -> Optional[Next]:
                if old.current is not None:
                    judge(old.current)  # first: a delete refused keeps nothing
                elif condition is not None and old.older:
                    if is_marker(old.older[0]):
                        judge(None)  # the key's newest version is a delete marker
                now = self.buckets.standing(bucket)
                rule = change(now.versioning, old.current, delete=True)
                if old.current is None and (not rule.marker or (condition is not None and not old.older)):
                    return None  # nothing to remove, nor to mark (nothing to judge a condition on)
                marker = new_version_id() if rule.new_id else None
                made = deleted(old, now.versioning, marker, self.records.now(), by)
                made.sends.extend(outbound.of_delete(now, key, marker, rule.marker, by))
                return made
        else:
            version_id = checked_id(version_id)
            what = "version %s of %s" % (version_id, key[:200])

            def decide(old: Head) -> Optional[Next]:
                if old.current is not None and label(old.current) == version_id:
                    entry: Optional[Entry] = old.current
                else:
                    item = old.find(version_id)
                    if item is None:
                        return None  # not there (deleted already): no error, as in S3
                    # (a version whose record was lost may still be deleted: it has no lock to read)
                    entry = None if is_marker(item) else self.versions.entry_at(name, key, item["at"], lost_ok=True)
                if entry is not None:
                    guard(entry.lock, self.records.now(), bypass, what)
                judge(entry)
                made = removed(old, version_id, lambda item: self.versions.entry_at(name, key, item["at"]))
                made.sends.extend(outbound.of_version_delete(self.buckets.standing(bucket), key, version_id, by))
                return made

        swap = self._commit(name, key, decide)
        if swap is None:
            return Forgotten(version_id, False)
        self._free_at_once(bucket, swap)
        if swap.new.sends and self.outbox is not None:
            self.outbox.written()
        if version_id is not None:
            gone = swap.new.gone
            self._tell(name, "delete version", key, version_id, by)
            return Forgotten(version_id, isinstance(gone, dict) and is_marker(gone))
        marker = swap.new.head.latest_marker()
        self._tell(name, "delete", key, marker["id"] if marker is not None else None, by)
        return Forgotten(marker["id"], True) if marker is not None else Forgotten(None, False)

    def relock(self, bucket: str, key: str, version_id: Optional[str], change: Callable[[Optional[dict]], dict],
               by: Optional[str] = None) -> Entry:
        """Change the lock of ``key``'s version ``version_id`` (None: the
        current one) with ``change`` (it may refuse: ``retention.retained``);
        the entry as written (see ``amend``)."""
        def relocked(entry: Entry) -> None:
            entry.lock = change(entry.lock) or None
        return self.amend(bucket, key, version_id, relocked, by)

    def amend(self, bucket: str, key: str, version_id: Optional[str], change: Callable[[Entry], None],
              by: Optional[str] = None, tell: bool = True) -> Entry:
        """Amend ``key``'s version ``version_id`` (None: the current one)
        with ``change`` (its lock, its tags, its replication status, which
        is not told to the recent changes: ``tell``; it may refuse), judged on the
        very head swapped; the entry as written. ``NotFound`` (NoSuchKey,
        NoSuchVersion) if there is no such version, ``MethodNotAllowed``
        for a marker. ``by``: the name of the token that amends."""
        wanted = None if version_id is None else checked_id(version_id)
        done: List[Entry] = []

        def decide(old: Head) -> Next:
            current = old.current
            if wanted is None or (current is not None and label(current) == wanted):
                if current is None:
                    raise NotFound("no key %s in bucket %s" % (key[:200], bucket)).as_s3("NoSuchKey")
                entry = Entry.of(current.record())
            else:
                item = old.find(wanted)
                if item is None:
                    raise NotFound("no version %s of key %s" % (wanted, key[:200])).as_s3("NoSuchVersion")
                if is_marker(item):
                    raise MethodNotAllowed(["DELETE"], "the version %s is a delete marker" % wanted
                                           ).as_s3("MethodNotAllowed")
                entry = self.versions.entry_at(bucket, key, item["at"])
            change(entry)
            done[:] = [entry]
            return amended(old, label(entry), entry)

        self._commit(bucket, key, decide)
        if tell:
            self._tell(bucket, "change", key, done[0].version, by)
        return done[0]

    def holds_any(self, bucket: str) -> bool:
        """Whether any key, older version or delete marker is in the bucket."""
        return self.keys.any(bucket)

    # -- the one commit point ------------------------------------------------------

    def _tell(self, bucket: str, what: str, key: str, version: Optional[str], by: Optional[str]) -> None:
        """A change committed, told to the bucket's recent changes."""
        if self.recent is not None:
            self.recent.note(bucket, Change(what, key, version, by, self.records.now()))

    def _commit(self, bucket: str, key: str, decide: Callable[[Head], Optional[Next]]) -> Optional[_Swap]:
        """A change swapped and settled: one serialized transaction where
        the records make one (``_swap``, ``_settle``; nothing follows the
        commit), else the swap and then its settling, each step alone."""
        if self.records.serializes:
            def commit() -> Optional[_Swap]:
                swap = self._swap(bucket, key, decide)
                self._settle(bucket, key, swap)
                return swap
            return self.records.serialized(commit)
        with self.records.batch():
            swap = self._swap(bucket, key, decide)
        self._settle(bucket, key, swap)
        return swap

    def _swap(self, bucket: str, key: str, decide: Callable[[Head], Optional[Next]]) -> Optional[_Swap]:
        """Read ``key``'s head, ``decide`` the next one (None: nothing to
        change; it may refuse), write what the next one lists and names,
        swap; again from a fresh read where another change came first.
        The swap made (None where nothing was to change)."""
        name = head_name(bucket, key)
        named: Holds = set()
        try:
            for attempt in range(UPDATE_TRIES):
                record = self.records.get(name)
                old = Head.of(None if record is None else record.value)
                new = decide(old)
                if new is None:
                    self._let_go(bucket, key, named, old.holds())
                    return None
                held_before, held_after = old.holds(), new.head.holds()
                for oid, version in held_after - held_before:
                    if self.claims.name(bucket, oid, key, version):
                        named.add((oid, version))
                for at, entry in new.spills:
                    self.versions.spill(bucket, key, at, entry)
                sent = self.outbox.ahead(bucket, key, new.sends) if self.outbox is not None else []
                value = new.head.value()
                try:
                    if record is None:
                        written = self.records.create(name, value) if value is not None else None
                    elif value is None:
                        self.records.delete(name, record.version)
                        written = None
                    else:
                        written = self.records.replace(name, value, record.version)
                except Conflict:
                    for at, _ in new.spills:  # listed by no head: nobody else knows their names
                        self.versions.drop(bucket, key, at)
                    if sent:  # (nor these: the change they were for was not made)
                        self.outbox.withdraw(sent)
                    time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # others are writing: back off
                    continue
                if sent:
                    self.outbox.confirm(sent)
                return _Swap(old, new, written, named, held_before, held_after)
        except BaseException:
            if named and not self.records.serializes:
                self._let_go(bucket, key, named, self.versions.head(bucket, key).holds())
            raise
        raise BackendUnavailable("the key %s is changing too often to write; retry" % key[:200])

    def _settle(self, bucket: str, key: str, swap: Optional[_Swap]) -> None:
        """After a swap: what the old head named and the new one does not is
        let go (the bytes fall idle where nothing else holds them), and the
        version records the new head no longer lists are removed."""
        if swap is None:
            return
        kept = swap.held_after
        gone = swap.held_before - kept
        if gone:
            # A version kept under its new id still names its bytes (a
            # current one turned older, in a versioned bucket): they do not
            # fall idle, so nothing is looked at for them.
            still = {oid for oid, _ in kept}
            for oid, version in gone:
                self.claims.unname(bucket, oid, key, version, still_named=oid in still)
        self._let_go(bucket, key, swap.named, kept)
        for at in swap.new.drops:
            self.versions.drop(bucket, key, at)

    def _free_at_once(self, bucket: Bucket, swap: _Swap) -> None:
        """In a bucket a quota bounds (its own, its owner's), the bytes a
        committed change left unnamed removed now (``Claims.remove_idle``),
        not a grace later: a delete gives its room back at once. One that
        cannot go now (an upload of the same bytes under way) is the
        sweep's, as anywhere."""
        if not self.buckets.bounds(bucket).bounded:
            return
        for oid in {oid for oid, _ in swap.held_before} - {oid for oid, _ in swap.held_after}:
            self._remove_now(bucket.name, oid)

    def recover(self) -> int:
        """The bytes S3 uploads stored before their process died, with no
        key to name them, tracked (``Claims.recover``): idle, and removed
        now in a bucket a quota bounds, as a delete's are; how many."""
        adopted = self.claims.recover()
        for name, oid in adopted:
            bucket = self.buckets.get(name)
            if bucket is not None and self.buckets.bounds(bucket).bounded:
                self._remove_now(name, oid)
        return len(adopted)

    def _remove_now(self, bucket: str, oid: str) -> None:
        """Idle bytes removed now (``Claims.remove_idle``), else left to the sweep."""
        try:
            self.claims.remove_idle(bucket, oid)
        except FileStoreError as error:
            log.info("bytes %s of bucket %s left to the sweep: %s", oid, bucket, error)

    def _let_go(self, bucket: str, key: str, named: Holds, held: Holds) -> None:
        """The names a change's tries wrote that the head does not hold."""
        for oid, version in named - held:
            self.claims.unname(bucket, oid, key, version)

    def _take_back(self, bucket: str, key: str, swap: _Swap) -> None:
        """Undo a write whose bucket went meanwhile, if its head is still the
        one it swapped in: the old head again, what the write named let go."""
        name = head_name(bucket, key)
        old = swap.old.value()
        try:
            if old is None:
                self.records.delete(name, swap.version)
            else:
                self.records.replace(name, old, swap.version)
        except Conflict:
            return  # written again meanwhile: that write finds the bucket gone too
        self._let_go(bucket, key, swap.named | (swap.held_after - swap.held_before), swap.held_before)
        for at, _ in swap.new.spills:
            self.versions.drop(bucket, key, at)


def _as_written(entry: Entry, bucket: Bucket) -> Entry:
    """``entry`` as a write into ``bucket`` (its settings at the commit)
    makes it: a version id where versioning is enabled, and the bucket's
    default retention where the write asked for none (``version_rules``)."""
    version = new_version_id() if change(bucket.versioning, None).new_id else None
    lock = retention(entry.lock, bucket.lock, entry.modified)
    if version != entry.version or lock is not entry.lock:  # copied only where something changes
        entry = entry.written_as(version, lock)
    return entry
