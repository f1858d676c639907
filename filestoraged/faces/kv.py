"""``/kv`` (or ``/`` with ``--kv-at-root``): the transactional JSON key-value store.

Its contract answers 404 — not 405 — for any route or method it does not
define, and every answer but 204 is JSON.
"""

from __future__ import annotations

from urllib.parse import unquote

from ..errors import BadRequest, NotFound
from ..web.messages import EmptyResponse, JsonResponse, Request
from ..access.scopes import Need, Scope
from ..web.router import Router

_BODY_OVERHEAD = 4096  # JSON punctuation around a maximal key and value


class KVFace:
    def __init__(self, app, prefix: str = "/kv") -> None:
        self.store = app.kv
        self.prefix = prefix
        limits = self.store.limits
        self.body_limit = limits.max_key + limits.max_value + _BODY_OVERHEAD

    def register(self, router: Router) -> None:
        p = self.prefix
        strict = {"wrong_method_is_not_found": True, "head": False}
        write = Need(Scope("kv", "write"))
        router.add(p + "/set", "kv", {"POST": self.set, "DELETE": self.delete}, {"POST": write, "DELETE": write},
                   **strict)
        router.add(p + "/commit", "kv", {"POST": self.commit}, {"POST": write}, **strict)
        # HEAD wherever GET works, as for every other face; but not in the
        # drop-in root mode, where the key-value contract answers 404 to it.
        router.add(p + "/{key}", "kv", {"GET": self.get}, {"GET": Need(Scope("kv", "read"), public=True)},
                   wrong_method_is_not_found=True, head=bool(p))

    def get(self, request: Request, key: str) -> JsonResponse:
        key = unquote(key)
        found, value = self.store.lookup(key)
        if not found:
            raise NotFound("no key %r" % key[:100])
        return JsonResponse(200, {key: value})

    def set(self, request: Request) -> JsonResponse:
        body = request.json_body(self.body_limit)
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("POST /set takes a JSON object with exactly one key")
        ((key, value),) = body.items()
        created = self.store.stage_set(key, value)
        return JsonResponse(201 if created else 200, {key: value})

    def delete(self, request: Request) -> JsonResponse:
        key = request.json_body(self.body_limit)
        if not isinstance(key, str):
            raise BadRequest('DELETE /set takes a JSON string: the key, e.g. "thing"')
        self.store.stage_delete(key)
        return JsonResponse(200, {"deleted": key})

    def commit(self, request: Request) -> EmptyResponse:
        self.store.commit()
        return EmptyResponse(204)
