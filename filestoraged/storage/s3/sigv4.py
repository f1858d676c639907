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
from datetime import datetime, timezone
from typing import Dict, Mapping, Optional
from urllib.parse import quote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SAFE = "-._~"


def uri_encode(text: str, keep_slash: bool) -> str:
    return quote(text, safe=_SAFE + ("/" if keep_slash else ""))


def canonical_query(query: Mapping[str, str]) -> str:
    return "&".join("%s=%s" % (uri_encode(k, False), uri_encode(v, False)) for k, v in sorted(query.items()))


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
        URI-encoded."""
        now = now or datetime.now(timezone.utc)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()
                  if name.lower() != "transfer-encoding"}
        signed.update({"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256})
        names = sorted(signed)
        canonical = "\n".join([method, path, canonical_query(query),
                               "".join("%s:%s\n" % (name, signed[name]) for name in names),
                               ";".join(names), payload_sha256])
        scope = "%s/%s/%s/aws4_request" % (day, self.region, self.service)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self._secret).encode()
        for part in (day, self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out = dict(headers)
        out.update({"Host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256,
                    "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                    % (self.access_key, scope, ";".join(names), signature)})
        return out
