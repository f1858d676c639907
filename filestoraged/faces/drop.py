"""Upload-request links: ``/drops`` for their owners, ``/drop/<secret>``
for whoever was given one (see ``drops``).

- ``POST /drops`` (JSON: ``bucket``, ``prefix``, ``name``, ``password``,
  ``expires_in``, ``max_files``, ``max_file_bytes``, ``max_bytes``,
  ``note``): a token that may add keys under the folder
  (``data:BUCKET[/PREFIX]:create``) makes a link; ``201`` with its URL.
  ``GET /drops``: the caller's links (an admin's: all), with what each
  took. ``DELETE /drops/<secret>``: revoked at once (``410`` from then on),
  by its owner or an admin.
- ``GET /drop/<secret>``: the page a person drops files on (or, to a
  client that asks for JSON, the link's note and limits).
- ``PUT /drop/<secret>/<name>``: one file, its body as it is
  (``curl -T report.pdf https://HOST/drop/SECRET/``), its length told
  (``411`` otherwise: the limits are held before a byte is read);
  ``X-Uploader-Name``: who sends it, as the owner sees it; the password
  as ``X-Password`` or HTTP Basic (``curl -u :PASSWORD``).

Decisions: a file lands in the link's folder under its name made safe,
never replacing another (``report (2).pdf`` beside ``report.pdf``); the
uploader is answered its file's name and size, and nothing else of the
bucket, through this or any face; a link that is expired, spent or
revoked is ``410``, a page saying which. The secret is redacted from the
access log (``web.exchange.log_target``).
"""

from __future__ import annotations

from urllib.parse import unquote

from ..access.scopes import ADMIN, Need, Scope
from ..catalog.handle import BucketHandle
from ..drops.links import Drop, DropLinks, folder_of
from ..errors import BadRequest, Forbidden, LengthRequired
from ..pages.drop import drop_page
from ..uploads.targets import drop_target
from ..web.messages import JsonResponse, Request, Response
from ..web.router import Router
from ..wire.accept import prefers_html
from ..wire.credentials import basic_password, header_text
from . import Face

_SETTINGS_LIMIT = 16 * 1024  # bytes of a new link's JSON


class DropFace(Face):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.drops: DropLinks = app.drops

    def register(self, router: Router) -> None:
        # The owners' routes judge the folder a link names (in its body, or
        # its record) against the token themselves; the link's own ask for
        # none: it is its own secret.
        router.add("/drops", "drop", {"POST": self.create, "GET": self.list}, {"POST": None, "GET": None})
        router.add("/drops/{secret}", "drop", {"DELETE": self.revoke}, {"DELETE": None})
        router.add("/drop/{secret}", "drop", {"GET": self.page}, {"GET": None})
        router.add("/drop/{secret}/{name...}", "drop", {"PUT": self.put}, {"PUT": None})

    # -- the owner's ------------------------------------------------------------------

    def create(self, request: Request) -> Response:
        fields = request.json_body(_SETTINGS_LIMIT)
        if not isinstance(fields, dict):
            raise BadRequest("a link is made with a JSON object: {\"bucket\", \"prefix\", ...}")
        bucket = fields.get("bucket")
        prefix = fields.get("prefix") or ""
        if not isinstance(bucket, str) or not isinstance(prefix, str):
            raise BadRequest("bucket and prefix are text")
        prefix = folder_of(prefix)
        request.grant.require(Need(Scope("data", "create", bucket, prefix or None)))
        found = BucketHandle.open(self.app, bucket, request).bucket  # NotFound (404) for no bucket
        drop = self.drops.make(found.name, prefix, fields, request.acted_as(), self.app.shares.passwords.digest)
        return JsonResponse(201, dict(_shown(drop), url="%s/drop/%s" % (request.base_url, drop.secret)))

    def list(self, request: Request) -> Response:
        request.grant.identify()  # a token (anyone where access control is off)
        mine = self._may_all(request)
        who = request.acted_as()
        return JsonResponse(200, [dict(_shown(drop), url="%s/drop/%s" % (request.base_url, drop.secret))
                                  for drop in self.drops.all() if mine or (who is not None and drop.owner == who)])

    def revoke(self, request: Request, secret: str) -> Response:
        request.grant.identify()
        drop = self.drops.get(secret)
        if not (self._may_all(request) or (request.acted_as() is not None and drop.owner == request.acted_as())):
            raise Forbidden("only the link's owner or an admin revokes it")
        self.drops.revoke(secret)
        return JsonResponse(200, _shown(self.drops.get(secret)))

    def _may_all(self, request: Request) -> bool:
        return request.grant.allows(ADMIN)

    # -- the uploader's -----------------------------------------------------------------

    def page(self, request: Request, secret: str) -> Response:
        drop = self.drops.open(secret)  # Gone (410) once it takes no more
        if prefers_html(request.headers):
            return drop_page(drop)
        return JsonResponse(200, {"note": drop.note, "password": drop.password is not None,
                                  "expires": drop.expires, "max_files": drop.max_files,
                                  "max_file_bytes": drop.max_file_bytes, "max_bytes": drop.max_bytes})

    def put(self, request: Request, secret: str, name: str) -> Response:
        password = header_text(request.headers, "X-Password") or basic_password(request.headers)
        target = drop_target(self.app, secret, _decoded(name), header_text(request.headers, "X-Uploader-Name"),
                             request.headers.get("Content-Type"), password)
        length = request.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            raise LengthRequired("send the file with its length (Content-Length), as curl -T does")
        target.begin(int(length.strip()))  # the link's limits and the file's key, before a byte is read
        try:
            stored = target.store(request.body(min(self.config.max_size,
                                                   target.drop.max_file_bytes or self.config.max_size)))
        except BaseException:
            target.end()
            raise
        return target.answer(stored, request)


def _decoded(name: str) -> str:
    """A file name as the path carries it, percent-decoded (curl encodes what a URL may not hold)."""
    try:
        return unquote(name, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("the file name is not UTF-8 once percent-decoded") from None


def _shown(drop: Drop) -> dict:
    """A link as its owner reads it."""
    return {"name": drop.name, "bucket": drop.bucket, "prefix": drop.prefix, "owner": drop.owner,
            "created": drop.created, "expires": drop.expires, "password": drop.password is not None,
            "max_files": drop.max_files, "max_file_bytes": drop.max_file_bytes, "max_bytes": drop.max_bytes,
            "note": drop.note, "revoked": drop.revoked, "files": drop.files, "bytes": drop.bytes,
            "sent": drop.sent}
