"""``/dav/``: WebDAV (RFC 4918, classes 1 and 2) over the same buckets and
keys as every other face, so that people mount the store as a drive.

``/dav/`` lists the buckets the token reaches; ``/dav/BUCKET/`` is a
bucket's root; below it files are keys and collections are key prefixes
(``tree``). Access is the token's scopes on the keys, as for S3 and the
restic face: ``read`` for GET and PROPFIND (public where ``--auth writes``
leaves reads open), ``create`` to add a file or a collection, ``write`` to
replace one or change its properties, ``delete`` to delete; a token is
given as HTTP Basic (the token as password) or as a bearer token.
Locks (``locks``) are kept in the records, shared by every daemon; a
change of a locked path needs the lock's token (``guard``).

Decisions:
- PROPFIND answers Depth 0 and 1; ``infinity`` is refused (403
  ``propfind-finite-depth``), so no request walks a whole bucket, unless
  the operator allows it (``--webdav-depth-infinity``): then it is sent as
  the keys are read, as any listing.
- A collection's dead properties are kept on its marker (made if it had
  none); a file's with its key, and they follow it through COPY and MOVE.
- A bucket is neither made nor deleted here (MKCOL and DELETE of
  ``/dav/BUCKET/`` are 403): S3 or the console does that.
- GET of a collection is 405: it is listed with PROPFIND.
"""

from __future__ import annotations

import hashlib
from typing import Dict, Iterable, Iterator, List, Optional, Union
from urllib.parse import quote

from ...access.scopes import Need, Scope
from ...catalog.handle import BucketHandle, Described
from ...catalog.keys import Entry
from ...errors import BadRequest, Conflict, Forbidden, MethodNotAllowed, NotFound, UnsupportedMediaType
from ...storage.names import repository
from ...uploads.sources import raw_upload
from ...base.streams import Digested
from ...web.messages import EmptyResponse, ObjectResponse, Request, Response, StreamResponse, TextResponse
from ...web.router import Router
from ...wire.conditions import Validators, write_conditions
from .. import Face
from . import owncloud, windows
from .locking import Locking
from .moves import Moves
from .props import (MAX_BODY, MAX_PROPS, PROTECTED, XML_TYPE, FileRows, MultiStatus, Resource, changes_of, find_of,
                    href, live_of, parse)
from .paths import creatable, depth_of, folder_of, key_of, parent_of
from .signin import require
from .tree import Tree

BASE = "/dav/"
METHODS = ("OPTIONS", "PROPFIND", "PROPPATCH", "MKCOL", "GET", "HEAD", "PUT", "DELETE", "COPY", "MOVE", "LOCK",
           "UNLOCK")


class WebDavFace(Face):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.locking = Locking(app.records, BASE, self._validators_of, app.config.webdav_macos_files)
        self.moves = Moves(BASE, self._open, self._guard, self.locking, app.config.webdav_macos_files)

    def register(self, router: Router) -> None:
        # Every access is judged per key once the path is read: the routes ask nothing themselves.
        root = {"OPTIONS": self.options, "PROPFIND": self.list_buckets}
        router.add(BASE, "webdav", root, {method: None for method in root})
        # The server's root: Windows' WebDAV client asks OPTIONS and PROPFIND
        # there before it maps a drive anywhere below (GET / is the upload page).
        top = {"OPTIONS": self.options, "PROPFIND": self.server_root}
        router.add("/", "webdav", top, {method: None for method in top})
        methods = {"OPTIONS": self.options, "PROPFIND": self.propfind, "PROPPATCH": self.proppatch,
                   "MKCOL": self.mkcol, "GET": self.get, "PUT": self.put, "DELETE": self.delete,
                   "COPY": self.copy, "MOVE": self.move, "LOCK": self.lock, "UNLOCK": self.unlock}
        needs = {method: None for method in methods}
        router.add(BASE + "{bucket}/", "webdav", methods, needs)
        router.add(BASE + "{bucket}/{path...}", "webdav", methods, needs)

    # -- what a path names ------------------------------------------------------------

    def _open(self, request: Request, bucket: str, verb: str, key: str) -> Tree:
        require(request, Need(Scope("data", verb, bucket, key or None), public=verb == "read"))
        return Tree(BucketHandle.open(self.app, bucket, request))

    def _guard(self, request: Request, bucket: str, changed: List[str], members_of: Iterable[str] = (),
               trees: Iterable[str] = (), judge: bool = True, resource: Optional[str] = None) -> None:
        self.locking.check(request, bucket, changed, members_of, trees, judge, resource)

    def _validators_of(self, bucket: str, path: str) -> Optional[Validators]:
        """A file's ETag and time of its write, as conditions judge them;
        None for anything else (a collection has no ETag here)."""
        entry = self.app.keys.get(bucket, path) if path and not path.endswith("/") else None
        return Validators(entry.etag, entry.modified) if entry is not None else None

    def options(self, request: Request, bucket: str = "", path: str = "") -> Response:
        return EmptyResponse(200, {"DAV": "1, 2", "MS-Author-Via": "DAV", "Allow": ", ".join(METHODS),
                                   "Content-Length": "0"})

    def server_root(self, request: Request) -> Response:
        """``PROPFIND /``: the server's root, a collection holding ``/dav/``."""
        find = find_of(parse(request.body(MAX_BODY).read_all()))
        depth = depth_of(request)
        answer = MultiStatus()
        answer.found(Resource("/", live_of(True, name="")), find)
        if depth == "1":
            answer.found(Resource(BASE, live_of(True, name="dav")), find)
        return _multistatus(answer)

    def list_buckets(self, request: Request) -> Response:
        """``PROPFIND /dav/``: the root, and with Depth 1 the buckets the token may read."""
        find = find_of(parse(request.body(MAX_BODY).read_all()))
        depth = depth_of(request)
        answer = MultiStatus()
        answer.found(Resource(BASE, live_of(True, name="dav")), find)
        if depth == "1":
            require(request, None)
            for bucket in self.app.buckets.all():
                if request.grant.allows(Scope("data", "read", bucket.name)):
                    answer.found(Resource(href(BASE, [bucket.name], True), live_of(True, name=bucket.name)), find)
        return _multistatus(answer)

    # -- reads ------------------------------------------------------------------------

    def propfind(self, request: Request, bucket: str, path: str = "") -> Response:
        key = key_of(path)
        depth = depth_of(request, self.config.webdav_depth_infinity)
        find = find_of(parse(request.body(MAX_BODY).read_all()))
        tree = self._open(request, bucket, "read", key)
        answer = MultiStatus()
        entry = tree.file(key)
        if entry is not None:
            answer.found(_file(bucket, key, entry, self.locking.live(bucket, self.locking.covering(bucket, key)(key))),
                         find)
            return _multistatus(answer)
        prefix = folder_of(key)
        found = tree.collection(prefix)
        if not found:
            raise NotFound("nothing at %s in %s" % (key[:200], bucket))
        locks_of = self.locking.covering(bucket, prefix)
        if depth != "0":  # a listing: never public, as no face's listing is (--auth writes opens reads only)
            require(request, Need(Scope("data", "read", bucket, prefix or None)))
        answer.found(_collection(bucket, prefix, found, self.locking.live(bucket, locks_of(prefix))), find)
        if depth == "0":
            return _multistatus(answer)

        def members() -> Iterator[Union[Resource, str]]:
            """The collection's members (with Depth infinity, everything
            under it), a page of keys read at a time as the answer is sent."""
            rows = FileRows(find, self.locking.live(bucket, []), owncloud.CHECKSUMS)
            hrefs: Dict[str, str] = {}
            listed = ((prefix + name, member) for name, member in tree.children(prefix)) if depth == "1" else \
                tree.everything(prefix)
            for path, member in listed:
                folder, _, name = path.rstrip("/").rpartition("/")
                folder_href = hrefs.get(folder)
                if folder_href is None:
                    hrefs.clear()  # (a listing's folders come one after another: keep one)
                    folder_href = hrefs[folder] = href(BASE, [bucket] + [p for p in folder.split("/") if p], True)
                name += "/" if path.endswith("/") else ""
                locks = locks_of(path)
                if name.endswith("/"):
                    yield _collection(bucket, path, member or True, self.locking.live(bucket, locks))
                elif locks or member.props:  # type: ignore[union-attr]
                    yield _file(bucket, path, member, self.locking.live(bucket, locks), folder_href)  # type: ignore
                else:
                    entry: Entry = member  # type: ignore[assignment]
                    yield rows.row(folder_href + quote(name, safe=""), name, entry.size, entry.content_type,
                                   entry.etag, owncloud.modified_of(entry), owncloud.checksums_of(entry))

        return StreamResponse(207, answer.streamed(members(), find), XML_TYPE)

    def get(self, request: Request, bucket: str, path: str = "") -> Response:
        key = key_of(path)
        tree = self._open(request, bucket, "read", key)
        entry = tree.file(key)
        if entry is None:
            if tree.collection(folder_of(key)):
                raise MethodNotAllowed(list(METHODS), "a collection is listed with PROPFIND, not read")
            raise NotFound("no file %s in %s" % (key[:200], bucket))
        return ObjectResponse(self.backend.open(repository(bucket), entry.oid),
                              content_type=entry.content_type or "application/octet-stream", immutable=False,
                              etag=entry.etag, modified=entry.modified)

    # -- writes -----------------------------------------------------------------------

    def put(self, request: Request, bucket: str, path: str = "") -> Response:
        key = key_of(path)
        if not key or key.endswith("/"):
            raise MethodNotAllowed(list(METHODS), "a collection is made with MKCOL, not PUT")
        if "Content-Range" in request.headers:
            raise BadRequest("a PUT replaces a whole file: Content-Range is not taken (RFC 9110)")
        tree = self._open(request, bucket, "create", key)
        handle = tree.handle
        if not tree.collection(parent_of(key)):
            raise Conflict("the collection %s does not exist: make it first (MKCOL)" % parent_of(key)[:200])
        if tree.collection(key + "/"):
            raise MethodNotAllowed(list(METHODS), "%s is a collection" % key[:200])
        existed = tree.file(key)
        if existed is None:
            creatable(key, self.config.webdav_macos_files)
        self._guard(request, bucket, [key], [] if existed is not None else [parent_of(key)])
        upload = raw_upload(request, self.config.max_size)
        if_match, if_none_match = write_conditions(request.headers)  # judged above, and again at the commit
        write = handle.write_to(key, request.grant.allows(Scope("data", "write", bucket, key)), if_match,
                                if_none_match)
        mtime = owncloud.mtime_of(request.headers.get("X-OC-Mtime"))
        expected = owncloud.expected_of(request.headers.get("OC-Checksum"))
        md5, sha1 = hashlib.md5(), owncloud.new_hasher(expected)
        described = Described(upload.content_type or "application/octet-stream",
                              meta={"mtime": mtime} if mtime is not None else {},
                              props=existed.props if existed is not None else None)
        source = Digested(upload.stream if sha1 is None else Digested(upload.stream, sha1), md5)
        write.store(source, described, lambda oid: owncloud.check(expected, md5.hexdigest(), sha1), md5.hexdigest)
        answer = {"Content-Length": "0"}
        if mtime is not None:
            answer.update(owncloud.ACCEPTED)
        return EmptyResponse(204 if existed is not None else 201, answer)

    def mkcol(self, request: Request, bucket: str, path: str = "") -> Response:
        key = key_of(path)
        if request.body(MAX_BODY).read_all():
            raise UnsupportedMediaType("MKCOL takes no body here")
        prefix = folder_of(key)
        if not prefix:
            raise Forbidden("a bucket is made through S3 or the console, not MKCOL")
        creatable(prefix, self.config.webdav_macos_files)
        tree = self._open(request, bucket, "create", prefix)
        if tree.file(key.rstrip("/")) is not None or tree.collection(prefix):
            raise MethodNotAllowed([m for m in METHODS if m != "MKCOL"], "%s exists" % key[:200])
        if not tree.collection(parent_of(prefix)):
            raise Conflict("the collection %s does not exist: make it first" % parent_of(prefix)[:200])
        self._guard(request, bucket, [prefix], [parent_of(prefix)])
        tree.make_collection(prefix)
        return EmptyResponse(201, {"Content-Length": "0"})

    def delete(self, request: Request, bucket: str, path: str = "") -> Response:
        key = key_of(path)
        if not key:
            raise Forbidden("a bucket is deleted through S3 or the console, not DELETE")
        tree = self._open(request, bucket, "delete", key)
        if tree.file(key) is not None:
            self._guard(request, bucket, [key], [parent_of(key)])
            tree.handle.delete(key)
            self.locking.drop(bucket, key)
            return EmptyResponse(204)
        prefix = folder_of(key)
        if not tree.collection(prefix):
            raise NotFound("nothing at %s in %s" % (key[:200], bucket))
        self._guard(request, bucket, [prefix], [parent_of(prefix)], [prefix])
        tree.delete_tree(prefix)
        self.locking.drop(bucket, prefix)
        return EmptyResponse(204)

    def proppatch(self, request: Request, bucket: str, path: str = "") -> Response:
        key = key_of(path)
        changes = changes_of(parse(request.body(MAX_BODY).read_all()))
        tree = self._open(request, bucket, "write", key)
        target = key if tree.file(key) is not None else None
        unmarked = False  # a collection that only its keys make: its marker is made to hold the properties
        if target is None:
            target = folder_of(key)
            found = tree.collection(target)
            if not found:
                raise NotFound("nothing at %s in %s" % (key[:200], bucket))
            unmarked = not isinstance(found, Entry)
        self._guard(request, bucket, [target])
        refused = [change.name for change in changes if change.name in PROTECTED]
        answer = MultiStatus()
        where = href(BASE, [bucket] + target.split("/"), False) if target else href(BASE, [bucket], True)
        if refused or not target:
            answer.patched(where, [(change.name, 403 if change.name in refused or not target else 424)
                                   for change in changes])
            return _multistatus(answer)
        if unmarked:
            tree.make_collection(target)
        mtime = windows.mtime_of(changes) if not target.endswith("/") else None

        def patched(entry: Entry) -> None:
            props = dict(entry.props or {})
            for change in changes:
                if change.value is None:
                    props.pop(change.name, None)
                else:
                    props[change.name] = change.value
            if len(props) > MAX_PROPS:
                raise BadRequest("an object holds at most %d properties" % MAX_PROPS)
            entry.props = props or None
            if mtime is not None:
                entry.meta = dict(entry.meta, mtime=mtime)

        tree.handle.amend(target, None, patched)
        answer.patched(where, [(change.name, 200) for change in changes])
        return _multistatus(answer)

    # -- locks ------------------------------------------------------------------------

    def lock(self, request: Request, bucket: str, path: str = "") -> Response:
        key = key_of(path)
        return self.locking.lock(request, bucket, key, self._open(request, bucket, "write", key))

    def unlock(self, request: Request, bucket: str, path: str = "") -> Response:
        key = key_of(path)
        return self.locking.unlock(request, bucket, key, self._open(request, bucket, "write", key))

    def copy(self, request: Request, bucket: str, path: str = "") -> Response:
        return self.moves.carry_out(request, bucket, path, move=False)

    def move(self, request: Request, bucket: str, path: str = "") -> Response:
        return self.moves.carry_out(request, bucket, path, move=True)

def _file(bucket: str, key: str, entry: Entry, more: Dict[str, str], folder_href: str = "") -> Resource:
    """``folder_href``: the href of the collection the file is in, where the caller has it (a listing)."""
    name = key.rpartition("/")[2]
    live = live_of(False, entry.size, entry.content_type, entry.etag, owncloud.modified_of(entry), name)
    live.update(more)
    checksums = owncloud.checksums_of(entry)
    if checksums is not None:
        live[owncloud.CHECKSUMS] = checksums
    where = folder_href + quote(name, safe="") if folder_href else href(BASE, [bucket] + key.split("/"), False)
    return Resource(where, live, dict(entry.props or {}))


def _collection(bucket: str, prefix: str, found: Union[bool, Entry, None], more: Dict[str, str]) -> Resource:
    marker = found if isinstance(found, Entry) else None
    segments = [bucket] + [part for part in prefix.split("/") if part]
    live = live_of(True, modified=marker.modified if marker else None, name=segments[-1])
    live.update(more)
    return Resource(href(BASE, segments, True), live, dict(marker.props or {}) if marker else {})


def _multistatus(answer: MultiStatus) -> Response:
    return TextResponse(207, answer.encode().decode("utf-8"), content_type=XML_TYPE)

