"""AWS Signature Version 4 for S3, with ``hmac`` and ``hashlib``: one module
that signs (the S3 backend's requests to its store) and checks (what S3
clients send the daemon's own S3 API), through the same named steps:
``canonical_request``, ``string_to_sign``, ``signing_key`` (the one key
derivation) and ``signature``; and the signatures of an ``aws-chunked``
body's chunks and trailer, which chain from the request's own.

The pitfalls, each one a failed request if missed: ``Host`` is signed
exactly as sent (with a port that is not the scheme's default);
``x-amz-content-sha256`` is always sent and signed; ``Transfer-Encoding`` is
never signed; keys are URI-encoded by S3's own rules (every byte but
``A-Z a-z 0-9 - . _ ~``, and ``/`` kept in the path), which are not
``urllib``'s defaults; the query is signed sorted by its encoded names.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote, unquote

from ..base.held_hashing import hmac_sha256
from ..errors import BadRequest

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
log = logging.getLogger(__name__)
_SAFE = "-._~"
_CREDENTIAL = re.compile(r"([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_STAMP = re.compile(r"\d{8}T\d{6}Z")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
# The Authorization header as every client writes it: read by one match
# (a dozen lines of Python fewer a request); any other spelling S3 takes
# (fields in another order, more white space) is read field by field.
_AUTHORIZATION = re.compile(ALGORITHM + r" Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,"
                            r" ?SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), ?Signature=([0-9a-f]{64})")


def uri_encode(text: str, keep_slash: bool) -> str:
    return quote(text, safe=_SAFE + ("/" if keep_slash else ""))


def canonical_query(query: Mapping[str, str]) -> str:
    """The query as signed and sent: each name and value URI-encoded, sorted
    by the encoded name (SigV4 sorts what is sent, not what was meant)."""
    return canonical_pairs(query.items())


def canonical_pairs(pairs: Iterable[Tuple[str, str]]) -> str:
    """``canonical_query`` of decoded ``(name, value)`` pairs, repeated names
    included (sorted by name, then value)."""
    return "&".join("%s=%s" % pair for pair in sorted((uri_encode(k, False), uri_encode(v, False))
                                                      for k, v in pairs))


def canonical_request(method: str, path: str, query: str, signed: Mapping[str, str], payload_sha256: str) -> str:
    """Step 1: the request as the other side rebuilds it. ``path``: URI-encoded;
    ``query``: already canonical (``canonical_pairs``); ``signed``: the headers
    to sign, lower-case names, values with white space folded."""
    names = sorted(signed)
    lines = "".join(["%s:%s\n" % (name, signed[name]) for name in names])  # a list: no generator's calls
    return "\n".join([method, path, query, lines, ";".join(names), payload_sha256])


def string_to_sign(stamp: str, scope: str, canonical: str) -> str:
    """Step 2: the algorithm, the time, the scope and the canonical request's digest."""
    return "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """Step 3: the key of one day, region and service, derived from the
    secret (the only key derivation, for signing and checking alike)."""
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac_sha256(key, part.encode())
    return key


def signature(key: bytes, to_sign: str) -> str:
    """Step 4: HMAC-SHA256 of the string to sign under the derived key
    (holding the GIL: see ``base.held_hashing``; a chunked upload signs
    every chunk)."""
    return hmac_sha256(key, to_sign.encode()).hex()


def folded(value: str) -> str:
    """A header value as it is signed: trimmed, inner white space runs as one space."""
    return " ".join(str(value).split())


def chunk_signature(key: bytes, stamp: str, scope: str, previous: str, chunk_sha256: str) -> str:
    """The signature of one ``aws-chunked`` chunk (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``):
    chained from the previous chunk's (the first from the request's own)."""
    return signature(key, "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, previous, EMPTY_SHA256,
                                     chunk_sha256]))


def trailer_signature(key: bytes, stamp: str, scope: str, previous: str, trailer: bytes) -> str:
    """The signature of an ``aws-chunked`` body's trailing headers (each
    ``name:value\\n``), chained from the last chunk's."""
    return signature(key, "\n".join(["AWS4-HMAC-SHA256-TRAILER", stamp, scope, previous,
                                     hashlib.sha256(trailer).hexdigest()]))


class Signer:
    """Signs requests with one key pair (the S3 backend's client)."""

    def __init__(self, access_key: str, secret_key: str, region: str, service: str = "s3") -> None:
        self.access_key = access_key
        self._secret = secret_key
        self.region = region
        self.service = service

    def __repr__(self) -> str:  # never the secret, not even in a traceback's locals
        return "Signer(%s, %s)" % (self.access_key, self.region)

    def sign(self, method: str, host: str, path: str, query: Mapping[str, str], headers: Dict[str, str],
             payload_sha256: str, now: Optional[datetime] = None) -> Dict[str, str]:
        """The headers to send: ``headers`` plus ``Host``, ``x-amz-date``,
        ``x-amz-content-sha256`` and ``Authorization``. ``path`` is already
        URI-encoded. The first two steps are logged at DEBUG (as botocore
        does): what a store that answers ``SignatureDoesNotMatch`` computed
        differently is there to compare."""
        stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        signed = {name.lower(): folded(value) for name, value in headers.items()
                  if name.lower() != "transfer-encoding"}
        signed.update({"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256})
        canonical = canonical_request(method, path, canonical_query(query), signed, payload_sha256)
        log.debug("canonical request:\n%s", canonical)
        scope = "%s/%s/%s/aws4_request" % (stamp[:8], self.region, self.service)
        to_sign = string_to_sign(stamp, scope, canonical)
        log.debug("string to sign:\n%s", to_sign)
        key = signing_key(self._secret, stamp[:8], self.region, self.service)
        out = dict(headers)
        out.update({"Host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256,
                    "Authorization": "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                    % (ALGORITHM, self.access_key, scope, ";".join(sorted(signed)), signature(key, to_sign))})
        return out


@dataclass(frozen=True)
class Claim:
    """What a signed request says of itself: who signed it (``access_key``),
    for which day, region and service, when (``stamp``), which headers, and
    the signature to check; from the ``Authorization`` header or, for a
    presigned URL, from the query (``expires``: seconds it is good for)."""

    access_key: str
    day: str
    region: str
    service: str
    stamp: str
    signed_headers: Tuple[str, ...]
    signature: str
    presigned: bool = False
    expires: Optional[int] = None

    @property
    def scope(self) -> str:
        return "%s/%s/%s/aws4_request" % (self.day, self.region, self.service)


def credential(text: str) -> Tuple[str, str, str, str]:
    """``(access key, day, region, service)`` of ``ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request``."""
    found = _CREDENTIAL.fullmatch(text)
    if found is None:
        raise BadRequest("the credential is not ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request")
    return found.group(1), found.group(2), found.group(3), found.group(4)


def _signed_headers(text: str) -> Tuple[str, ...]:
    names = tuple(text.split(";"))
    if not text or "" in names or text != text.lower():  # a name empty, or one not lower-case
        raise BadRequest("SignedHeaders is not a ';'-separated list of lower-case header names")
    return names


def read_authorization(value: str, stamp: Optional[str]) -> Claim:
    """The claim of an ``Authorization: AWS4-HMAC-SHA256 Credential=...,
    SignedHeaders=..., Signature=...`` header; ``stamp``: its ``x-amz-date``
    (or ``Date``, as ``YYYYMMDDTHHMMSSZ``). ``BadRequest`` if malformed."""
    usual = _AUTHORIZATION.fullmatch(value)
    if usual is not None and stamp is not None and _STAMP.fullmatch(stamp):
        access_key, day, region, service, names, given = usual.groups()
        return Claim(access_key, day, region, service, stamp, tuple(names.split(";")), given)
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise BadRequest("only %s signatures are taken here" % ALGORITHM)
    fields: Dict[str, str] = {}
    for part in rest.split(","):
        name, sep, text = part.strip().partition("=")
        if sep:
            fields[name] = text.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise BadRequest("the Authorization header lacks %s" % ", ".join(missing))
    if stamp is None or not _STAMP.fullmatch(stamp):
        raise BadRequest("a signed request needs x-amz-date as YYYYMMDDTHHMMSSZ")
    access_key, day, region, service = credential(fields["Credential"])
    if not _HEX_SIGNATURE.fullmatch(fields["Signature"]):
        raise BadRequest("the signature is not 64 lower-case hex digits")
    return Claim(access_key, day, region, service, stamp, _signed_headers(fields["SignedHeaders"]),
                 fields["Signature"])


def read_presigned(query: Mapping[str, str]) -> Claim:
    """The claim of a presigned URL's ``X-Amz-*`` query parameters;
    ``BadRequest`` if one is missing or malformed."""
    missing = [name for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders",
                                 "X-Amz-Signature") if name not in query]
    if missing:
        raise BadRequest("a presigned URL needs %s" % ", ".join(missing))
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise BadRequest("only %s signatures are taken here" % ALGORITHM)
    if not _STAMP.fullmatch(query["X-Amz-Date"]):
        raise BadRequest("X-Amz-Date is not YYYYMMDDTHHMMSSZ")
    expires_text = query.get("X-Amz-Expires", "")
    if not (expires_text.isascii() and expires_text.isdigit()) or len(expires_text) > 9:
        raise BadRequest("X-Amz-Expires is not a whole number of seconds")
    if not _HEX_SIGNATURE.fullmatch(query["X-Amz-Signature"]):
        raise BadRequest("the signature is not 64 lower-case hex digits")
    access_key, day, region, service = credential(query["X-Amz-Credential"])
    return Claim(access_key, day, region, service, query["X-Amz-Date"], _signed_headers(query["X-Amz-SignedHeaders"]),
                 query["X-Amz-Signature"], presigned=True, expires=int(expires_text))


def query_pairs(raw_query: str) -> List[Tuple[str, str]]:
    """The decoded ``(name, value)`` pairs of a raw query string, in order,
    empty values and names without ``=`` kept (``?uploads`` signs as ``uploads=``)."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def expected_signature(key: bytes, claim: Claim, method: str, path: str, pairs: Sequence[Tuple[str, str]],
                       headers, payload_sha256: str) -> Tuple[str, str, str]:
    """``(signature, canonical request, string to sign)`` that ``claim``
    should carry, for the request as received: ``path`` raw (URI-encoded as
    sent), ``pairs`` its decoded query (a presigned URL's signature left
    out here), ``headers`` its headers (the signed ones must be present:
    ``BadRequest`` otherwise)."""
    signed = {}
    for name in claim.signed_headers:
        value = headers.get(name)
        if value is None:
            raise BadRequest("the signed header %s is not in the request" % name)
        signed[name] = " ".join(value.split())  # ``folded``, without a call a header
    canonical = canonical_request(method, path, canonical_pairs(pairs) if pairs else "", signed, payload_sha256)
    to_sign = string_to_sign(claim.stamp, claim.scope, canonical)
    return signature(key, to_sign), canonical, to_sign


def matches(expected: str, given: str) -> bool:
    """Signatures compared in constant time."""
    return hmac.compare_digest(expected.encode(), given.encode())
