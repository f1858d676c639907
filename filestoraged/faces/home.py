"""``/``: the upload page, for people with a browser (see ``pages``)."""

from __future__ import annotations

from ..pages.upload import upload_page
from ..web.messages import Request, TextResponse
from ..web.router import Router
from . import Face


class HomeFace(Face):
    def register(self, router: Router) -> None:
        # Other methods of / fall through to the WebDAV face's root (OPTIONS,
        # PROPFIND: Windows asks them there before it maps a drive).
        router.add("/", "home", {"GET": self.home}, {"GET": None}, wrong_method_is_not_found=True)

    def home(self, request: Request) -> TextResponse:
        config = self.config
        return upload_page(config.max_size, config.share_default_expiry, config.share_max_expiry)
