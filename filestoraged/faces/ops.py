"""``/healthz`` and ``/metrics``, for operators and their monitoring."""

from __future__ import annotations

import os

from .. import __version__
from ..errors import BackendUnavailable, FileStoreError
from ..web.messages import JsonResponse, Request, TextResponse
from ..access.scopes import Need, Scope
from ..web.router import Router
from . import Face


class OpsFace(Face):
    def register(self, router: Router) -> None:
        router.add("/healthz", "ops", {"GET": self.health}, {"GET": None})  # open in every mode
        router.add("/metrics", "ops", {"GET": self.metrics}, {"GET": Need(Scope("metrics", "read"))})

    def health(self, request: Request) -> JsonResponse:
        """Whether this worker can serve (its backend and its records answer,
        its disk has room), which backend, whether it serves the S3 API too,
        and the version of the code it runs (after an upgrade: which worker
        still runs the old one)."""
        backend = self.app.backend
        try:
            backend.check()
            self.app.records.check()
        except FileStoreError as error:
            retry_after = getattr(error, "retry_after", BackendUnavailable.retry_after)
            return JsonResponse(503, {"status": "unavailable", "backend": backend.name, "message": error.text},
                                {"Retry-After": str(retry_after)})
        return JsonResponse(200, {"status": "ok", "backend": backend.name, "pid": os.getpid(),
                                  "s3_api": self.app.s3_site is not None, "version": __version__})

    def metrics(self, request: Request) -> TextResponse:
        return TextResponse(200, self.app.metrics.render(self.app.peer_metrics()),
                            "text/plain; version=0.0.4; charset=utf-8")
