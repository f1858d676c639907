"""The console's forms that change a bucket itself, for a token that may
(``admin``, as S3's CreateBucket, DeleteBucket and PutBucketVersioning
ask): a new bucket, with object lock if asked; versioning turned on or
suspended; an empty bucket deleted. Each goes through the same catalog
calls as the S3 API's, so the two cannot answer differently. ``Settings``
is a part of ``face.ConsoleFace``, as ``changes.Changes`` is."""

from __future__ import annotations

from ..access.scopes import ADMIN
from ..catalog.handle import BucketHandle
from ..catalog.names import bucket_name
from ..errors import BadRequest
from ..web.messages import Request, Response
from . import views
from .changes import see

ACTIONS = ("versioning-on", "versioning-suspend", "delete")


class Settings:
    def make_bucket(self, request: Request) -> Response:
        form = self._form(request)
        token, _ = self._caller(request)
        self._require(token, ADMIN)
        name = bucket_name(form.get("name", "").strip())
        self.app.buckets.create(name, locked=form.get("lock") == "1")
        return see(views.address("/console/bucket", name=name))

    def bucket_settings(self, request: Request) -> Response:
        form = self._form(request)
        token, _ = self._caller(request)
        self._require(token, ADMIN)
        action = form.get("action", "")
        if action not in ACTIONS:
            raise BadRequest("the action is one of %s" % ", ".join(ACTIONS))
        found = BucketHandle.open(self.app, form.get("name", ""), request)
        if action == "delete":
            found.delete_bucket()
            return see("/console")
        self.app.buckets.set_versioning(found.bucket, "Enabled" if action == "versioning-on" else "Suspended")
        return see(views.address("/console/bucket", name=found.name))
