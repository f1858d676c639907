"""OpenID Connect, the relying party's side of the authorization code flow
with PKCE (OIDC Core 1.0 section 3.1, RFC 7636): the issuer's discovery
document, the address a browser is sent to, the code exchanged at the
token endpoint for an ID token, and that ID token's claims checked.

The ID token is taken straight from the token endpoint, over TLS, in
answer to a request this client authenticated: as OIDC Core 3.1.3.7 allows,
its signature is not checked; its issuer, audience, expiry, time of issue
and nonce are. An issuer that is not ``https://`` is taken only on a
loopback address (a provider on the same machine).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..base.json_text import bounded
from ..errors import BackendUnavailable, BadRequest, Unauthorized

TIMEOUT = 10.0  # seconds for each request to the provider
SKEW = 120.0  # seconds an ID token's times may be off this daemon's clock
DISCOVERY_KEPT = 3600.0  # seconds the discovery document is believed


@dataclass(frozen=True)
class Started:
    """One sign-in begun: where the browser goes, and what its return is checked against."""

    location: str
    state: str
    nonce: str
    verifier: str


class Provider:
    """An issuer and this daemon's client registration with it."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, scopes: str = "openid profile email",
                 ca_file: str = "") -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id, self.client_secret, self.scopes = client_id, client_secret, scopes
        self._context = ssl.create_default_context(cafile=ca_file or None)
        self._found: Optional[Tuple[float, Dict[str, object]]] = None
        check_issuer(self.issuer)

    def _discovered(self) -> Dict[str, object]:
        now = time.monotonic()
        if self._found is None or now - self._found[0] > DISCOVERY_KEPT:
            document = self._fetch(urllib.request.Request(self.issuer + "/.well-known/openid-configuration"))
            if document.get("issuer", "").rstrip("/") != self.issuer:
                raise BackendUnavailable("the OpenID provider's discovery document names another issuer")
            for name in ("authorization_endpoint", "token_endpoint"):
                if not isinstance(document.get(name), str):
                    raise BackendUnavailable("the OpenID provider's discovery document has no %s" % name)
            self._found = (now, document)
        return self._found[1]

    def start(self, redirect_uri: str) -> Started:
        """A new sign-in: the authorization request's address, with a fresh
        ``state``, ``nonce`` and PKCE verifier (S256)."""
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        challenge = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
        query = urllib.parse.urlencode({"response_type": "code", "client_id": self.client_id,
                                        "redirect_uri": redirect_uri, "scope": self.scopes, "state": state,
                                        "nonce": nonce, "code_challenge": challenge,
                                        "code_challenge_method": "S256"})
        endpoint = str(self._discovered()["authorization_endpoint"])
        return Started(endpoint + ("&" if "?" in endpoint else "?") + query, state, nonce, verifier)

    def finish(self, code: str, redirect_uri: str, nonce: str, verifier: str) -> Dict[str, object]:
        """The claims of the ID token the code is exchanged for, checked
        (``Unauthorized`` when they do not hold)."""
        body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": redirect_uri, "code_verifier": verifier}).encode("ascii")
        credentials = "%s:%s" % (urllib.parse.quote(self.client_id, safe=""),
                                 urllib.parse.quote(self.client_secret, safe=""))
        request = urllib.request.Request(str(self._discovered()["token_endpoint"]), data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
            "Authorization": "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")})
        answer = self._fetch(request)
        token = answer.get("id_token")
        if not isinstance(token, str):
            raise Unauthorized("the OpenID provider gave no ID token")
        return self.checked(claims_of(token), nonce)

    def checked(self, claims: Dict[str, object], nonce: str, now: Optional[float] = None) -> Dict[str, object]:
        """``claims`` if they are an ID token's for this client, now, for
        the sign-in of ``nonce``; ``Unauthorized`` naming what failed."""
        now = time.time() if now is None else now
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        checks = (
            (str(claims.get("iss", "")).rstrip("/") == self.issuer, "its issuer is another"),
            (self.client_id in audiences, "it is for another client"),
            (len(audiences) == 1 or claims.get("azp") == self.client_id, "it names another authorized party"),
            (isinstance(claims.get("exp"), (int, float)) and now < float(claims["exp"]) + SKEW, "it expired"),
            (isinstance(claims.get("iat"), (int, float)) and float(claims["iat"]) < now + SKEW,
             "it was issued in the future"),
            (claims.get("nonce") == nonce, "its nonce is not this sign-in's"),
            (isinstance(claims.get("sub"), str) and claims["sub"], "it names no subject"),
        )
        for holds, why in checks:
            if not holds:
                raise Unauthorized("the OpenID provider's ID token is refused: %s" % why)
        return claims

    def _fetch(self, request: urllib.request.Request) -> Dict[str, object]:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self._context) as answer:
                document = bounded(answer.read(1024 * 1024))
        except urllib.error.HTTPError as error:
            said = error.read(2000).decode("utf-8", "replace")
            if 400 <= error.code < 500:
                raise Unauthorized("the OpenID provider refused the sign-in (%d): %s" % (error.code, said[:300]))
            raise BackendUnavailable("the OpenID provider answered %d" % error.code) from None
        except (OSError, ValueError) as error:
            raise BackendUnavailable("the OpenID provider did not answer: %s" % error) from None
        if not isinstance(document, dict):
            raise BackendUnavailable("the OpenID provider's answer is not a JSON object")
        return document


def check_issuer(issuer: str) -> None:
    """``BadRequest`` for an issuer this client will not ask: not https, except on loopback."""
    parsed = urllib.parse.urlsplit(issuer)
    if parsed.scheme == "https" and parsed.hostname:
        return
    try:
        loopback = parsed.scheme == "http" and ipaddress.ip_address(parsed.hostname or "").is_loopback
    except ValueError:
        loopback = parsed.scheme == "http" and parsed.hostname == "localhost"
    if not loopback:
        raise BadRequest("an OpenID issuer is https://HOST[/PATH] (http:// only on loopback)")


def claims_of(token: str) -> Dict[str, object]:
    """The payload of a JWT (its signature not checked: see the module docstring)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("the OpenID provider's ID token is not a JWT")
    try:
        claims = bounded(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise Unauthorized("the OpenID provider's ID token does not read") from None
    if not isinstance(claims, dict):
        raise Unauthorized("the OpenID provider's ID token does not read")
    return claims


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
