"""Who a console request comes from: the session a browser holds (signed
in with an API token, ``access.sessions``), the token's scopes judged as on
every face, and the forms the console's own pages post (``same_origin``:
a page of another site cannot make a signed-in browser change anything).
``SignedIn`` is a part of ``face.ConsoleFace``, as ``changes.Changes`` is."""

from __future__ import annotations

from typing import Optional, Tuple
from urllib.parse import parse_qs

from ..access.gate import Principal, TokenGrant
from ..access.judged import judged
from ..access.scopes import ADMIN, Need, Scope
from ..access.sessions import COOKIE, IDLE, LIFETIME
from ..access.users import User
from ..errors import BadRequest, Forbidden, TooManyRequests, Unauthorized
from ..web.messages import Request, Response
from ..wire.browser import cookie, same_origin, set_cookie
from . import views
from .changes import see

MAX_FORM = 256 * 1024  # bytes of a console form (the keys of a page checked for a delete)


class SignedIn:
    def sign_in_page(self, request: Request) -> Response:
        if self._off(request):
            return see("/console")
        return views.sign_in(provider=self.app.config.oidc_issuer)

    def sign_in(self, request: Request) -> Response:
        form = self._form(request)
        user = form.get("user", "").strip() or None
        secret = (form.get("password", "") if user else form.get("token", "").strip())
        try:
            token = self.app.access.identify(secret or None, request.client, user)
        except Unauthorized:
            if user:
                return views.sign_in("That name and password do not match a user here (or the user is disabled).",
                                     401, user, self.app.config.oidc_issuer)
            return views.sign_in("That token is not one this server knows (or it was revoked, or it expired). "
                                 "Check it, or ask whoever runs this server for one.", 401,
                                 provider=self.app.config.oidc_issuer)
        except TooManyRequests as error:
            return views.sign_in("Too many failed sign-ins from your address: wait %d seconds, then try again."
                                 % error.retry_after, 429, provider=self.app.config.oidc_issuer)
        session = self.sessions.open(token, secret)
        return see("/console", {"Set-Cookie": set_cookie(COOKIE, session, self._secure(request),
                                                         int(min(IDLE, LIFETIME)))})

    def sign_out(self, request: Request) -> Response:
        self._form(request)
        self.sessions.close(cookie(request.headers, COOKIE))
        return see("/console/sign-in", {"Set-Cookie": set_cookie(COOKIE, "", self._secure(request), 0)})

    # -- who, and what they may do ----------------------------------------------------

    def _as_session(self, handler, need: Optional[Need] = None):
        """A request of another face made by a page's script (or form) as
        the signed-in token: a resumable upload (tus, as on ``/uploads``:
        each target's scope judged there), or the upload page's (as on
        ``/file`` and ``/files``, needing ``need``). A change only from this
        server's own pages; without a session, 401 (the script says to sign
        in again)."""
        def handle(request: Request, *args, **kwargs) -> Response:
            if request.method not in ("GET", "HEAD"):
                self._form_checked(request)
            try:
                token, _ = self._caller(request)
            except SignIn:
                raise Unauthorized("the console session ended: sign in again") from None
            request.grant = TokenGrant(token, request.client, self.app.access.bucket_policy)
            if need is not None:
                request.grant.require(need)
            return handler(request, *args, **kwargs)
        return handle

    def _off(self, request: Request) -> bool:
        return self.app.access.mode_for(request.headers) == "off"

    def _caller(self, request: Request) -> Tuple[Optional[Principal], Optional[views.Who]]:
        """``(token, its name)``; ``(None, None)`` with access control off;
        a page that is not the console's own sends the browser to sign in."""
        if self._off(request):
            return None, None
        token = self.sessions.find(cookie(request.headers, COOKIE))
        if token is None:
            raise SignIn()
        request.actor = token  # (the access line names the session's token or user)
        return token, views.Who(token.name, isinstance(token, User), self._may(token, ADMIN))

    def _may(self, token: Optional[Principal], scope: Scope) -> bool:
        return token is None or judged(token, scope, "", self.app.access.bucket_policy)[0]

    def _require(self, token: Optional[Principal], scope: Scope) -> None:
        if token is not None:
            allowed, why = judged(token, scope, "", self.app.access.bucket_policy)
            if not allowed:
                raise Forbidden("this may not be done here: %s" % why)

    def _form_checked(self, request: Request) -> None:
        """``Forbidden`` unless the form was posted from the console's own pages."""
        if not same_origin(request.headers, request.base_url):
            raise Forbidden("the console takes forms from its own pages only")

    def _form(self, request: Request) -> dict:
        """A console form's fields (``_form_checked``), the first of each name."""
        return {name: values[0] for name, values in self._form_lists(request).items()}

    def _form_lists(self, request: Request) -> dict:
        """A console form's fields, every value of each name."""
        self._form_checked(request)
        raw = request.body(MAX_FORM).read_all()
        try:
            return parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("the form is not UTF-8") from None

    def _secure(self, request: Request) -> bool:
        return request.base_url.startswith("https://")


class SignIn(Exception):
    """No live session: the browser is sent to the sign-in page (``_signed_in``)."""


def signed_in(handler):
    """``handler``, or the way to the sign-in page where a session is needed and missing."""
    def handle(request: Request) -> Response:
        try:
            return handler(request)
        except SignIn:
            return see("/console/sign-in")
    return handle
