"""``/files``: the content-addressed store in the default namespace."""

from __future__ import annotations

from ..pages.upload import result_page
from ..web.messages import JsonResponse, ObjectResponse, Request
from ..wire.accept import prefers_html
from ..storage.names import DEFAULT, object_id
from ..access.scopes import Need, Scope
from ..web.router import Router
from . import Face
from .uploads import file_or_raw_upload


class FilesFace(Face):
    """POST a body (raw or multipart ``file``) to get its SHA-256; GET/HEAD/DELETE it."""

    def register(self, router: Router) -> None:
        router.add("/files", "files", {"POST": self.upload}, {"POST": Need(Scope("files", "write"), form=True)})
        router.add("/files/{oid}", "files", {"GET": self.download, "DELETE": self.delete},
                   {"GET": Need(Scope("files", "read"), public=True), "DELETE": Need(Scope("files", "delete"))})

    def upload(self, request: Request) -> JsonResponse:
        upload = file_or_raw_upload(request, self.config.max_size)
        result = self.backend.put(DEFAULT, upload.stream, upload.content_type)
        url = "%s/files/%s" % (request.base_url, result.info.oid)
        body = {"hash": result.info.oid, "size": result.info.size, "url": url, "created": result.created}
        if prefers_html(request.headers):  # the upload page's form, sent without JavaScript
            return result_page(body)
        return JsonResponse(200, body, {"Location": url})

    def download(self, request: Request, oid: str) -> ObjectResponse:
        return ObjectResponse(self.backend.open(DEFAULT, object_id(oid)))

    def delete(self, request: Request, oid: str) -> JsonResponse:
        self.backend.delete(DEFAULT, object_id(oid))
        return JsonResponse(200, {"deleted": oid})
