"""``/``: the upload page, for people with a browser (see ``pages``)."""

from __future__ import annotations

from ..access.sessions import COOKIE, Sessions
from ..pages.upload import upload_page
from ..web.messages import Request, TextResponse
from ..web.router import Router
from ..wire.browser import cookie
from . import Face


class HomeFace(Face):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.sessions = Sessions(app.records, app.tokens, app.users)

    def register(self, router: Router) -> None:
        # Other methods of / fall through to the WebDAV face's root (OPTIONS,
        # PROPFIND: Windows asks them there before it maps a drive).
        router.add("/", "home", {"GET": self.home}, {"GET": None}, wrong_method_is_not_found=True)

    def home(self, request: Request) -> TextResponse:
        """The page; for a browser signed in to the console, one that sends
        its uploads as the session's token (through ``/console/file``,
        ``/console/files`` and ``/console/uploads``), asking for none."""
        config = self.config
        session = cookie(request.headers, COOKIE)
        token = self.sessions.find(session) if session else None
        if token is not None:
            request.actor = token
        return upload_page(config.max_size, config.share_default_expiry, config.share_max_expiry,
                           token.name if token is not None else None)
