"""The console's sign-in through an OpenID Connect provider
(``--oidc-issuer``): the browser is sent to the provider with a fresh
state, nonce and PKCE verifier (``wire.oidc``), comes back with a code,
and the ID token the code is exchanged for opens a console session for
the user it names, in this store's groups it lists.

What a sign-in began is kept in the records (``console/oidc/<sha256 of
the state>``, for ``BEGUN_FOR`` seconds, used once), so any worker or daemon
may take the way back; the state is also a cookie of the browser that
began it (``SameSite=Lax``: the provider's way back is another site's
link), so a code cannot be brought back by another browser.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import List, Optional

from ..access.sessions import COOKIE, IDLE, LIFETIME
from ..access.teams import named
from ..errors import BadRequest, FileStoreError, Unauthorized
from ..records.interface import Records
from ..web.messages import Request, Response, TextResponse
from ..wire.browser import cookie, set_cookie
from ..wire.oidc import Provider
from . import views
from .changes import see

BEGUN = "console/oidc/"
BEGUN_FOR = 600.0  # seconds a sign-in may take at the provider
STATE_COOKIE = "fsd_oidc"
CALLBACK = "/console/sign-in/oidc/callback"
_CODE = re.compile(r"[\x21-\x7e]{1,2048}")


class OidcSignIn:
    def __init__(self, app, sessions) -> None:
        config = app.config
        self.provider = Provider(config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret,
                                 config.oidc_scopes, config.oidc_ca_file)
        self.records: Records = app.records
        self.sessions, self.users, self.config = sessions, app.users, config

    def _redirect_uri(self, request: Request) -> str:
        return (self.config.public_url.rstrip("/") or request.base_url) + CALLBACK

    def begin(self, request: Request) -> Response:
        """Off to the provider."""
        self._sweep()
        started = self.provider.start(self._redirect_uri(request))
        self.records.create(BEGUN + _key(started.state), {"nonce": started.nonce, "verifier": started.verifier,
                                                          "at": self.records.now()})
        return see(started.location, {"Set-Cookie": set_cookie(STATE_COOKIE, started.state,
                                                               request.base_url.startswith("https://"),
                                                               int(BEGUN_FOR), lax=True)})

    def back(self, request: Request) -> Response:
        """The provider's way back: a session, or the sign-in page saying why not."""
        query = request.query
        if "error" in query:
            return views.sign_in("The sign-in provider said: %s" % (query.get("error_description")
                                                                    or query["error"])[:300], 401,
                                 provider=self.provider.issuer)
        state, code = query.get("state", ""), query.get("code", "")
        if not (_CODE.fullmatch(state) and _CODE.fullmatch(code)):
            raise BadRequest("the way back from the sign-in provider carries its code and state")
        held = cookie(request.headers, STATE_COOKIE) or ""
        begun = self.records.get(BEGUN + _key(state))
        # Used once, by the browser that began it, within its time.
        if begun is None or not self.records.delete(BEGUN + _key(state), begun.version) or \
                not hmac.compare_digest(held, state) or self.records.now() - begun.value["at"] > BEGUN_FOR:
            return views.sign_in("That sign-in was not begun here, in this browser, in the last %d minutes (or it "
                                 "was used already): begin again." % (BEGUN_FOR // 60), 401,
                                 provider=self.provider.issuer)
        try:
            claims = self.provider.finish(code, self._redirect_uri(request), begun.value["nonce"],
                                          begun.value["verifier"])
            name, groups = self._who(claims)
        except (Unauthorized, BadRequest) as error:
            return views.sign_in("The sign-in was refused: %s" % error.text, 401, provider=self.provider.issuer)
        except FileStoreError as error:
            return views.sign_in("The sign-in provider could not be asked: %s" % error.text, 502,
                                 provider=self.provider.issuer)
        session = self.sessions.open_federated(name, groups)
        secure = request.base_url.startswith("https://")
        # A page of our own moves on, not a redirect: a SameSite=Strict
        # cookie is not sent along a way that began on another site.
        response = TextResponse(200, views.moving_on("/console"), "text/html; charset=utf-8")
        response.headers["Set-Cookie"] = set_cookie(COOKIE, session, secure, int(min(IDLE, LIFETIME)))
        return response  # (the state's cookie lapses by itself: its sign-in is used)

    def _who(self, claims: dict) -> "tuple[str, List[str]]":
        """The user's name and this store's groups the ID token names."""
        name = claims.get(self.config.oidc_name_claim) or claims["sub"]
        if not isinstance(name, str):
            raise Unauthorized("the ID token's %s is not a name" % self.config.oidc_name_claim)
        named("user", name)
        listed = claims.get(self.config.oidc_groups_claim) or []
        listed = [listed] if isinstance(listed, str) else listed
        groups = [group for group in listed if isinstance(group, str) and self.users.teams.group(group) is not None]
        return name, groups

    def _sweep(self) -> None:
        now = self.records.now()
        for name, record in list(self.records.items(BEGUN)):
            if now - record.value["at"] > BEGUN_FOR:
                self.records.delete(name)


def _key(state: str) -> str:
    return hashlib.sha256(state.encode("ascii", "replace")).hexdigest()


def configured(app, sessions) -> Optional[OidcSignIn]:
    """The sign-in through the configured provider, None without one."""
    return OidcSignIn(app, sessions) if app.config.oidc_issuer else None
