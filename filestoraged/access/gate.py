"""Who may do what: the ``--auth`` mode, and one request's answer: the
``Grant`` of who it proves to be against the ``Need`` its route declared:
a token (``Authorization: Bearer``, or HTTP Basic with the token as
password) or a user (HTTP Basic with the user's name and password:
``access.users``), except on share-link downloads where Basic is the
link's own. A token's scopes judge a need; a user's policies, through the
one evaluator (``access.actions.asked_for``).

Modes: ``off`` (anyone may do anything: the default on loopback), ``writes``
(reads of objects and keys are public; whatever writes, deletes or lists
needs a scope: the default elsewhere), ``all`` (every request needs one).
Share-link downloads keep their own password rule and ``/healthz`` stays
open in every mode; a share link's delete token is its own authority.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Callable, Mapping, Optional, Tuple, Union

from ..errors import BadRequest, Forbidden, TooManyRequests, Unauthorized
from ..records.interface import Records
from ..wire.credentials import presented
from ..wire.request_head import Headers
from .attempts import Attempts
from .hosts import KnownHosts
from .scopes import ADMIN, Need, Scope
from .tokens import Token, TokenStore
from .judged import BucketPolicy, judged
from .users import User, Users

Principal = Union[Token, User]  # who a request proved to be


def logged(principal: Optional[Principal]) -> Optional[str]:
    """How the access line names who a request came from: ``token=NAME`` or ``user=NAME``."""
    return None if principal is None else "%s=%s" % (principal.kind, principal.name)

log = logging.getLogger(__name__)

CHALLENGE = 'Bearer realm="filestoraged"'
FAILURES = 10  # failed attempts allowed from one address within ...
FAILURE_WINDOW = 60.0  # ... this many seconds; then 429
# Headers a reverse proxy adds: a request that carries one came through a
# proxy, from a client that may be anywhere.
_FORWARDING_NAMES = ("X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host")
_FORWARDING = frozenset(name.lower() for name in _FORWARDING_NAMES)


def through_proxy(headers: Headers) -> bool:
    """Whether a request carries forwarding headers: a proxy sent it on."""
    return headers.has_any(_FORWARDING)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def resolve_mode(setting: str, listening_host: str, trusted_proxy: str) -> Tuple[str, str]:
    """``(mode, why)`` for ``--auth``: ``auto`` is ``off`` only on a loopback
    address with no ``--trusted-proxy`` (a proxy in front means clients from
    anywhere reach us through a loopback peer), else ``writes``."""
    if setting != "auto":
        return setting, "set by --auth"
    if trusted_proxy.strip():
        return "writes", "auto: a --trusted-proxy is configured"
    if is_loopback(listening_host):
        return "off", "auto: loopback only; requests with forwarding headers are treated as writes"
    return "writes", "auto: listening beyond loopback"


_UNKNOWN = object()


class Grant:
    """What one request may do: the scopes its token grants (none when it
    needed none), checked against its route's need when it was let in;
    further needs that only the request itself names (a resumable upload's
    target, a Git LFS batch's operation) are checked with ``require``, with
    the same answers (401, 403, 429). Made by ``Access.grant``."""

    def __init__(self, access: "Access", headers, address: str, mode: str, token: Optional[Principal] = None,
                 form_need: Optional[Need] = None) -> None:
        """``token``: who the request proved to be when it was let in (None: none asked)."""
        self._access = access
        self._headers = headers
        self._address = address
        self._mode = mode
        self.scopes: Tuple[Scope, ...] = ()
        self._principal: Optional[Principal] = None
        self._holder: object = _UNKNOWN  # the proved token, once known (None: no live token)
        self._proved(token)
        # The need still to be met by a token that comes as the form's
        # first part (the upload page without JavaScript): see ``from_form``.
        self.form_need = form_need

    def may(self, scope: Scope) -> bool:
        """True if who the request proved to be may act within ``scope``
        (the bucket's policy judged too: ``access.judged``)."""
        return judged(self._principal, scope, self._address, self._access.bucket_policy)[0]

    def allows(self, scope: Scope) -> bool:
        """Whether the request may act within ``scope``: its token has it,
        or access control is off for it."""
        return self._mode == "off" or self.may(scope)

    def _proved(self, token: Optional[Principal]) -> None:
        self.scopes = token.scopes if token is not None else ()
        self._principal = token
        if token is not None:
            self._holder = token

    def require(self, need: Need) -> None:
        """Let the request go on only if its token meets ``need`` too."""
        self._proved(self._access.check(need, self._headers, self._address, self._mode))

    def identify(self) -> None:
        """Let the request go on only if it carries a live token (whatever
        its scopes), proved and counted as every token is (401, 429); where
        access control is off, anyone goes on. Its scopes are then
        ``scopes``: for a face that answers with what they reach."""
        if self._mode != "off":
            user, secret = presented(self._headers)
            self._proved(self._access.identify(secret, self._address, user))

    def from_form(self, token: Optional[str]) -> None:
        """Meet the pending form need with the token the form's first part
        carried (None if the form has none)."""
        assert self.form_need is not None
        headers = {"Authorization": "Bearer " + token} if token else {}
        self._proved(self._access.check(self.form_need, headers, self._address, self._mode))
        self.form_need = None

    @property
    def anonymous(self) -> bool:
        """Let in without a token where access control is on (a public read
        under ``writes``): bounded tighter where a request can cost much."""
        return self._mode != "off" and self._principal is None and self.holder() is None

    def logged(self) -> Optional[str]:
        """Who the request came from as the access line says it (``logged``)."""
        return logged(self.holding())

    def holder(self) -> Optional[str]:
        """The name of the live token or user the request carries, None without one."""
        token = self.holding()
        return None if token is None else token.name

    def holding(self) -> Optional[Principal]:
        """The live token or user the request carries, None without one: the one it
        proved, else looked up once (a request its route let in without a
        token may still carry one). A name may be used again once its token
        is revoked: what belongs to a token (a WebDAV lock) is told by the
        token's name and the time it was made, never by the name alone."""
        if self._holder is _UNKNOWN:
            self._holder = self._access.token_of(self._headers)
        return self._holder  # type: ignore[return-value]


class TokenGrant(Grant):
    """What a request may do as a token or user it proved otherwise than by
    sending its secret: a console session (``access.sessions``), which
    keeps only the token's digest or the user's name. ``token`` None:
    access control is off for it."""

    def __init__(self, token: Optional[Principal], address: str = "",
                 bucket_policy: BucketPolicy = lambda bucket: None) -> None:  # (nothing here reads headers)
        self._token = self._principal = token
        self._address = address
        self._bucket_policy = bucket_policy
        self._mode = "all" if token is not None else "off"
        self.scopes = token.scopes if token is not None else ()
        self.form_need = None

    def may(self, scope: Scope) -> bool:
        return judged(self._token, scope, self._address, self._bucket_policy)[0]

    def require(self, need: Need) -> None:
        if self._token is not None and need is not None:
            allowed, why = judged(self._token, need.scope, self._address, self._bucket_policy)
            if not allowed:
                raise Forbidden(why)

    def holding(self) -> Optional[Principal]:
        return self._token


class Access:
    def __init__(self, tokens: TokenStore, mode: str, throttle: Records,
                 clock: Callable[[], float] = time.time, speaks: bool = True,
                 hosts: Optional[KnownHosts] = None, users: Optional[Users] = None,
                 bucket_policy: BucketPolicy = lambda bucket: None) -> None:
        """``throttle``: the records that count failed attempts; ``speaks``:
        whether this process says what is missing (one of a daemon's
        workers does); ``hosts``: the names answered under ``off``;
        ``users``: who may sign in with a password; ``bucket_policy``: the
        text of a bucket's policy, by its name (None: none)."""
        self.tokens = tokens
        self.users = users
        self.bucket_policy = bucket_policy
        self.hosts = hosts or KnownHosts()
        self.speaks = speaks
        self.setting = mode
        self.mode = mode  # "auto" until resolve()
        self.why = "set by --auth"
        self.clock = clock
        self.failures = Attempts(throttle, "token", FAILURES, FAILURE_WINDOW)
        self._pruned = 0.0

    def close(self) -> None:
        self.failures.close()

    def resolve(self, listening_host: str, trusted_proxy: str = "") -> str:
        """Settle ``auto`` for the address the server listens on; say so once."""
        self.mode, self.why = resolve_mode(self.setting, listening_host, trusted_proxy)
        if self.speaks and self.mode != "off" and not self.tokens.any() and not (self.users and self.users.any()):
            log.warning("access control is %r and no token or user exists: create one with "
                        "'filestoraged token create --scope admin' (same --data-dir)", self.mode)
        if self.speaks and self.mode == "off" and self.tokens.any():
            narrower = [token.name for token in self.tokens.list() if ADMIN not in token.scopes]
            if narrower:
                log.warning("access control is off, so no token's scopes are checked: %s (%d token%s with narrower "
                            "scopes than admin, append-only and read-only ones too) may do everything here; "
                            "start with --auth writes or all for their scopes to hold",
                            ", ".join(narrower[:5]) + (", ..." if len(narrower) > 5 else ""), len(narrower),
                            "" if len(narrower) == 1 else "s")
        return self.mode

    def mode_for(self, headers) -> str:
        """The mode one request is judged by: ``auto`` resolved to ``off`` on
        loopback still judges a request that came through a proxy (it carries
        forwarding headers) as ``writes``: its client may be anywhere."""
        if self.mode == "off" and self.setting == "auto" and through_proxy(headers):
            return "writes"
        return self.mode

    def knows_host(self, headers, host: Optional[str]) -> bool:
        """Whether a request that came by the name ``host`` may go on: any
        name where it proves a token (``writes``, ``all``); where it is let
        in without one (``off``), only a name the daemon answers to
        (``hosts``: DNS rebinding; ``hosts.check`` says why not)."""
        return self.mode_for(headers) != "off" or self.hosts.knows(host)

    def grant(self, need: Optional[Need], captures: Mapping[str, str], headers, address: Callable[[], str]
              ) -> Grant:
        """One routed request's grant against its route's ``need`` (with the
        path's ``captures`` filled in); raises as ``check`` does. The token of
        an upload through the page's form without JavaScript is checked once
        the form's first part is read (see ``token_in_form``). ``address()``
        gives the client's address, asked only when needed."""
        mode = self.mode_for(headers)
        if mode == "off":  # the default on loopback: nothing to work out per request
            return Grant(self, headers, "", mode)
        client = address()
        if need is not None and (need.unless is not None and headers.get(need.unless)):
            need = None
        if need is not None:
            need = Need(need.scope.filled(captures), need.public, need.unless, need.form)
        if token_in_form(need, headers):
            return Grant(self, headers, client, mode, form_need=need)
        return Grant(self, headers, client, mode, self.check(need, headers, client, mode))

    def check(self, need: Optional[Need], headers, address: str, mode: Optional[str] = None
              ) -> Optional[Principal]:
        """The token or user the request carries and proves (None if it needs none);
        ``Unauthorized`` (401), ``Forbidden`` (403) or ``TooManyRequests``
        (429) unless the request may go ahead. ``mode``: this request's (see
        ``mode_for``), the server's by default."""
        mode = mode or self.mode
        if mode == "off" or need is None or (mode == "writes" and need.public):
            return None
        user, secret = presented(headers)
        token = self.identify(secret, address, user)
        allowed, why = judged(token, need.scope, address, self.bucket_policy)
        if not allowed:
            raise Forbidden(why)
        return token

    def identify(self, secret: Optional[str], address: str, user: Optional[str] = None) -> Principal:
        """The live token whose secret this is, or the user ``user`` whose
        password it is (a Basic user name that names no user is a token's),
        the attempt counted against ``address`` as every check is
        (``Unauthorized``, or ``TooManyRequests`` once it failed too
        often); the console's sign-in asks so too."""
        signs_in = user is not None and secret is not None and self.users is not None
        if signs_in:
            proved = self.users.proved(user, secret)  # proved before, and the user unchanged: nothing to hash
            if proved is not None:
                self._not_locked_out(address, self.clock())
                return proved
        now = self.clock()
        if now - self._pruned > FAILURE_WINDOW:  # addresses that stopped trying leave the table
            self._pruned = now
            self.failures.prune(now)
        # A secret this process holds a copy of proved good before: no guess,
        # nothing to count (two writes fewer a request), but a locked-out
        # address is refused all the same (below, for the same reason).
        token = self.tokens.find_copied(secret) if secret else None
        if token is not None:
            self._not_locked_out(address, now)
            return token
        # Checked and counted in one step: the attempt counts as failed from
        # the moment it is let in, until the token proves good, so concurrent
        # guesses (in any worker) cannot all pass the same check; while every
        # place is held by checks still running, it waits for one (see
        # Attempts.admit), so a good token is never refused for others in
        # flight. A locked-out address gets 429 even with a good token:
        # answering it would tell a guesser which of its guesses was right.
        retry = self.failures.admit(address, now)
        if retry is not None:
            raise TooManyRequests(retry, "too many failed attempts from %s; retry in %d s" % (address, retry))
        try:
            token = self.users.sign_in(user, secret) if signs_in else None  # type: ignore[union-attr,arg-type]
            token = token or (self.tokens.find(secret) if secret else None)
        except BaseException:
            self.failures.forget(address, now)  # not judged: the store did not answer
            raise
        if token is None:
            self.failures.settle(address, now)
            raise Unauthorized("a valid token is required (Authorization: Bearer <token>), or a user's name and "
                               "password (HTTP Basic)", CHALLENGE)
        self.failures.forget(address, now)
        return token

    def _not_locked_out(self, address: str, now: float) -> None:
        retry = self.failures.retry_after(address, now)
        if retry is not None:
            raise TooManyRequests(retry, "too many failed attempts from %s; retry in %d s" % (address, retry))

    def token_of(self, headers) -> Optional[Principal]:
        """The live token or user ``headers`` carry, None without one
        (asked after ``grant`` let the request in, and for the access line of
        any request: malformed credentials carry none, and were answered 400
        where they mattered)."""
        try:
            user, secret = presented(headers)
        except BadRequest:
            return None
        # (a user's password proved before only: a request let in without one costs no hashing)
        found = self.users.proved(user, secret) if user and secret and self.users is not None else None
        return found or (self.tokens.find(secret) if secret else None)


def token_in_form(need: Optional[Need], headers) -> bool:
    """True for an upload through the upload page's form without JavaScript:
    a multipart upload to a route whose need says ``form`` that needs a
    token and carries none in ``Authorization``. Its token is then the
    form's first part, ``token`` (checked before a byte of the file is read)."""
    return (need is not None and need.form and "Authorization" not in headers
            and (headers.get("Content-Type") or "").lower().startswith("multipart/form-data"))
