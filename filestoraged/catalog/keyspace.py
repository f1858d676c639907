"""A bucket's keys as one object: the one way every face names a key,
forgets one or reads one by version (the S3 API today; a console or a
WebDAV face would call the same), so that four things always agree:

- the bytes a key names are claimed by it (``claims``), an older version's
  by that version, so no bytes go while any version names them;
- the key's record is written under the request's conditions (``keys``);
- in a versioned bucket, the version a write or a delete replaces is kept
  (``versions``) before the key's record changes, and a delete leaves a
  delete marker; while versioning is suspended the ``null`` version is
  the one replaced; which it is follows the bucket's settings as they
  stand at the commit (read there, never the request's view of them:
  ``_settle``), so a version locked while a request's body came slowly is
  never what it destroys;
- the bucket still stands once the key is written (``buckets``): a bucket
  deleted, or being deleted, meanwhile takes the key back, so no key
  outlives its bucket and comes back with a bucket made again under its
  name.

Where the records make a batch one transaction (SQLite), each write and
each delete is one commit, the holds it lets go of included: refused at
any step, it changed nothing. Elsewhere each step stands alone, ordered
so that a stop between two loses nothing, and what a lost race left is
mended after (``_drop_stale``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, List, Optional, Union

from ..errors import MethodNotAllowed, NotFound, PreconditionFailed
from ..storage.names import repository
from .buckets import Bucket, Buckets
from .claims import Claims
from .keys import Entry, Keys
from .retention import guard
from .pins import Pin
from .version_rules import change, may_replace, retention
from .versions import NULL, Version, Versions, checked_id, label, new_version_id


@dataclass(frozen=True)
class Forgotten:
    """What a delete did: the version it made or removed (None in a bucket
    without versions) and whether that is a delete marker."""

    version: Optional[str]
    marker: bool


class Keyspace:
    def __init__(self, claims: Claims, keys: Keys, versions: Versions, buckets: Buckets) -> None:
        self.claims, self.keys, self.versions, self.buckets = claims, keys, versions, buckets

    def name(self, bucket: Bucket, key: str, entry: Entry, if_match: Optional[str] = None,
             if_none_match: Union[bool, str] = False, pin: Optional[Pin] = None, replaces: bool = True) -> Entry:
        """Make ``key`` of ``bucket`` (as looked up when the request began)
        name ``entry``, whose bytes the caller holds pinned (``pin``: let go
        in the same commit as the key, where given); the entry as
        written (with its version id where the bucket keeps versions).
        What the write does (a version id, the default retention, the
        version it replaces kept or not) follows the bucket's settings as
        they stand at the commit (``_settle``), never the request's view.
        ``replaces``: False for a caller that may add keys but never replace
        one (append-only): unless versioning is enabled at the commit (the
        write then adds a version and replaces nothing), the key must name
        nothing (``PreconditionFailed``).
        The conditions, ``PreconditionFailed`` and NoSuchKey as ``Keys.put``; ``NotFound`` (NoSuchBucket)
        if the bucket went meanwhile, with nothing kept."""
        named = False
        kept: List[Entry] = []
        standing: List[Bucket] = []

        def settle(old: Optional[Entry]) -> Entry:
            now = self._settle(bucket, key, old, kept)
            standing[:] = [now]
            if old is not None and not may_replace(replaces, now.versioning):
                raise PreconditionFailed(message="the key %s exists, and the token may add keys but not replace "
                                         "them" % key[:200])
            return _as_written(entry, now)

        atomic = self.keys.records.atomic
        try:
            # The claim, the version kept, the key and what the change does
            # to the holds on the bytes in one commit where the records
            # allow (one fsync, and all or none of them).
            with self.keys.records.batch():
                named = self.claims.name(bucket.name, entry.oid, key)
                replaced, written = self.keys.put(bucket.name, key, settle, if_match, if_none_match)
                if pin is not None:
                    self.claims.release(pin)
                if atomic:
                    self._written(bucket.name, key, standing[0], replaced, written)
        except BaseException:
            if named and not atomic:
                self.claims.unname(bucket.name, entry.oid, key)
            raise
        if pin is not None:
            pin.released = True
        if not atomic:
            # Where the batch is one transaction, the bucket was read inside
            # it (``_settle``): a delete's close either came first, and the
            # write was refused, or comes after and finds the key. Elsewhere
            # the bucket is looked at again once the key is written.
            if not self.buckets.holds(bucket):
                self.keys.take_back(bucket.name, key, written, replaced)
                if named:
                    self.claims.unname(bucket.name, entry.oid, key)
                raise NotFound("the bucket %s was deleted while the key was written" % bucket.name
                               ).as_s3("NoSuchBucket")
            self._drop_stale(bucket.name, key, kept, replaced)
            self._written(bucket.name, key, standing[0], replaced, written)
        return written

    def _written(self, bucket: str, key: str, settings: Bucket, replaced: Optional[Entry], written: Entry) -> None:
        """What a write's commit does to the holds on the bytes: the
        replaced entry's name goes (kept, its version's name holds them),
        and so does the older ``null`` version where the write replaces it."""
        if replaced is not None and replaced.oid != written.oid:
            self.claims.unname(bucket, replaced.oid, key)
        if change(settings.versioning, replaced).drops_null:
            self._drop_older_null(bucket, key)

    def get(self, bucket: str, key: str, version_id: Optional[str] = None) -> Optional[Union[Entry, Version]]:
        """The current entry of ``key``; with ``version_id``, that version
        (the current ``Entry``, or an older ``Version``, perhaps a delete
        marker). None if there is none."""
        current = self.keys.get(bucket, key)
        if version_id is None:
            return current
        version_id = checked_id(version_id)
        if current is not None and label(current) == version_id:
            return current
        return self.versions.find(bucket, key, version_id)

    def name_again(self, bucket: Bucket, key: str, entry: Entry, replaces: bool = True) -> Entry:
        """``key`` made to name bytes the bucket holds already (a copy, a
        rename: nothing copied), pinned while it is; ``NotFound`` if the
        bytes went meanwhile. The entry as written."""
        with self.claims.pinned(bucket.name) as pin:
            pin.hashed(entry.oid)
            self.claims.backend.stat(repository(bucket.name), entry.oid)
            return self.name(bucket, key, entry, pin=pin, replaces=replaces)

    def forget(self, bucket: Bucket, key: str, version_id: Optional[str] = None, bypass: bool = False,
               condition: Optional[Callable[[Optional[Entry]], None]] = None) -> Forgotten:
        """DeleteObject: without ``version_id``, the key names nothing (in a
        versioned bucket, a delete marker is its newest version); with it,
        that version is gone for good, and where it was the newest, the
        next one is current again, unless its object lock forbids it
        (``retention.guard``; ``bypass``: a GOVERNANCE retention may be
        bypassed). Deleting what is not there is no error, as in S3.
        ``condition(entry)``: raises where the version about to go may not
        (None for a delete marker), judged on the very record removed."""
        # One commit for all of it where the records allow: the version
        # removed, the one made current again, the holds they let go of.
        with self.keys.records.batch():
            return self._forget(bucket, key, version_id, bypass, condition)

    def _forget(self, bucket: Bucket, key: str, version_id: Optional[str], bypass: bool,
                condition: Optional[Callable[[Optional[Entry]], None]]) -> Forgotten:
        name = bucket.name
        judge = condition or (lambda entry: None)
        if version_id is None:
            kept: List[Entry] = []
            standing: List[Bucket] = []

            def judged(old: Entry) -> None:
                judge(old)  # first: a delete refused keeps nothing
                standing[:] = [self._settle(bucket, key, old, kept)]

            old = self.keys.delete(name, key, judged)
            settings = standing[0] if old is not None else self.buckets.standing(bucket)
            self._drop_stale(name, key, kept, old)
            if old is not None:
                self.claims.unname(name, old.oid, key)
            rule = change(settings.versioning, old, delete=True)
            if not rule.marker:
                return Forgotten(None, False)
            if old is None and condition is not None:
                newest = self.versions.of(name, key, 1)
                if not newest:
                    return Forgotten(None, False)  # nothing to judge, nor to mark: a delete of nothing
                if newest[0].entry is None:
                    judge(None)  # the key's newest version is a delete marker
            if rule.drops_null:
                self._drop_older_null(name, key)
            marker = self.versions.mark(name, key, new_version_id() if rule.new_id else None)
            return Forgotten(marker.id, True)
        version_id = checked_id(version_id)
        now = self.keys.records.now()
        what = "version %s of %s" % (version_id, key[:200])
        if not self.keys.records.atomic:
            self.versions.note_forgotten(name, key, version_id)  # before it goes: see _drop_stale
        # A delete of the newer version may make this one current while we
        # look (``_promote``: made current, then dropped from the older
        # ones): not found among the older, it is looked for as the current
        # one once more.
        def checked(entry: Entry) -> None:
            guard(entry.lock, now, bypass, what)
            judge(entry)

        def as_current() -> bool:
            old = self.keys.delete(name, key, checked, only=version_id)
            if old is not None:
                self.claims.unname(name, old.oid, key)
                self._promote(name, key)
            return old is not None

        while True:
            if as_current():
                return Forgotten(version_id, False)
            found = self.versions.find(name, key, version_id)
            if found is None:
                as_current()
                return Forgotten(version_id, False)
            if found.entry is not None:
                checked(found.entry)
            else:
                judge(None)
            if self.versions.drop(name, found):
                break
        if found.entry is not None:
            self.claims.unname(name, found.entry.oid, key, found.id)
        if self.keys.get(name, key) is None:
            self._promote(name, key)
        return Forgotten(version_id, found.marker)

    def relock(self, bucket: str, key: str, version_id: Optional[str], change: Callable[[Optional[dict]], dict]
               ) -> Entry:
        """Change the lock of ``key``'s version ``version_id`` (None: the
        current one) with ``change`` (it may refuse: ``retention.retained``);
        the entry as written (see ``amend``)."""
        def relocked(entry: Entry) -> None:
            entry.lock = change(entry.lock) or None
        return self.amend(bucket, key, version_id, relocked)

    def amend(self, bucket: str, key: str, version_id: Optional[str], change: Callable[[Entry], None]) -> Entry:
        """Amend ``key``'s version ``version_id`` (None: the current one)
        with ``change`` (its lock, its tags; it may refuse), on the very
        record written; the entry as written. ``NotFound`` (NoSuchKey,
        NoSuchVersion) if there is no such version, ``MethodNotAllowed``
        for a marker."""
        current = self.keys.get(bucket, key)
        if version_id is None or (current is not None and label(current) == checked_id(version_id)):
            written = self.keys.amend(bucket, key, label(current), change) if current is not None else None
            if written is None:
                raise NotFound("no key %s in bucket %s" % (key[:200], bucket)).as_s3("NoSuchKey")
            return written
        found = self.versions.find(bucket, key, version_id)
        if found is None:
            raise NotFound("no version %s of key %s" % (version_id, key[:200])).as_s3("NoSuchVersion")
        if found.entry is None:
            raise MethodNotAllowed(["DELETE"], "the version %s is a delete marker" % found.id
                                   ).as_s3("MethodNotAllowed")
        written = self.versions.amend(bucket, found, change)
        if written is None:
            raise NotFound("no version %s of key %s" % (version_id, key[:200])).as_s3("NoSuchVersion")
        return written

    def holds_any(self, bucket: str) -> bool:
        """Whether any key, older version or delete marker is in the bucket."""
        return self.keys.any(bucket) or self.versions.any(bucket)

    def _settle(self, bucket: Bucket, key: str, old: Optional[Entry], kept: List[Entry]) -> Bucket:
        """The commit of a write or delete of ``key`` that replaces ``old``
        (None: nothing), judged by the bucket's settings as they stand now
        (``Buckets.standing``), which are the bucket returned: ``old`` kept
        as a version under versioning enabled,
        and under suspended unless it is the ``null`` version (replaced);
        each one kept is added to ``kept``.

        Decision: the settings are read after the key's record, and the
        write is a compare-and-swap on that record, so no stale view can
        destroy a locked version, where the records take each step alone
        too: a version can be locked only once versioning is enabled for
        good, and its lock (or a write of it under a default retention) is
        a change of the very record the swap names, so a write that read
        the version locked reads the settings that locked it."""
        now = self.buckets.standing(bucket)
        if old is not None and change(now.versioning, old).keeps:
            kept.append(old)
            self.claims.name(now.name, old.oid, key, label(old))
            self.versions.keep(now.name, key, old)
        return now

    def _drop_stale(self, bucket: str, key: str, kept: List[Entry], replaced: Optional[Entry]) -> None:
        """A version kept by a try that lost its race, and deleted by its id
        meanwhile, dropped again. Where the records take each step alone
        (``--records s3``), a write (or marker) keeps the version it read
        before its compare-and-swap; a delete of that version by its id may
        come between the two, and the swap then fails and is tried again
        with what the key names now. The deletion is remembered first
        (``Versions.note_forgotten``), so the kept copy is found and goes;
        a version another writer replaced and kept is no such deletion,
        and stays."""
        if self.keys.records.atomic:
            return  # one transaction: no try lost a race, nor was deleted meanwhile
        for old in kept:
            if replaced is not None and label(old) == label(replaced):
                continue  # the try that won kept it: a version of the key
            if not self.versions.was_forgotten(bucket, key, label(old)):
                continue
            found = self.versions.find(bucket, key, label(old))
            if found is not None and found.entry is not None and self.versions.drop(bucket, found):
                self.claims.unname(bucket, found.entry.oid, key, found.id)

    def _drop_older_null(self, bucket: str, key: str) -> None:
        """The older ``null`` version, replaced by a write or marker made
        while versioning is suspended."""
        found = self.versions.find(bucket, key, NULL)
        if found is not None:
            self.versions.drop(bucket, found)
            if found.entry is not None:
                self.claims.unname(bucket, found.entry.oid, key, NULL)

    def _promote(self, bucket: str, key: str) -> None:
        """The newest older version, if it is an object, current again (its
        newer ones were deleted). Decision: it is made current first and
        then dropped from the older versions, so it is never nowhere; where
        the drop finds it gone, a delete of it by its id came in between and
        wins: it is taken back, and the next one is looked at."""
        while True:
            newest = self.versions.of(bucket, key, 1)
            if not newest or newest[0].entry is None:
                return
            version = newest[0]
            if not self.keys.restore(bucket, key, version.entry):
                return  # written meanwhile: that write is current
            self.claims.name(bucket, version.entry.oid, key)
            if self.versions.drop(bucket, version):
                self.claims.unname(bucket, version.entry.oid, key, version.id)
                return
            taken = self.keys.delete(bucket, key, only=version.id)
            if taken is None:
                return  # replaced meanwhile by a write: that write is current
            self.claims.unname(bucket, taken.oid, key)


def _as_written(entry: Entry, bucket: Bucket) -> Entry:
    """``entry`` as a write into ``bucket`` (its settings at the commit)
    makes it: a version id where versioning is enabled, and the bucket's
    default retention where the write asked for none (``version_rules``)."""
    version = new_version_id() if change(bucket.versioning, None).new_id else None
    lock = retention(entry.lock, bucket.lock, entry.modified)
    if version != entry.version or lock is not entry.lock:  # copied only where something changes
        entry = replace(entry, version=version, lock=lock)
    return entry
