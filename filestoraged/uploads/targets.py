"""Where an upload's bytes go, and what its face answers: every upload is
body -> target -> answer, whether it came whole (``POST /files``, ``PUT
/data/REPO``, the ``/file`` form and one-liner, a Git LFS upload) or
resumed (``/uploads``, whose unfinished record keeps its target).

A target knows the scope a single upload to its face needs (``need``),
stores a stream or a finished file (``store``), and gives the JSON its face
answers (``result``) or that whole answer (``answer``). A resumable upload
keeps it as a record (``record``; ``from_record`` reads it back): never a
share link's password in the clear, only its salted digest.
"""

from __future__ import annotations

import abc
import hashlib
import mimetypes
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple, Type

from ..access.scopes import Need, Scope
from ..base.timestamps import iso_utc
from ..catalog.handle import BucketHandle, Described, KeyWrite
from ..catalog.keys import Entry
from ..catalog.keys import link_sender
from ..drops.links import MAX_NAME, Drop
from ..drops.names import safe_name
from ..errors import BadRequest, Conflict, Gone, PreconditionFailed
from ..pages.upload import result_page
from ..sharing.rules import MAX_DOWNLOADS, NewLink
from ..storage.interface import FinishedFile, ObjectInfo, Readable
from ..storage.names import DEFAULT, SHARES, Namespace, repository
from ..web.messages import JsonResponse, Request, Response
from ..wire.accept import prefers_html
from ..wire.fields import whole_number


@dataclass(frozen=True)
class Stored:
    """What storing an upload made: the object, whether it is new to its
    namespace, for a share link the link, for an S3 key what it names."""

    info: ObjectInfo
    created: bool
    link: Optional[NewLink] = None
    entry: Optional[Entry] = None


class Target(abc.ABC):
    """One upload's destination (see the module docstring). ``app`` gives
    the backend and the share links."""

    kind: str  # its name in a resumable upload's record
    namespace: Optional[Namespace] = None  # where its bytes go, where that may be a bucket's (its quota)

    def __init__(self, app, content_type: Optional[str]) -> None:
        self.app = app
        self.content_type = content_type

    @abc.abstractmethod
    def need(self) -> Need:
        """What a single upload to this target asks of a request's token."""

    @abc.abstractmethod
    def store(self, source: Readable) -> Stored:
        """Store the bytes of ``source`` (a stream, or a finished upload's
        ``storage.interface.FinishedFile``); nothing is kept on failure."""

    @abc.abstractmethod
    def result(self, stored: Stored, base_url: str) -> Dict[str, object]:
        """The JSON a single upload to this target's face answers."""

    def answer(self, stored: Stored, request: Request) -> Response:
        """The whole answer to a single upload to this target's face."""
        return JsonResponse(201, self.result(stored, request.base_url))

    def begin(self, length: int) -> None:
        """A resumable upload of ``length`` bytes is made for this target
        (before its record is written): what it holds from now on."""

    def end(self) -> None:
        """The upload ``begin`` was told of ends without its bytes stored
        (given up, expired, refused): what it held given back."""

    def for_record(self) -> "Target":
        """The target as a resumable upload keeps it (see ``record``)."""
        return self

    def record(self) -> Dict[str, object]:
        """What a resumable upload keeps of its target."""
        return {"face": self.kind, "content_type": self.content_type}


class FilesTarget(Target):
    """``/files``: the default namespace; answers ``200 {"hash", "size",
    "url", "created"}`` with ``Location`` (a result page to the upload form)."""

    kind = "files"

    def need(self) -> Need:
        return Need(Scope("files", "write"))

    def store(self, source: Readable) -> Stored:
        put = self.app.backend.put(DEFAULT, source, self.content_type)
        return Stored(put.info, put.created)

    def result(self, stored: Stored, base_url: str) -> Dict[str, object]:
        return {"hash": stored.info.oid, "size": stored.info.size,
                "url": "%s/files/%s" % (base_url, stored.info.oid), "created": stored.created}

    def answer(self, stored: Stored, request: Request) -> Response:
        body = self.result(stored, request.base_url)
        if prefers_html(request.headers):  # the upload page's form, sent without JavaScript
            return result_page(body)
        return JsonResponse(200, body, {"Location": str(body["url"])})

    @classmethod
    def from_record(cls, app, value: Dict[str, object]) -> "Target":
        return cls(app, _text(value.get("content_type")))


class RepositoryTarget(Target):
    """``/data/REPO``: a repository's namespace; answers ``201 {"oid",
    "size"}``. ``expected``: the object id the bytes were sent as (a Git LFS
    upload names its object): other bytes are refused, nothing kept."""

    kind = "data"

    def __init__(self, app, repo: str, content_type: Optional[str], expected: Optional[str] = None) -> None:
        super().__init__(app, content_type)
        self.namespace = repository(repo)  # BadRequest for a bad name
        self.repo = repo
        self.expected = expected

    def need(self) -> Need:
        return Need(Scope("data", "create", self.repo))  # content-addressed: nothing is replaced

    def store(self, source: Readable) -> Stored:
        put = self.app.backend.put(self.namespace, source, self.content_type, expected=self.expected)
        claims = self.app.claims
        bucket = self.app.buckets.get(self.repo) if not put.created or claims.marks_uploads else None
        # S3 keys never take them away from it
        claims.relied_on(self.repo, put.info.oid, put.created, in_bucket=bucket is not None,
                         quota=bucket is not None and not put.created and self.app.buckets.bounds(bucket).bounded)
        return Stored(put.info, put.created)

    def result(self, stored: Stored, base_url: str) -> Dict[str, object]:
        return {"oid": stored.info.oid, "size": stored.info.size}

    def answer(self, stored: Stored, request: Request) -> Response:
        return JsonResponse(201, self.result(stored, ""))  # (it names no URL: the request's base is not made)

    def record(self) -> Dict[str, object]:
        return dict(super().record(), repo=self.repo)

    @classmethod
    def from_record(cls, app, value: Dict[str, object]) -> "Target":
        return cls(app, str(value["repo"]), _text(value.get("content_type")))


@dataclass(frozen=True)
class Terms:
    """A new share link's terms: its password (or, for a resumable upload,
    only the password's ``(salt, digest)``, made when the upload was
    created), its downloads, its lifetime in seconds, and the name of the
    token that makes it (None without one), under which it is listed."""

    password: Optional[str]
    max_downloads: int
    expires_in: int
    digested: Optional[Tuple[bytes, bytes]] = None
    maker: Optional[str] = None


def terms_of(fields: Dict[str, str], config, maker: Optional[str] = None) -> Terms:
    """A form's link terms (``password``, ``max_downloads``, ``expires_in``
    in seconds), each within the server's bounds; ``BadRequest`` naming a
    bad one, before anything is stored. ``maker``: the token's name."""
    max_downloads = whole_number(fields.get("max_downloads"), "max_downloads", 1, 1, MAX_DOWNLOADS)
    expires_in = whole_number(fields.get("expires_in"), "expires_in", config.share_default_expiry, 1,
                              config.share_max_expiry)
    return Terms(fields.get("password") or None, max_downloads, expires_in, maker=maker)


class ShareTarget(Target):
    """``/file``: the share links' private namespace, and a link made for
    the bytes (the one place a blob is pinned, stored and linked); answers
    ``201 {"status", "url", "delete_token", "expires_at"}`` with the link in
    ``Location``, ``X-Delete-Token`` and ``X-Expires-At``. ``terms`` is
    asked once the bytes are in: a form's fields may follow its file."""

    kind = "file"

    def __init__(self, app, filename: Optional[str], declared_type: Optional[str],
                 terms: Callable[[], Terms]) -> None:
        super().__init__(app, link_content_type(declared_type, filename))
        self.filename = filename
        self.terms = terms

    def need(self) -> Need:
        return Need(Scope("share", "create"))

    def store(self, source: Readable) -> Stored:
        shares = self.app.shares
        with shares.pinned() as pin:
            put = self.app.backend.put(SHARES, source, self.content_type, hashed=pin)
            terms = self.terms()
            link = shares.create(put.info.oid, put.info.size, self.filename, self.content_type, terms.password,
                                 terms.max_downloads, terms.expires_in, terms.digested, terms.maker)
        return Stored(put.info, put.created, link)

    def result(self, stored: Stored, base_url: str) -> Dict[str, object]:
        assert stored.link is not None
        return {"status": "File Uploaded Successfully", "url": "%s/file/%s" % (base_url, stored.link.id),
                "delete_token": stored.link.delete_token, "expires_at": iso_utc(stored.link.expires_at)}

    @staticmethod
    def headers(result: Dict[str, object]) -> Dict[str, str]:
        """The link in headers too, for clients that read no JSON."""
        return {"Location": str(result["url"]), "X-Delete-Token": str(result["delete_token"]),
                "X-Expires-At": str(result["expires_at"])}

    def answer(self, stored: Stored, request: Request) -> Response:
        body = self.result(stored, request.base_url)
        if prefers_html(request.headers):  # the upload page's form, sent without JavaScript
            return result_page(body, self.terms().max_downloads)
        return JsonResponse(201, body, self.headers(body))

    def for_record(self) -> "Target":
        """The same target with its password kept only as its salted digest
        (scrypt, on the password pool), as a resumable upload records it."""
        terms = self.terms()
        digested = terms.digested
        if terms.password:
            digested = self.app.shares.passwords.digest(terms.password)
        kept = Terms(None, terms.max_downloads, terms.expires_in, digested, terms.maker)
        return ShareTarget(self.app, self.filename, self.content_type, lambda: kept)

    def record(self) -> Dict[str, object]:
        terms = self.terms()
        assert not terms.password, "a recorded share target keeps its password's digest only (see for_record)"
        salt, digest = terms.digested or (None, None)
        return dict(super().record(), filename=self.filename, max_downloads=terms.max_downloads,
                    expires_in=terms.expires_in, salt=salt.hex() if salt else None,
                    digest=digest.hex() if digest else None, maker=terms.maker)

    @classmethod
    def from_record(cls, app, value: Dict[str, object]) -> "Target":
        digested = None
        if value.get("salt"):
            digested = (bytes.fromhex(str(value["salt"])), bytes.fromhex(str(value["digest"])))
        terms = Terms(None, int(value["max_downloads"]), int(value["expires_in"]), digested,  # type: ignore
                      _text(value.get("maker")))
        return cls(app, _text(value.get("filename")), _text(value.get("content_type")), lambda: terms)


class ResumedKeyTarget(Target):
    """A resumable upload's S3 key (``/uploads`` with target ``s3``, and the
    console's uploads from 8 MiB), written as every face writes a key
    (``catalog.handle.KeyWrite``): made once every byte is in, its ETag
    the MD5 of the bytes as a PutObject's. The write is asked when the
    upload is created (``BucketHandle.write_to``): where the token may add
    keys but not replace them, the key is made only if it names nothing
    then or the bucket's versioning is enabled then (``412`` at the end if
    a key came meanwhile)."""

    kind = "s3"

    def __init__(self, write: KeyWrite, content_type: Optional[str]) -> None:
        super().__init__(write.handle.app, content_type)
        self.write, self.handle, self.bucket, self.key = write, write.handle, write.handle.name, write.key
        self.namespace = repository(self.bucket)

    def need(self) -> Need:
        return Need(Scope("data", "create", self.bucket, self.key))

    def store(self, source: Readable) -> Stored:
        put, entry = _write_key(self.write, source, Described(self.content_type))
        return Stored(put.info, put.created, entry=entry)

    def result(self, stored: Stored, base_url: str) -> Dict[str, object]:
        assert stored.entry is not None
        return {"bucket": self.bucket, "key": self.key, "etag": stored.entry.etag, "size": stored.info.size}

    def record(self) -> Dict[str, object]:
        return dict(super().record(), bucket=self.bucket, key=self.key, create_only=not self.write.replaces,
                    maker=self.handle.maker)

    @classmethod
    def from_record(cls, app, value: Dict[str, object]) -> "Target":
        handle = BucketHandle(app, app.buckets.require(str(value["bucket"])), _text(value.get("maker")))
        return cls(KeyWrite(handle, str(value["key"]), replaces=not value.get("create_only")),
                   _text(value.get("content_type")))


class DropTarget(Target):
    """A file sent through an upload link (``drops``): held against the
    link's limits, under the key it will have, when it is begun (a PUT to
    the link, or a resumable upload made), then written as a key that
    replaces nothing, by whoever sent it as the owner sees them; answers
    ``201 {"name", "size"}``, of that file alone."""

    kind = "drop"

    def __init__(self, app, drop: Drop, filename: str, uploader: Optional[str], content_type: Optional[str],
                 hold: Optional[str] = None, key: Optional[str] = None) -> None:
        super().__init__(app, link_content_type(content_type, filename))
        self.drop, self.filename, self.uploader, self.hold, self.key = drop, filename, uploader, hold, key
        self.namespace = repository(drop.bucket)

    def need(self) -> Optional[Need]:  # type: ignore[override]
        return None  # the link is its own secret (and its password, checked by whoever makes this)

    @property
    def maker(self) -> str:
        """Who a file is by, as the owner sees it (the console, the recent changes)."""
        return link_sender(self.uploader, self.drop.name)

    def begin(self, length: int) -> None:
        handle = self._handle()
        self.hold, self.key = self.app.drops.hold(self.drop.secret, length, self.filename,
                                                  lambda key: handle.find(key) is not None)

    def end(self) -> None:
        if self.hold is not None:
            self.app.drops.release(self.drop.secret, self.hold)

    def store(self, source: Readable) -> Stored:
        assert self.hold is not None and self.key is not None, "begun first"
        if self.app.drops.get(self.drop.secret).revoked is not None:
            raise Gone("this upload link was revoked by its owner")
        write = self._handle().write_to(self.key, may_replace=False, if_none_match=True)
        try:
            put, entry = _write_key(write, source, Described(self.content_type))
        except PreconditionFailed:
            raise Conflict("another file named %s came at the same moment: send it again"
                           % self.filename[:100]) from None
        self.app.drops.settle(self.drop.secret, self.hold, self.key, entry.size, self.maker)
        return Stored(put.info, put.created, entry=entry)

    def result(self, stored: Stored, base_url: str) -> Dict[str, object]:
        assert self.key is not None
        return {"name": self.key[len(self.drop.prefix):], "size": stored.info.size}

    def record(self) -> Dict[str, object]:
        return dict(super().record(), link=self.drop.secret, filename=self.filename, uploader=self.uploader,
                    hold=self.hold, key=self.key)

    @classmethod
    def from_record(cls, app, value: Dict[str, object]) -> "Target":
        return cls(app, app.drops.get(str(value["link"])), str(value["filename"]), _text(value.get("uploader")),
                   _text(value.get("content_type")), _text(value.get("hold")), _text(value.get("key")))

    def _handle(self) -> BucketHandle:
        return BucketHandle(self.app, self.app.buckets.require(self.drop.bucket), self.maker)


_KINDS: Dict[str, Type] = {target.kind: target for target in (FilesTarget, RepositoryTarget, ShareTarget,
                                                              ResumedKeyTarget, DropTarget)}


def drop_target(app, secret: str, sent_name: str, uploader: Optional[str], content_type: Optional[str],
                password: Optional[str]) -> DropTarget:
    """A file about to be sent through the upload link ``secret``: the
    link open (``NotFound``; ``Gone``, 410, once it takes no more), its
    password right where it has one (``Unauthorized``, counted as a share
    link's), the uploader's name fit to show, the file's name made safe."""
    drop = app.drops.open(secret)
    if drop.password is not None:
        attempts = "drop-" + hashlib.sha256(secret.encode()).hexdigest()[:32]
        app.shares.passwords.check(attempts, bytes.fromhex(drop.password[0]), bytes.fromhex(drop.password[1]),
                                   password or None)
    if uploader is not None and (len(uploader) > MAX_NAME or not uploader.isprintable()):
        raise BadRequest("the uploader's name is at most %d printable characters" % MAX_NAME)
    return DropTarget(app, drop, safe_name(sent_name), uploader or None, content_type)


def _write_key(write: KeyWrite, source: Readable, described: Described):
    """``write.store`` of ``source``; a finished upload's file adopted whole
    (never copied), its MD5 (the ETag) taken in a pass of its own."""
    if isinstance(source, FinishedFile):
        md5 = hashlib.md5()
        with open(source.path, "rb") as whole:
            for block in iter(lambda: whole.read(1 << 20), b""):
                md5.update(block)
        return write.store(source, described, etag=md5.hexdigest)
    return write.store(source, described)


def from_record(app, value: Dict[str, object]) -> Target:
    """The target a resumable upload recorded (see ``Target.record``)."""
    return _KINDS[str(value["face"])].from_record(app, value)


def link_content_type(declared: Optional[str], filename: Optional[str]) -> str:
    """A share link's media type: the one declared, else guessed from its
    file name (``application/octet-stream`` names no type)."""
    if declared and declared.lower() != "application/octet-stream":
        return declared
    guessed = mimetypes.guess_type(filename or "")[0]
    return guessed or declared or "application/octet-stream"


def _text(value: object) -> Optional[str]:
    return None if value is None else str(value)
