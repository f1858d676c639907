"""AWS Signature Version 4 for S3, with ``hmac`` and ``hashlib``.

The pitfalls, each one a failed request if missed: ``Host`` is signed
exactly as sent (with a port that is not the scheme's default);
``x-amz-content-sha256`` is always sent and signed; ``Transfer-Encoding`` is
never signed; keys are URI-encoded by S3's own rules (every byte but
``A-Z a-z 0-9 - . _ ~``, and ``/`` kept in the path), which are not
``urllib``'s defaults.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timezone
from typing import Dict, Mapping, Optional
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
log = logging.getLogger(__name__)
_SAFE = "-._~"


def uri_encode(text: str, keep_slash: bool) -> str:
    return quote(text, safe=_SAFE + ("/" if keep_slash else ""))


def canonical_query(query: Mapping[str, str]) -> str:
    """The query as signed and sent: each name and value URI-encoded, sorted
    by the encoded name (SigV4 sorts what is sent, not what was meant)."""
    return "&".join("%s=%s" % pair for pair in sorted((uri_encode(k, False), uri_encode(v, False))
                                                      for k, v in query.items()))


class Signer:
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
        URI-encoded. In SigV4's named steps, the first two logged at DEBUG (as
        botocore does): what a store that answers ``SignatureDoesNotMatch``
        computed differently is there to compare."""
        stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()
                  if name.lower() != "transfer-encoding"}
        signed.update({"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256})
        canonical = self.canonical_request(method, path, query, signed, payload_sha256)
        log.debug("canonical request:\n%s", canonical)
        scope = "%s/%s/%s/aws4_request" % (stamp[:8], self.region, self.service)
        to_sign = self.string_to_sign(stamp, scope, canonical)
        log.debug("string to sign:\n%s", to_sign)
        out = dict(headers)
        out.update({"Host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256,
                    "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                    % (self.access_key, scope, ";".join(sorted(signed)), self.signature(stamp[:8], to_sign))})
        return out

    @staticmethod
    def canonical_request(method: str, path: str, query: Mapping[str, str], signed: Mapping[str, str],
                          payload_sha256: str) -> str:
        """Step 1: the request as the store will rebuild it (``signed``: the
        headers to sign, lower-case names, values with spaces folded)."""
        names = sorted(signed)
        return "\n".join([method, path, canonical_query(query),
                          "".join("%s:%s\n" % (name, signed[name]) for name in names), ";".join(names),
                          payload_sha256])

    @staticmethod
    def string_to_sign(stamp: str, scope: str, canonical: str) -> str:
        """Step 2: the algorithm, the time, the scope and the canonical request's digest."""
        return "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])

    def signature(self, day: str, to_sign: str) -> str:
        """Step 3: HMAC-SHA256 of the string to sign, with a key derived from
        the secret through the day, the region, the service and ``aws4_request``."""
        key = ("AWS4" + self._secret).encode()
        for part in (day, self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
