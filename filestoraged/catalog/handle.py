"""One bucket as a request found it, and everything a face does to its
keys: the one owner of a key's life that every face calls (the S3 API,
its HTML forms, resumable uploads into a key, the console), so that no
face can keep a promise another breaks.

A request resolves its bucket once (``BucketHandle.open``); then the
handle holds the rules a face would otherwise write again:

- who may replace a key (``_adds_only``: an append-only writer, told
  before the body where the key names something and the bucket keeps no
  versions; judged again at the commit, ``Keyspace.name``; a restic
  repository's ``config`` is never written twice by one, versions or
  not: restic could no longer open the repository), and who may
  remove one: nobody, in an append-only restic repository
  (``--restic-append-only``), but for its ``locks/``, whoever writes;
- the entry a write makes (``entry``: one constructor, the time of the
  write from the records' clock, what the request said of the object
  carried by ``Described``);
- one write call for every face (``write_to``, then ``KeyWrite.store``):
  the ask whether the writer may replace, before the body (a writer is
  held to adding unless the face says it may replace); the body's ETag
  taken as it is read; its checks; the entry; the commit;
- a copy, a delete and an amendment of a key, through the keyspace (one
  commit each, judged by the bucket's settings at it);
- a read by version, and what a read of a delete marker or of nothing
  answers.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

from ..errors import Conflict, Forbidden, MethodNotAllowed, NotFound
from ..storage.interface import Look, ObjectInfo, ObjectStream, PutResult, Readable
from ..base.streams import Digested
from ..storage.names import repository
from ..wire.response_head import date_text
from .buckets import Bucket
from .keys import Entry
from .keyspace import Forgotten
from .version_rules import may_replace
from .versions import Version


@dataclass(frozen=True)
class Described:
    """What a write says of its object besides the bytes: the media type,
    the headers and ``x-amz-meta-*`` it is stored with, its object lock
    (None: the bucket's default, if any), tags and canned ACL."""

    content_type: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    meta: Dict[str, str] = field(default_factory=dict)
    lock: Optional[dict] = None
    tags: Optional[Dict[str, str]] = None
    acl: Optional[str] = None
    props: Optional[Dict[str, str]] = None  # WebDAV dead properties

    @classmethod
    def of(cls, entry: Entry) -> "Described":
        """What ``entry`` was stored with, for a copy of it (its lock and
        ACL stay its own: a copy takes the bucket's default retention and
        is private, as S3 makes one unless asked)."""
        return cls(entry.content_type, dict(entry.headers), dict(entry.meta), tags=entry.tags, props=entry.props)


class BucketHandle:
    def __init__(self, app, bucket: Bucket, maker: Optional[str] = None) -> None:
        """``maker``: the name of the token the writes are made by (kept
        with each entry they make; None: no token)."""
        self.app = app
        self.bucket = bucket
        self.maker = maker

    @classmethod
    def open(cls, app, name: str, request=None) -> "BucketHandle":
        """The bucket ``name``; ``NotFound`` (NoSuchBucket) if there is none.
        With ``request`` (``web.messages.Request``), looked up once for it:
        every later step of the request (an ACL's judgement, the
        operation) gets the same handle, the bucket as the request found it."""
        if request is None:
            return cls(app, app.buckets.require(name))
        found = request.looked_up.get("bucket")
        if found is None or found.name != name:
            found = request.looked_up["bucket"] = cls(app, app.buckets.require(name), request.acted_as())
        return found

    @property
    def name(self) -> str:
        return self.bucket.name

    # -- the rules ------------------------------------------------------------------

    def appends_only(self, key: str) -> Optional[str]:
        """The append-only restic repository (``--restic-append-only``)
        ``key`` is a file of, as ``BUCKET[/PATH]``; None if it is in none, or
        is one of its ``locks/`` (restic removes its own)."""
        if not self.app.config.restic_append_only:
            return None  # the usual case, asked on every write: nothing to parse
        for bucket, below in self.app.config.append_only_repositories:
            if bucket == self.name and key.startswith(below) and not key[len(below):].startswith("locks/"):
                return (bucket + "/" + below).rstrip("/")
        return None

    def _adds_only(self, may_write: bool, key: str, who: str, if_match: Optional[str], config: bool) -> bool:
        """Whether a writer that ``may_write`` (replace keys) or, failing
        that, only add them (``data:BUCKET:create``, append-only) is held to
        adding (``write_to``). In an append-only repository
        (``appends_only``) every writer is. Told now, before any byte, on
        every face alike: ``Forbidden`` where the key names something (or
        the write asks to replace one, ``If-Match``) and the bucket's
        versioning is not enabled, or the key is a restic repository's
        ``config``. At the commit the rule is judged again (a key that came
        meanwhile: ``PreconditionFailed``)."""
        repository = self.appends_only(key)
        if may_write and repository is None:
            return False
        if (not may_replace(False, self.bucket.versioning) or config) and (
                if_match is not None or self.app.keys.get(self.name, key) is not None):
            held = ("the repository %s is append-only (--restic-append-only)" % repository if repository else
                    "the token %r may add keys to %s but never replace one (data:%s:create)" % (who, self.name,
                                                                                              self.name))
            raise Forbidden("%s%s" % (held, "" if if_match else ": %s exists" % key[:200])).as_s3("AccessDenied")
        return True

    def entry(self, oid: str, size: int, etag: str, described: Described, checksums: Optional[Dict[str, str]] = None,
              parts: Optional[int] = None, part_sizes: Optional[List[int]] = None,
              part_checksums: Optional[List[str]] = None) -> Entry:
        """The entry a write of this object makes, stamped now (the
        records' clock); its version id and default retention are the
        commit's (``Keyspace.name``)."""
        return Entry(oid, size, etag, self.app.records.now(), described.content_type, dict(described.headers),
                     dict(described.meta), dict(checksums or {}), parts, part_sizes, part_checksums,
                     lock=described.lock, tags=described.tags, acl=described.acl, props=described.props,
                     maker=self.maker)

    # -- writes ---------------------------------------------------------------------

    def write_to(self, key: str, may_replace: bool = False, if_match: Optional[str] = None,
                 if_none_match: Union[bool, str] = False) -> "KeyWrite":
        """The write of ``key`` every face makes, asked now, before any byte
        of the body: ``may_replace``, whether the writer may replace keys
        (``data:BUCKET:write``; by default it may only add them, and is
        refused here where the key names something, ``_adds_only``). The
        conditions as ``Keyspace.name`` judges them at the commit."""
        config = self.restic_config(key)
        only_new = self._adds_only(may_replace, key, self.maker or "anonymous", if_match, config)
        if only_new and config:
            if_none_match = True  # written once: a config that came meanwhile is not given a second version
        return KeyWrite(self, key, not only_new, if_match, if_none_match)

    def restic_config(self, key: str) -> bool:
        """Whether ``key`` is a restic repository's ``config``: ``[PATH/]config``
        beside the repository's ``keys/`` (restic writes the config first,
        then a key: a config written again finds them)."""
        folder, _, name = key.rpartition("/")
        if name != "config":
            return False  # the usual case, asked on every write: no lookup
        return bool(self.app.keys.page(self.name, folder + "/keys/" if folder else "keys/", limit=1).items)

    def _store(self, key: str, source: Readable, content_type: Optional[str], checks: Callable[[str], None],
               entry_of: Callable[[ObjectInfo], Entry], if_match: Optional[str] = None,
               if_none_match: Union[bool, str] = False, replaces: bool = False) -> Tuple[PutResult, Entry]:
        """Store ``source`` in the bucket's repository and make ``key`` name
        it: the bytes pinned from before the backend looks whether they are
        stored already until the key's commit (``catalog.claims``);
        ``checks(oid)``: the body's checks, before anything is published;
        ``entry_of(info)``: the entry the key is to hold. The conditions as
        ``Keyspace.name``."""
        replaces = replaces and self.appends_only(key) is None
        claims = self.app.claims
        with claims.pinned(self.name) as pin:
            def hashed(oid: str, look: Optional[Look]) -> None:
                checks(oid)  # a body that fails a check stores nothing
                pin.hashed(oid, look)

            put = self.app.backend.put(repository(self.name), source, content_type, hashed=hashed)
            claims.stored(pin, put.created)
            written = self.app.keyspace.name(self.bucket, key, entry_of(put.info), if_match, if_none_match, pin,
                                             replaces)
        return put, written

    def _copy(self, key: str, source: Entry, described: Described, replaces: bool,
              source_bucket: Optional[str] = None) -> Entry:
        """``key`` made to name ``source``'s object, described as
        ``described``; the entry as written (``KeyWrite.copy``). Of this
        bucket, no byte is copied (a new name for the same object); of
        ``source_bucket``, its bytes are stored in this one in one pass,
        checked as they are read."""
        entry = self.entry(source.oid, source.size, source.etag, described, source.checksums, source.parts,
                           source.part_sizes, source.part_checksums)
        if source_bucket is None or source_bucket == self.name:
            return self.app.keyspace.name_again(self.bucket, key, entry, replaces and self.appends_only(key) is None)
        with self.app.backend.open(repository(source_bucket), source.oid) as obj, \
                closing(ObjectStream(obj)) as stream:
            return self._store(key, stream, described.content_type, lambda oid: None, lambda info: entry,
                               replaces=replaces)[1]

    def delete(self, key: str, version_id: Optional[str] = None, bypass: bool = False,
               condition: Optional[Callable[[Optional[Entry]], None]] = None) -> Forgotten:
        """DeleteObject, as ``Keyspace.forget``; ``Forbidden`` in an
        append-only repository (``appends_only``), whoever asks."""
        repository = self.appends_only(key)
        if repository is not None:
            raise Forbidden("the repository %s is append-only (--restic-append-only): %s is never removed"
                            % (repository, key[:200])).as_s3("AccessDenied")
        return self.app.keyspace.forget(self.bucket, key, version_id, bypass, condition, self.maker)

    def amend(self, key: str, version_id: Optional[str], change: Callable[[Entry], None]) -> Entry:
        """A version's lock, tags or ACL changed, as ``Keyspace.amend``."""
        return self.app.keyspace.amend(self.name, key, version_id, change, self.maker)

    def relock(self, key: str, version_id: Optional[str], change: Callable[[Optional[dict]], dict]) -> Entry:
        return self.app.keyspace.relock(self.name, key, version_id, change, self.maker)

    def delete_bucket(self) -> None:
        """DeleteBucket, whatever face asks: refused (``Conflict``,
        BucketNotEmpty) while a key, an older version or a delete marker is
        in it. The bucket is closed first, so that a write racing the
        delete either lands before the look (and the bucket stays) or is
        refused after it."""
        buckets = self.app.buckets
        buckets.close(self.bucket)  # a write that names a key from now on takes it back (catalog.buckets)
        try:
            if self.app.keyspace.holds_any(self.name):
                raise Conflict("the bucket %s holds keys, older versions or delete markers: delete them first"
                               % self.name).as_s3("BucketNotEmpty")
        except BaseException:
            buckets.reopen(self.bucket)
            raise
        buckets.delete(self.name)
        self.app.recent.forget(self.name)

    # -- reads ----------------------------------------------------------------------

    def find(self, key: str, version_id: Optional[str] = None) -> Optional[Union[Entry, Version]]:
        """The current entry of ``key``, or with ``version_id`` that version
        (perhaps a delete marker); None if there is none."""
        return self.app.keyspace.get(self.name, key, version_id)

    def read(self, key: str, version_id: Optional[str] = None) -> Entry:
        """The object a read names: the key's current one, or with
        ``version_id`` that version. ``NotFound`` (NoSuchKey, NoSuchVersion);
        a delete marker is ``MethodNotAllowed`` by its id, and makes a plain
        read's 404 say so (``x-amz-delete-marker``), as in S3."""
        found = self.find(key, version_id)
        if isinstance(found, Version):
            if found.entry is None:
                raise MethodNotAllowed(["DELETE"], "the version %s is a delete marker" % found.id).as_s3(
                    "MethodNotAllowed", headers={"x-amz-delete-marker": "true", "x-amz-version-id": found.id,
                                                 "Last-Modified": date_text(int(found.modified))})
            return found.entry
        if found is not None:
            return found
        if version_id is not None:
            raise NotFound("no version %s of key %s" % (version_id, key[:200])).as_s3("NoSuchVersion")
        newest = self.app.versions.of(self.name, key, 1) if self.bucket.versioning else []
        headers = ({"x-amz-delete-marker": "true", "x-amz-version-id": newest[0].id}
                   if newest and newest[0].marker else {})
        raise NotFound("no key %s in bucket %s" % (key[:200], self.name)).as_s3("NoSuchKey", headers=headers)


class KeyWrite:
    """One write of a key through its bucket's handle, as every face makes
    it (``BucketHandle.write_to``): ``replaces`` False, the writer only adds
    (judged again at the commit: a key that came meanwhile is
    ``PreconditionFailed``, unless versioning is enabled then)."""

    def __init__(self, handle: BucketHandle, key: str, replaces: bool = False, if_match: Optional[str] = None,
                 if_none_match: Union[bool, str] = False) -> None:
        self.handle, self.key, self.replaces = handle, key, replaces
        self.if_match, self.if_none_match = if_match, if_none_match

    def store(self, body: Readable, described: Described,
              checks: Optional[Callable[[str], Optional[Dict[str, str]]]] = None,
              etag: Optional[Callable[[], str]] = None, parts: Optional["PartsLayout"] = None
              ) -> Tuple[PutResult, Entry]:
        """``body`` stored and the key made to name it; the stored object
        and the entry as written. ``checks(oid)``: the body's checks
        before anything is published (``oid``: its SHA-256), returning the
        checksums the entry keeps (None: none); ``etag()``: the ETag where
        the face takes it itself (S3's payload reader, a multipart
        completion), else the MD5 of the bytes, taken as they are read;
        ``parts``: a multipart object's layout."""
        if etag is None:
            body = Digested(body)
            etag = body.md5.hexdigest
        kept: Dict[str, str] = {}

        def checked(oid: str) -> None:
            if checks is not None:
                kept.update(checks(oid) or {})

        layout = (parts.count, parts.sizes, parts.checksums) if parts is not None else ()

        def entry_of(info: ObjectInfo) -> Entry:
            assert etag is not None
            return self.handle.entry(info.oid, info.size, etag(), described, kept, *layout)

        return self.handle._store(self.key, body, described.content_type, checked, entry_of, self.if_match,
                                  self.if_none_match, self.replaces)

    def copy(self, source: Entry, described: Described, source_bucket: Optional[str] = None) -> Entry:
        """The key made to name ``source``'s object (of ``source_bucket``,
        else of this bucket: no byte copied), described as ``described``;
        the entry as written."""
        return self.handle._copy(self.key, source, described, self.replaces, source_bucket)


@dataclass(frozen=True)
class PartsLayout:
    """A multipart object's parts, as its entry keeps them."""

    count: int
    sizes: List[int]
    checksums: Optional[List[str]] = None
