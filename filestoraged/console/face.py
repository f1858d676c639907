"""``/console``: where people see and manage what they stored through S3
in a browser (pages in ``views``), signed in with an API token that
becomes a session (``signed_in``: who asks, what they may do, the forms).

Who may do what is the token's scopes, as on every face: listing a folder
needs ``data:BUCKET:read`` (or a prefix scope over that folder), a download
the same for the key, a delete ``data:BUCKET:delete``. With access control
off (``--auth off``) nobody signs in, and the pages say that anyone may do
anything. Every request that changes something is a form ``POST`` from the
console's own pages (``same_origin``: a page on another site cannot make a
signed-in browser delete), and the session cookie is ``HttpOnly`` and
``SameSite=Strict``, so no script reads it and no other site sends it.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from ..access.scopes import ADMIN, Need, Scope
from ..access.gate import Principal
from ..access.policy import ARN, Asked
from ..access.tokens import Token
from ..access.users import User
from ..errors import AlreadyExists, BadRequest, Forbidden, MethodNotAllowed, NotFound, http_status
from ..catalog.handle import BucketHandle
from ..catalog.keys import Entry
from ..catalog.heads import checked_id
from ..catalog.versions import Version
from ..faces import Face
from ..faces.files import FilesFace
from ..faces.share import ShareFace
from ..tus.face import ResumableFace
from ..lfs.locks import LockStore
from ..storage.names import DEFAULT, Namespace, is_object_id, object_id, repository
from ..web.messages import ObjectResponse, Request, Response, StreamResponse
from ..web.router import Router
from ..wire.browser import attachment
from ..wire.fields import whole_number
from . import admin, archive, folder_view, object_view, views
from .access_view import access_page
from .oidc_sign_in import CALLBACK, configured
from .changes import Changes, given, see
from .preview import preview_of
from .object_settings import ObjectSettings
from .settings import Settings
from .signed_in import SignedIn, signed_in
from .upload_links import UploadLinks
from .users_admin import UsersAdmin
from ..access.sessions import Sessions

PAGE = 200  # keys and folders on one listing page


class ConsoleFace(SignedIn, Changes, Settings, ObjectSettings, UsersAdmin, UploadLinks, Face):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.sessions = Sessions(app.records, app.tokens, app.users)
        self.oidc = configured(app, self.sessions)  # the sign-in through an OpenID provider, where one is set
        self.lfs_locks = LockStore(app.records)
        self.resumable = ResumableFace(app)  # the page's uploads from 8 MiB, as the signed-in token
        # The upload page's uploads, where a console session is open: as its token.
        self.shared, self.plain = ShareFace(app), FilesFace(app)

    def register(self, router: Router) -> None:
        pages = (("/console", self.home, ()),
                 ("/console/bucket", self.bucket, ("name", "prefix", "after", "folder", "deleted", "sort", "order")),
                 ("/console/object", self.object, ("bucket", "key", "version")),
                 ("/console/download", self.download, ("bucket", "key", "version")),
                 ("/console/preview", self.preview, ("bucket", "key", "version")),
                 ("/console/repository", self.repository, ("name", "after", "locks_after")),
                 ("/console/repository/download", self.repository_download, ("name", "oid")),
                 ("/console/delete", self.confirm, ("bucket", "key", "version", "prefix")),
                 ("/console/changes", self.changes, ("name",)))
        for path, handler, query in pages:
            methods = {"GET": signed_in(handler)}
            if path == "/console/delete":
                methods["POST"] = signed_in(self.delete)
            router.add(path, "console", methods, {name: None for name in methods}, query=query)
        router.add("/console/zip", "console", {"POST": signed_in(self.zip_download)}, {"POST": None})
        router.add("/console/copy", "console", {"POST": signed_in(self.copy)}, {"POST": None})
        router.add("/console/upload", "console", {"POST": signed_in(self.upload)}, {"POST": None})
        router.add("/console/share", "console", {"POST": signed_in(self.share)}, {"POST": None})
        router.add("/console/folder", "console", {"POST": signed_in(self.folder)}, {"POST": None})
        router.add("/console/buckets", "console", {"POST": signed_in(self.make_bucket)}, {"POST": None})
        router.add("/console/object/settings", "console", {"POST": signed_in(self.object_settings)}, {"POST": None})
        router.add("/console/bucket/settings", "console", {"POST": signed_in(self.bucket_settings)}, {"POST": None})
        tus = self.resumable
        router.add("/console/uploads", "console", {"POST": self._as_session(tus.create)}, {"POST": None})
        router.add("/console/uploads/{upload_id}", "console",
                   {"HEAD": self._as_session(tus.head), "PATCH": self._as_session(tus.patch),
                    "DELETE": self._as_session(tus.terminate), "GET": self._as_session(tus.result)},
                   {"HEAD": None, "PATCH": None, "DELETE": None, "GET": None}, head=False)
        router.add("/console/file", "console",
                   {"POST": self._as_session(self.shared.upload, Need(Scope("share", "create")))}, {"POST": None})
        router.add("/console/files", "console",
                   {"POST": self._as_session(self.plain.upload, Need(Scope("files", "write")))}, {"POST": None})
        router.add("/console/links", "console", {"GET": signed_in(self.links)}, {"GET": None}, query=("after",))
        router.add("/console/links/end", "console", {"POST": signed_in(self.end_link)}, {"POST": None})
        router.add("/console/upload-links", "console", {"GET": signed_in(self.upload_links),
                                                        "POST": signed_in(self.make_upload_link)},
                   {"GET": None, "POST": None})
        router.add("/console/upload-links/revoke", "console", {"POST": signed_in(self.revoke_upload_link)},
                   {"POST": None})
        router.add("/console/repository/unlock", "console", {"POST": signed_in(self.unlock)}, {"POST": None})
        router.add("/console/tokens", "console", {"GET": signed_in(self.tokens), "POST": signed_in(self.new_token)},
                   {"GET": None, "POST": None})
        router.add("/console/tokens/revoke", "console", {"POST": signed_in(self.revoke)}, {"POST": None})
        router.add("/console/users", "console",
                   {"GET": signed_in(self.users_page), "POST": signed_in(self.users_change)},
                   {"GET": None, "POST": None})
        router.add("/console/store", "console", {"GET": signed_in(self.store)}, {"GET": None})
        router.add("/console/access", "console", {"GET": signed_in(self.access)}, {"GET": None})
        router.add("/console/sign-in", "console", {"GET": self.sign_in_page, "POST": self.sign_in},
                   {"GET": None, "POST": None})
        router.add("/console/sign-out", "console", {"POST": self.sign_out}, {"POST": None})
        if self.oidc is not None:
            router.add("/console/sign-in/oidc", "console", {"GET": self.oidc.begin}, {"GET": None})
            router.add(CALLBACK, "console", {"GET": self.oidc.back}, {"GET": None}, query=None)

    # -- pages ----------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        token, who = self._caller(request)
        names = [bucket.name for bucket in self.app.buckets.all() if _reads_in(token, bucket.name)]
        named = getattr(self.backend, "namespaces", None)  # the disk can name its repositories
        buckets = {bucket.name for bucket in self.app.buckets.all()} if named else set()
        repositories = sorted(namespace.path[len("repos/"):] for namespace in (named() if named else [])
                              if namespace.path.startswith("repos/") and namespace.path[len("repos/"):] not in buckets
                              and self._may(token, Scope("data", "read", namespace.path[len("repos/"):])))
        return views.buckets(sorted(names), who, repositories, self._may(token, Scope("files", "read")),
                             self.backend.usage_by_namespace(), may_make=self._may(token, ADMIN))

    def repository(self, request: Request) -> Response:
        """A ``/data`` repository's objects by hash (``name``; empty: the
        ``/files`` objects), a page at a time."""
        token, who = self._caller(request)
        name = request.query.get("name", "")
        namespace = self._namespace(token, name)
        after = request.query.get("after", "")
        if after and not is_object_id(after):
            raise BadRequest("after= takes an object id")
        page = self.backend.list(namespace, after=after, limit=PAGE)
        next_page = (views.address("/console/repository", name=name, after=page[-1].oid)
                     if len(page) == PAGE else None)
        title = "Repository %s" % name if name else "The /files objects"
        locks = self._locks(token, name, _place(request, "locks_after")) if name else ""
        return views.objects(title, name, [(info.oid, info.size) for info in page], next_page, who, locks)

    def _locks(self, token: Optional[Token], repo: str, after: str) -> str:
        """The repository's Git LFS locks, a page at a time, where the
        token may see them (as on ``/lfs``: who may push sees the locks)."""
        if not self._may(token, Scope("data", "write", repo)):
            return ""
        locks, cursor = self.lfs_locks.listing(repo, cursor=after, limit=PAGE)
        forcing = self._may(token, Scope("data", "delete", repo))
        more = views.address("/console/repository", name=repo, locks_after=cursor) if cursor else None
        return views.locks_card(repo, locks, more,
                                lambda lock: forcing or token is None or lock.owner == token.name)

    def repository_download(self, request: Request) -> Response:
        token, _ = self._caller(request)
        namespace = self._namespace(token, request.query.get("name", ""))
        oid = object_id(given(request, "oid"))
        return ObjectResponse(self.backend.open(namespace, oid), {"Content-Disposition": attachment(oid),
                                                                  "Cache-Control": "no-store"})

    def _namespace(self, token: Optional[Token], name: str) -> Namespace:
        if not name:
            self._require(token, Scope("files", "read"))
            return DEFAULT
        namespace = repository(name)  # a bad name: 400
        self._require(token, Scope("data", "read", name))
        return namespace

    def bucket(self, request: Request) -> Response:
        token, who = self._caller(request)
        name, prefix = given(request, "name"), request.query.get("prefix", "")
        self._require(token, Scope("data", "read", name, prefix or None))
        found = self.app.buckets.require(name)
        versioned = bool(found.versioning)
        after = request.query.get("after", "")
        deleted = versioned and request.query.get("deleted") == "1"
        sort, order = request.query.get("sort", "name"), request.query.get("order", "asc")
        if sort not in folder_view.SORTS or order not in ("asc", "desc"):
            raise BadRequest("sort= takes name, size or date; order= asc or desc")
        page = self.app.keys.page(name, prefix, "/", after, PAGE, request.query.get("folder") == "1", deleted)
        next_page = None
        if page.truncated:
            last_is_folder = isinstance(page.items[-1][1], str)
            next_page = views.address("/console/bucket", name=name, prefix=prefix or None, after=page.last,
                                      folder="1" if last_is_folder else None, deleted="1" if deleted else None,
                                      sort=None if sort == "name" else sort, order="desc" if order == "desc" else None)
        # With deleted keys shown, every key's older versions too (the newest few; its page has them all).
        older = {key: self.app.versions.of(name, key, folder_view.OLDER_SHOWN + 1) for key, found in page.items
                 if not isinstance(found, str)} if deleted else {}
        changes = ([change for change in self.app.recent.of(name, found.created)
                    if self._may(token, Scope("data", "read", name, change.key))][:folder_view.CHANGES_SHOWN]
                   if not prefix and not after else None)
        admin = self._may(token, ADMIN) and not prefix and not after
        counted = (self.app.backend.buckets_bytes() or {}) if admin else {}
        disk = self.config.backend == "disk"  # (its index counts every bucket; the records count those with a quota)
        stored = counted.get(name, (0, 0))[0] if disk or name in counted else None
        owner = None  # (the owner's quota, what their buckets store)
        if admin:
            bounds = self.app.buckets.bounds(found)
            owner = (bounds.owner_quota,
                     self.app.backend.owners_bytes({found.owner: bounds.owned}).get(found.owner, (0, 0))[0]) \
                if found.owner is not None else (None, 0)
        return folder_view.listing(name, prefix, page.items, next_page, who, older=older, changes=changes,
                             may_add=self._may(token, Scope("data", "create", name, prefix or None)),
                             may_delete=self._may(token, Scope("data", "delete", name, prefix or None)),
                             deleted=deleted if versioned else None,
                             settings=found if admin else None, stored=stored, owner=owner,
                             sort=sort, descending=order == "desc",
                             may_share=self._share_terms(token) is not None, public_acls=self.config.s3_public_acls)

    def changes(self, request: Request) -> Response:
        """A bucket's recent changes, all those kept (``catalog.recent``),
        of the keys the token may read."""
        token, who = self._caller(request)
        name = given(request, "name")
        if not _reads_in(token, name):
            raise Forbidden("the token %r may read nothing in the bucket %s" % (token.name, name))
        found = self.app.buckets.require(name)
        changes = [change for change in self.app.recent.of(name, found.created)
                   if self._may(token, Scope("data", "read", name, change.key))]
        return folder_view.changes_page(name, changes, who)

    def object(self, request: Request) -> Response:
        token, who = self._caller(request)
        bucket, key, version = self._target(request)
        self._require(token, Scope("data", "read", bucket, key))
        found = BucketHandle.open(self.app, bucket)
        try:
            entry = found.read(key, version)
        except MethodNotAllowed:  # the version asked for is a delete marker: what it did, and how to undo it
            return object_view.delete_marker(bucket, key, version or "", self.app.versions.of(bucket, key, 50), who,
                                             may_delete=self._may(token, Scope("data", "delete", bucket, key)))
        except NotFound:
            # A key deleted in a bucket that keeps versions: its versions, to open and restore one.
            kept = self.app.versions.of(bucket, key, 50) if found.bucket.versioning and version is None else []
            if not kept:
                raise
            return object_view.deleted_key(bucket, key, kept, who)
        versions: List[Version] = []
        if found.bucket.versioning and version is None:
            versions = self.app.versions.of(bucket, key, 50)
        shown = preview_of(entry.content_type, entry.size,
                           lambda: self.backend.open(repository(bucket), entry.oid))
        return object_view.details(bucket, key, entry, versions, version, who,
                             may_write=self._may(token, Scope("data", "write", bucket, key)),
                             may_delete=self._may(token, Scope("data", "delete", bucket, key)),
                             sharing=self._share_terms(token), preview=shown, locked=found.bucket.lock is not None,
                             may_bypass=self._may(token, ADMIN))

    def download(self, request: Request) -> Response:
        return self._send(request, {"Content-Disposition": attachment(request.query.get("key"))})

    def zip_download(self, request: Request) -> Response:
        """The keys chosen on a folder page (``key``, each one the token may
        read), as one zip streamed as it is written (``archive``), named
        after the folder."""
        fields = self._form_lists(request)
        token, _ = self._caller(request)
        bucket, prefix = (fields.get("bucket") or [""])[0], (fields.get("prefix") or [""])[0]
        keys = list(dict.fromkeys(fields.get("key", [])))
        if not bucket or not keys:
            raise BadRequest("choose the keys to download")
        if len(keys) > archive.MOST_KEYS:
            raise BadRequest("a zip takes at most %d keys" % archive.MOST_KEYS)
        for key in keys:  # every one allowed, and there, before a byte goes
            self._require(token, Scope("data", "read", bucket, key))
        found = BucketHandle.open(self.app, bucket, request)
        taken: set = set()
        members = [(archive.member_name(key, prefix, taken), entry.modified,
                    lambda oid=entry.oid: self.backend.open(repository(bucket), oid))
                   for key, entry in ((key, found.read(key)) for key in keys)]
        folder = prefix.rstrip("/").rsplit("/", 1)[-1] or bucket
        return StreamResponse(200, archive.zipped(members), archive.ZIP_TYPE,
                              {"Content-Disposition": attachment(folder + ".zip"), "Cache-Control": "no-store"})

    def preview(self, request: Request) -> Response:
        """The object opened in the browser: what every stored object is
        served with decides what shows (``web.transfer``: sandboxed, and a
        type that would run or render as a document is a download; here a
        PDF too is shown, in the browser's viewer)."""
        return self._send(request, {}, documents=True)

    def _send(self, request: Request, headers: dict, documents: bool = False) -> Response:
        token, _ = self._caller(request)
        bucket, key, version = self._target(request)
        self._require(token, Scope("data", "read", bucket, key))
        entry = self._entry(bucket, key, version)
        stored = self.backend.open(repository(bucket), entry.oid)
        return ObjectResponse(stored, dict(headers, **{"Cache-Control": "no-store"}),
                              content_type=entry.content_type or "application/octet-stream", immutable=False,
                              etag=entry.etag, modified=entry.modified, documents=documents)

    def links(self, request: Request) -> Response:
        """The share links the token made, a page at a time."""
        token, who = self._caller(request)
        after = _place(request, "after")
        made, more = self.app.shares.made_by(token.name, after, PAGE) if token is not None else ([], None)
        return views.links(made, request.base_url, self.app.shares.clock(),
                           views.address("/console/links", after=more) if more else None, who,
                           self._may(token, Scope("share", "create")))

    def access(self, request: Request) -> Response:
        """What a signed-in user may do (a token's scopes are on the tokens page)."""
        token, who = self._caller(request)
        if not isinstance(token, User):
            return see("/console")
        return access_page(self.app.users, token, who)

    # -- for an admin ------------------------------------------------------------------

    def tokens(self, request: Request) -> Response:
        token, who = self._caller(request)
        self._require(token, ADMIN)
        return admin.tokens_page(self.app.tokens.list(), who)

    def new_token(self, request: Request) -> Response:
        form = self._form(request)
        token, who = self._caller(request)
        self._require(token, ADMIN)
        expires_in = whole_number(form.get("expires_in"), "expires_in", 0, 0, 100 * 365 * 86400)
        try:
            made = admin.made_token(self.app, form.get("scopes", "").split(), form.get("name", "").strip(),
                                    expires_in, form.get("s3") == "1")
        except (BadRequest, AlreadyExists) as error:
            return admin.tokens_page(self.app.tokens.list(), who, error=error.text, status=http_status(error)[0])
        return admin.tokens_page(self.app.tokens.list(), who, made)

    def revoke(self, request: Request) -> Response:
        form = self._form(request)
        token, _ = self._caller(request)
        self._require(token, ADMIN)
        self.app.tokens.revoke(form.get("name", ""))
        return see("/console/tokens")

    def store(self, request: Request) -> Response:
        token, who = self._caller(request)
        self._require(token, ADMIN)
        return admin.health_page(self.app, who)

    # -- what pages need ---------------------------------------------------------------

    def _share_terms(self, token: Optional[Token]) -> Optional[Tuple[int, int]]:
        """(default, longest) link lifetime in seconds, if the token may make links."""
        if not self._may(token, Scope("share", "create")):
            return None
        return self.config.share_default_expiry, self.config.share_max_expiry

    def _entry(self, bucket: str, key: str, version: Optional[str]) -> Entry:
        return BucketHandle.open(self.app, bucket).read(key, version)

    def _target(self, request: Request) -> Tuple[str, str, Optional[str]]:
        version = request.query.get("version")
        return given(request, "bucket"), given(request, "key"), None if version is None else checked_id(version)

def _place(request: Request, name: str) -> str:
    """Where a page of a listing starts (``name=``): a place an earlier page gave, or ""."""
    value = request.query.get(name, "")
    if value and not (len(value) <= 100 and all(char.isalnum() or char in "-_" for char in value)):
        raise BadRequest("%s= takes a place this page gave" % name)
    return value


def _reads_in(token: Optional[Principal], bucket: str) -> bool:
    """Whether the token may read anything in ``bucket`` (all of it, or keys
    under a prefix); a user, whether their policies let them list it."""
    if isinstance(token, User):
        return bool(token.decide(Asked("s3:ListBucket", ARN + bucket, token.name, {"aws:username": token.name}))
                    .allowed)
    return token is None or any(granted.face in ("data", "*") and granted.namespace in (bucket, "*", None)
                                and granted.verb in ("read", "*") for granted in token.scopes)
