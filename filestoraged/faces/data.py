"""``/data/{repository}``: content-addressed objects, one namespace per repository.

Same content in one repository is stored once; in two repositories, twice
(deleting it from one leaves the other). Clients of the original exercise
send ``PUT`` with a form Content-Type: the body is stored as it is anyway.
"""

from __future__ import annotations

from urllib.parse import urlencode

from ..errors import BadRequest
from ..web.messages import JsonResponse, ObjectResponse, Request, Response
from ..storage.names import is_object_id, object_id, repository
from ..access.scopes import Need, Scope
from ..web.router import Router
from . import Face
from ..uploads.sources import raw_upload
from ..uploads.targets import RepositoryTarget
from ..wire.fields import whole_number

DEFAULT_PAGE = 1000
MAX_PAGE = 10000


class DataFace(Face):
    def register(self, router: Router) -> None:
        # A repository's listing is never public; its objects are, under --auth writes.
        # An upload adds an object and replaces nothing: an append-only token (create) may.
        read, create, delete = (Scope("data", verb, "{repo}") for verb in ("read", "create", "delete"))
        router.add("/data/{repo}", "data", {"PUT": self.upload, "GET": self.listing},
                   {"PUT": Need(create), "GET": Need(read)}, query=("after", "limit"))
        router.add("/data/{repo}/{oid}", "data", {"GET": self.download, "DELETE": self.delete},
                   {"GET": Need(read, public=True), "DELETE": Need(delete)})

    def upload(self, request: Request, repo: str) -> Response:
        repository(repo)  # a bad name is refused before the body is looked at
        upload = raw_upload(request, self.config.max_size)
        target = RepositoryTarget(self.app, repo, upload.content_type)
        return target.answer(target.store(upload.stream), request)

    def download(self, request: Request, repo: str, oid: str) -> ObjectResponse:
        return ObjectResponse(self.backend.open(repository(repo), object_id(oid)))

    def delete(self, request: Request, repo: str, oid: str) -> JsonResponse:
        """The object goes, unless an S3 key of the bucket of the same name
        names it (409, naming the key)."""
        repository(repo)
        self.app.claims.remove(repo, object_id(oid))
        return JsonResponse(200, {"deleted": oid})

    def listing(self, request: Request, repo: str) -> JsonResponse:
        """``[{"oid", "size"}, ...]`` in oid order; a full page carries a
        ``Link: <...>; rel="next"`` header to the following one."""
        namespace = repository(repo)
        limit = whole_number(request.query.get("limit"), "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        after = request.query.get("after", "")
        if after and not is_object_id(after):
            raise BadRequest("after= takes an object id (64 lowercase hex characters)")
        page = self.backend.list(namespace, after=after, limit=limit)
        headers = {}
        if len(page) == limit:
            query = urlencode({"limit": limit, "after": page[-1].oid})
            headers["Link"] = '<%s/data/%s?%s>; rel="next"' % (request.base_url, repo, query)
        return JsonResponse(200, [{"oid": i.oid, "size": i.size} for i in page], headers)
