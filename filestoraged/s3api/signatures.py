"""Who sent an S3 request: its SigV4 signature (the ``Authorization``
header, or a presigned URL's query; or a presigned URL's SigV2 signature,
``wire.sigv2``) checked against the secret of its key
(``access.s3keys``), its time against the clock, and what the key's token
may do. The steps of the signature are ``wire.sigv4``'s, the same the S3
backend signs with.

``--auth off`` takes any signature and none; ``writes`` and ``all`` check
every signature a request carries, and what it may do is its token's
scopes (an unsigned request may only read objects, under ``writes``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Optional, Tuple

from urllib.parse import unquote

from ..access.attempts import Attempts
from ..access.gate import FAILURE_WINDOW, FAILURES
from ..access.judged import lacks
from ..access.policy import Policy
from ..access.s3keys import secret_of
from ..access.scopes import Need, Scope, grants
from ..access.tokens import TokenStore
from ..access.users import User, Users
from ..errors import BadRequest, Forbidden, TooManyRequests
from ..records.interface import Records
from ..wire import sigv2
from ..wire.sigv4 import (ALGORITHM, Claim, credential, expected_signature, matches, query_pairs,
                          read_authorization, read_presigned, signature, signing_key, uri_encode)

log = logging.getLogger(__name__)

MAX_SKEW = 15 * 60  # seconds a signed request's time may be off the daemon's clock
MAX_EXPIRES = 7 * 24 * 3600  # the longest a presigned URL may be good for
MAX_DERIVED = 4096  # keys derived from the server key kept at once
STREAMING = "STREAMING-"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who a request is from. ``scopes``: its token's (None: no signature);
    ``mode``: the access mode it is judged by; ``name``: the token's;
    ``key`` and ``claim``: the signing key and the
    claim a signed body's chunk signatures chain from; ``payload``: what
    the signature says of the body (``x-amz-content-sha256``: a SHA-256 or
    a payload mode); all three None when nothing is checked (``--auth
    off``, or no signature); ``acl_scopes``: what a bucket's or an
    object's canned ACL lets it do besides (``acls.widened``), for this
    request only."""

    scopes: Optional[Tuple[Scope, ...]]
    mode: str
    name: Optional[str] = None
    key: Optional[bytes] = None
    claim: Optional[Claim] = None
    payload: Optional[str] = None
    acl_scopes: Tuple[Scope, ...] = ()
    principal: Any = None  # the token or user (access.users) of the key it signed with

    @property
    def by_user(self) -> bool:
        """Signed with a user's key: policies judge it, never scopes."""
        return isinstance(self.principal, User)

    def judged(self) -> Tuple[Policy, ...]:
        """The policies of the user who signed it, judged with a bucket's
        (none for a token: its scopes judge it; ``may``)."""
        return self.principal.policies if isinstance(self.principal, User) else ()


class Signatures:
    def __init__(self, tokens: TokenStore, server_key: bytes, throttle: Records,
                 clock: Callable[[], float] = time.time, users: Optional[Users] = None) -> None:
        """``throttle``: the records that count wrong signatures per client
        address (as wrong tokens are counted on the main port)."""
        self.tokens = tokens
        self.users = users
        self._server_key = server_key
        self.clock = clock
        self.failures = Attempts(throttle, "s3", FAILURES, FAILURE_WINDOW)
        self._keys: Dict[tuple, Any] = {}  # keys derived from the server key (``_derived``)

    def __repr__(self) -> str:  # never the server key
        return "Signatures()"

    def caller(self, method: str, raw_path: str, raw_query: str, headers, mode: str, address: str,
               counted: bool = True) -> Caller:
        """Who sent this request (``mode``: the access mode it is judged
        by; ``address``: the client's); ``Forbidden`` for a signature that
        does not hold, ``BadRequest`` for one that does not read, each with
        its S3 code; ``TooManyRequests`` (SlowDown) once an address sent
        ``FAILURES`` wrong ones within ``FAILURE_WINDOW``. ``counted``
        False: a wrong one is not counted (a look ahead of the request's
        own judgment, which counts it)."""
        authorization = headers.get("Authorization") or ""
        pairs = query_pairs(raw_query)
        if authorization.startswith("AWS4-HMAC-SHA256"):
            try:
                claim = read_authorization(authorization, headers.get("x-amz-date"))
            except BadRequest as error:
                raise error.as_s3("AuthorizationHeaderMalformed") from None
            # Without the header the payload is taken to be empty, as MinIO
            # takes it (curl --aws-sigv4 before 8.x signs so): a body then
            # fails its check, and nothing is stored.
            payload = stated = headers.get("x-amz-content-sha256") or EMPTY_SHA256
            signed_pairs = pairs
        elif any(name == "X-Amz-Signature" for name, _ in pairs):
            try:
                claim = read_presigned(dict(pairs))
            except BadRequest as error:
                raise error.as_s3("AuthorizationQueryParametersError") from None
            # The body of a presigned URL is unsigned, but what its headers
            # state of it (a SHA-256, a streaming mode) is still obeyed and checked.
            payload = "UNSIGNED-PAYLOAD"
            stated = headers.get("x-amz-content-sha256") or payload
            signed_pairs = [pair for pair in pairs if pair[0] != "X-Amz-Signature"]
        elif authorization:
            raise BadRequest("only AWS Signature Version 4 is taken here (AWS4-HMAC-SHA256)").as_s3("InvalidRequest")
        else:
            query = dict(pairs)
            if sigv2.is_presigned_v2(query):
                return self._presigned_v2(method, raw_path, raw_query, headers, query, mode, address)
            return Caller(None, mode)
        if mode == "off":  # takes any signature: nothing is checked, chunk signatures neither
            return Caller(None, mode)
        now = self._not_throttled(address)
        self._check_time(claim)
        _check_coverage(claim, headers)
        token = self._token(claim.access_key, address, now, counted)
        key = self._signing_key(claim.access_key, claim.day, claim.region, claim.service)
        signed = _signed_either_way(raw_path, claim.signature, lambda path: expected_signature(
            key, claim, method, path, signed_pairs, headers, payload)[0])
        if not signed:
            _, canonical, to_sign = expected_signature(key, claim, method, raw_path, signed_pairs, headers, payload)
            log.debug("SignatureDoesNotMatch; canonical request:\n%s\nstring to sign:\n%s", canonical, to_sign)
            if counted:
                self.failures.add(address, now)
            raise _mismatch(claim.access_key, claim.signature, to_sign, ("CanonicalRequest", canonical))
        return Caller(token.scopes, mode, token.name, key, claim, stated, principal=token)

    def _presigned_v2(self, method: str, raw_path: str, raw_query: str, headers, query, mode: str,
                      address: str) -> Caller:
        """A presigned URL of Signature Version 2 (``wire.sigv2``): good
        until its ``Expires``, at most ``MAX_EXPIRES`` from now, as a SigV4
        one; its body is taken as unsigned (SigV2 signs none), checked
        against what its (signed) ``x-amz-content-sha256`` states."""
        try:
            claim = sigv2.read_presigned_v2(query)
        except BadRequest as error:
            raise error.as_s3("AuthorizationQueryParametersError") from None
        if mode == "off":
            return Caller(None, mode)
        now = self._not_throttled(address)
        if now > claim.expires:
            raise Forbidden("the presigned URL expired").as_s3("AccessDenied")
        if claim.expires - now > MAX_EXPIRES + MAX_SKEW:
            raise BadRequest("a presigned URL is good for at most %d seconds" % MAX_EXPIRES
                             ).as_s3("AuthorizationQueryParametersError")
        token = self._token(claim.access_key, address, now)
        secret = self._secret(claim.access_key)
        if not _signed_either_way(raw_path, claim.signature, lambda path: sigv2.expected(
                secret, method, path, raw_query, headers, claim)[0]):
            self.failures.add(address, now)
            to_sign = sigv2.expected(secret, method, raw_path, raw_query, headers, claim)[1]
            raise _mismatch(claim.access_key, claim.signature, to_sign)
        return Caller(token.scopes, mode, token.name, payload=headers.get("x-amz-content-sha256") or "UNSIGNED-PAYLOAD",
                      principal=token)

    def form_caller(self, fields, mode: str, address: str) -> Caller:
        """Who sent an upload from an HTML form (``fields``: its fields
        before the file, lower-case names): the key that signed its
        ``policy``, with SigV4 (``x-amz-algorithm``, ``x-amz-credential``,
        ``x-amz-date``, ``x-amz-signature``: the hex HMAC-SHA256 of the
        policy under the day's signing key) or SigV2 (``AWSAccessKeyId``,
        ``signature``: the base64 HMAC-SHA1 under the secret). No policy: no
        signature (``Caller(None)``). The policy's own terms are the
        form's to judge (``post_policy``): what it signs is only the policy."""
        policy = fields.get("policy")
        if policy is None:
            if any(name in fields for name in ("signature", "x-amz-signature", "awsaccesskeyid")):
                raise BadRequest("a form that carries a signature carries the policy it signs"
                                 ).as_s3("InvalidArgument")
            return Caller(None, mode)
        v4 = "x-amz-signature" in fields or "x-amz-algorithm" in fields
        if v4:
            if (fields.get("x-amz-algorithm") or "") != ALGORITHM:
                raise BadRequest("x-amz-algorithm is %s, the one algorithm taken here" % ALGORITHM
                                 ).as_s3("InvalidArgument")
            missing = [name for name in ("x-amz-credential", "x-amz-date", "x-amz-signature") if not fields.get(name)]
            if missing:
                raise BadRequest("a form signed with SigV4 carries %s" % ", ".join(missing)).as_s3("InvalidArgument")
            try:
                access_key, day, region, service = credential(fields["x-amz-credential"])
            except BadRequest as error:
                raise error.as_s3("InvalidArgument") from None
            if not fields["x-amz-date"].startswith(day) or service != "s3":
                raise BadRequest("x-amz-credential is for another day or service than x-amz-date and s3"
                                 ).as_s3("InvalidArgument")
            given = fields["x-amz-signature"]
        else:
            missing = [name for name, field in (("AWSAccessKeyId", "awsaccesskeyid"), ("signature", "signature"))
                       if not fields.get(field)]
            if missing:
                raise BadRequest("a form with a policy carries its signature: %s" % ", ".join(missing)
                                 ).as_s3("InvalidArgument")
            access_key, given = fields["awsaccesskeyid"], fields["signature"]
        if mode == "off":
            return Caller(None, mode)
        now = self._not_throttled(address)
        token = self._token(access_key, address, now)
        expected = (signature(self._signing_key(access_key, day, region, service), policy) if v4
                    else sigv2.signature(self._secret(access_key), policy))
        if not matches(expected, given.strip()):
            self.failures.add(address, now)
            raise _mismatch(access_key, given, policy)
        return Caller(token.scopes, mode, token.name, principal=token)

    def _secret(self, access_key: str) -> str:
        """The secret of ``access_key`` (a key its token was found for)."""
        return self._derived(("secret", access_key), lambda: secret_of(self._server_key, access_key))

    def _signing_key(self, access_key: str, day: str, region: str, service: str) -> bytes:
        """SigV4's key of one day, region and service for ``access_key`` (a
        key its token was found for)."""
        return self._derived((access_key, day, region, service),
                             lambda: signing_key(self._secret(access_key), day, region, service))

    def _derived(self, name: tuple, derive: Callable[[], Any]) -> Any:
        """A key derived from the server key, kept: deriving one takes five
        HMACs, a twentieth of a small PUT's CPU, and a client signs day
        after day with the same one. Only keys of tokens that exist get
        here (an unknown key is refused before), and the store is emptied
        whole when full, so it stays small whatever is sent."""
        found = self._keys.get(name)
        if found is None:
            if len(self._keys) >= MAX_DERIVED:
                self._keys.clear()
            found = self._keys[name] = derive()
        return found

    def _not_throttled(self, address: str) -> float:
        """Now, unless ``address`` sent too many wrong signatures lately
        (``TooManyRequests``, SlowDown)."""
        now = self.clock()
        retry = self.failures.retry_after(address, now)
        if retry is not None:
            raise TooManyRequests(retry, "too many wrong signatures from %s; retry in %d s" % (address, retry)
                                  ).as_s3("SlowDown")
        return now

    def _token(self, access_key: str, address: str, now: float, counted: bool = True):
        """The token or user of ``access_key``; ``Forbidden`` (InvalidAccessKeyId),
        counted against ``address`` (if ``counted``), if there is none."""
        token = self.tokens.find_s3(access_key) or (self.users.by_s3_key(access_key) if self.users else None)
        if token is None:
            if counted:
                self.failures.add(address, now)
            raise Forbidden("the access key %s does not exist here (or was revoked)" % access_key[:40]
                            ).as_s3("InvalidAccessKeyId", ("AWSAccessKeyId", access_key[:40]))
        return token

    def _check_time(self, claim: Claim) -> None:
        signed_at = _signed_at(claim.stamp)
        now = self.clock()
        if claim.presigned:
            if claim.expires is None or not 1 <= claim.expires <= MAX_EXPIRES:
                raise BadRequest("X-Amz-Expires must be 1 to %d seconds" % MAX_EXPIRES
                                 ).as_s3("AuthorizationQueryParametersError")
            if now > signed_at + claim.expires:
                raise Forbidden("the presigned URL expired").as_s3("AccessDenied")
            if signed_at - now > MAX_SKEW:
                raise Forbidden("the presigned URL is signed in the future").as_s3("RequestTimeTooSkewed")
        elif abs(now - signed_at) > MAX_SKEW:
            raise Forbidden("the request was signed %d s off this server's time: at most %d s (check the clock)"
                            % (abs(now - signed_at), MAX_SKEW)).as_s3("RequestTimeTooSkewed")
        if claim.service != "s3":
            raise Forbidden("the request is signed for the service %r, not s3" % claim.service[:40]
                            ).as_s3("SignatureDoesNotMatch")


# What a presigned URL's holder may state of the body without signing it:
# these only describe (and narrow) the bytes it may send anyway, and each is
# checked against them (``payloads``).
PAYLOAD_HEADERS = frozenset(("x-amz-content-sha256", "x-amz-decoded-content-length", "x-amz-trailer",
                             "x-amz-sdk-checksum-algorithm"))


def _check_coverage(claim: Claim, headers) -> None:
    """Refuse a request whose signature leaves out what S3 requires it to
    cover: ``host``, and every ``x-amz-*`` header sent (a presigned URL may
    add the ones that only describe its body, ``PAYLOAD_HEADERS`` and the
    checksums). Whatever is obeyed was signed: an unsigned
    ``x-amz-copy-source`` must never turn a presigned PUT into a copy."""
    signed = set(claim.signed_headers)
    if "host" not in signed:
        raise Forbidden("the signature must cover the host header").as_s3("AccessDenied")
    unsigned = sorted(set(headers.starting("x-amz-")) - signed)
    if claim.presigned:
        unsigned = [name for name in unsigned
                    if name not in PAYLOAD_HEADERS and not name.startswith("x-amz-checksum-")]
    if unsigned:
        raise Forbidden("There were headers present in the request which were not signed").as_s3(
            "AccessDenied", ("HeadersNotSigned", ", ".join(unsigned)[:1024]))


def _signed_either_way(raw_path: str, given: str, sign: Callable[[str], str]) -> bool:
    """Whether ``given`` is ``sign(path)`` for the path as it was sent, or
    as S3 itself writes it: some clients leave characters S3 would encode
    as they are, and sign them so."""
    if matches(sign(raw_path), given):
        return True
    alternative = uri_encode(unquote(raw_path), keep_slash=True)
    return alternative != raw_path and matches(sign(alternative), given)


def _mismatch(access_key: str, given: str, to_sign: str, *extra: Tuple[str, str]) -> Forbidden:
    """SignatureDoesNotMatch, with what the daemon took to be signed, as S3 answers it."""
    error = Forbidden("the signature does not match: check the secret key and how the request is signed")
    error.as_s3("SignatureDoesNotMatch", ("AWSAccessKeyId", access_key), ("StringToSign", to_sign),
                ("SignatureProvided", given), *extra)
    return error


def may(caller: Caller, need: Need) -> bool:
    """Whether ``caller`` meets ``need`` (under its mode)."""
    mode = caller.mode
    if mode == "off" or (mode == "writes" and need.public):
        return True
    signed = caller.scopes is not None
    return ((signed and (caller.principal.allows(need.scope)
                         if caller.principal is not None else grants(caller.scopes, need.scope)))
            or (bool(caller.acl_scopes) and grants(caller.acl_scopes, need.scope)))


def allow(caller: Caller, need: Need, also: Optional[str] = None) -> None:
    """Let the request go on only if ``caller`` meets ``need`` (under its
    mode); ``Forbidden`` (AccessDenied) otherwise, saying ``also`` too
    (what else was asked: a bucket policy)."""
    if may(caller, need):
        return
    more = ", and %s" % also if also else ""
    if caller.scopes is None:
        raise Forbidden("this request needs a signature (the access key of a token with %s)%s" % (need.scope, more)
                        ).as_s3("AccessDenied")
    if isinstance(caller.principal, User):
        raise Forbidden("%s%s" % (lacks(caller.principal, need.scope), more)).as_s3("AccessDenied")
    raise Forbidden("the token %r lacks the scope %s%s" % (caller.name, need.scope, more)).as_s3("AccessDenied")



def allow_user(caller: Caller, need: Need, action: str, bucket: Optional[str], key: Optional[str]) -> None:
    """Let a user's request go on only if a canned ACL lets anyone do it
    (``caller.acl_scopes``), since no policy allowed ``action`` on the
    bucket or its key (a Deny was refused before); ``Forbidden``
    (AccessDenied) saying so otherwise."""
    if caller.acl_scopes and grants(caller.acl_scopes, need.scope):
        return
    where = "*" if bucket is None else "arn:aws:s3:::%s%s" % (bucket, "/" + key if key is not None else "")
    raise Forbidden("no policy of the user %r allows %s on %s" % (caller.name, action, where)).as_s3("AccessDenied")


@lru_cache(maxsize=1024)
def _signed_at(stamp: str) -> float:
    """An ``x-amz-date`` (``YYYYMMDDTHHMMSSZ``, its digits checked already)
    as a timestamp; ``Forbidden`` (AccessDenied) for a date that is none,
    such as a 13th month (was a 500). Read by hand: ``time.strptime`` cost a
    tenth of a millisecond of every signed request; kept, as requests
    signed in the same second share their stamp (the ``datetime`` made
    for it was a seventh of checking a signature)."""
    try:
        when = datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]),
                        int(stamp[13:15]), tzinfo=timezone.utc)
    except ValueError:
        raise Forbidden("x-amz-date %s is not a date" % stamp[:20]).as_s3("AccessDenied") from None
    return when.timestamp()
