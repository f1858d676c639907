"""``/files``: the content-addressed store in the default namespace."""

from __future__ import annotations

from ..access.scopes import Need, Scope
from ..storage.names import DEFAULT, object_id
from ..uploads.sources import file_or_raw_upload
from ..uploads.targets import FilesTarget
from ..web.messages import JsonResponse, ObjectResponse, Request, Response
from ..web.router import Router
from . import Face


class FilesFace(Face):
    """POST a body (raw or multipart ``file``) to get its SHA-256; GET/HEAD/DELETE it."""

    def register(self, router: Router) -> None:
        router.add("/files", "files", {"POST": self.upload}, {"POST": Need(Scope("files", "write"), form=True)})
        router.add("/files/{oid}", "files", {"GET": self.download, "DELETE": self.delete},
                   {"GET": Need(Scope("files", "read"), public=True), "DELETE": Need(Scope("files", "delete"))})

    def upload(self, request: Request) -> Response:
        upload = file_or_raw_upload(request, self.config.max_size)
        target = FilesTarget(self.app, upload.content_type)
        return target.answer(target.store(upload.stream), request)

    def download(self, request: Request, oid: str) -> ObjectResponse:
        return ObjectResponse(self.backend.open(DEFAULT, object_id(oid)))

    def delete(self, request: Request, oid: str) -> JsonResponse:
        self.backend.delete(DEFAULT, object_id(oid))
        return JsonResponse(200, {"deleted": oid})
