"""The console's upload links (``drops``): the signed-in token's links
(an admin's: every link), each with what it took, who sent each file and
when, and **Revoke**; a form that makes one for a folder the token may
add keys to. The same calls as ``POST /drops`` and ``DELETE /drops/…``
make (``drops.links``). ``UploadLinks`` is a part of
``face.ConsoleFace``, as ``settings.Settings`` is."""

from __future__ import annotations

from typing import Dict

from ..access.scopes import ADMIN, Scope
from ..catalog.handle import BucketHandle
from ..drops.links import folder_of
from ..errors import BadRequest, Forbidden
from ..web.messages import Request, Response
from .changes import see
from .settings import quota_of
from .upload_links_view import links_page

EXPIRIES = {"": None, "1": 24 * 3600, "7": 7 * 24 * 3600, "30": 30 * 24 * 3600}  # days offered, in seconds


class UploadLinks:
    def upload_links(self, request: Request) -> Response:
        token, who = self._caller(request)
        every = self._may(token, ADMIN)
        shown = [drop for drop in self.app.drops.all()
                 if every or (token is not None and drop.owner == token.name)]
        return links_page(sorted(shown, key=lambda drop: -drop.created), request.base_url,
                          self.app.records.now(), who)

    def make_upload_link(self, request: Request) -> Response:
        form = self._form(request)
        token, _ = self._caller(request)
        bucket = form.get("bucket", "")
        prefix = folder_of(form.get("prefix", "").strip())
        self._require(token, Scope("data", "create", bucket, prefix or None))
        found = BucketHandle.open(self.app, bucket, request).bucket
        if form.get("expires", "") not in EXPIRIES:
            raise BadRequest("a link lasts 1, 7 or 30 days, or until it is revoked")
        fields: Dict[str, object] = {name: form.get(name, "") for name in ("name", "note", "password", "max_files")}
        fields["expires_in"] = EXPIRIES[form.get("expires", "")]
        for name in ("max_file_bytes", "max_bytes"):
            text = form.get(name, "").strip()
            fields[name] = quota_of(text, name.replace("_", " ")) if text else None
        self.app.drops.make(found.name, prefix, fields, token.name if token is not None else None,
                            self.app.shares.passwords.digest)
        return see("/console/upload-links")

    def revoke_upload_link(self, request: Request) -> Response:
        form = self._form(request)
        token, _ = self._caller(request)
        drop = self.app.drops.get(form.get("link", ""))
        if token is not None and drop.owner != token.name and not self._may(token, ADMIN):
            raise Forbidden("only the link's owner or an admin revokes it")
        self.app.drops.revoke(drop.secret)
        return see("/console/upload-links")
