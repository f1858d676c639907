"""A SigV4 signer written from AWS's documentation ("Signature Version 4
signing process", "Authenticating Requests: Using Query Parameters"),
independent of ``filestoraged.wire.sigv4``: a test that signs with the
daemon's own steps cannot find a mistake both sides share.

It signs exactly the headers it is told to sign, so a test can add headers
the signature does not cover, or leave ``host`` out.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def aws_encode(text: str, slash: bool = False) -> str:
    """URI-encode as the documentation's UriEncode(): every byte but the
    unreserved ones as %XY, upper-case hex; '/' kept in a path."""
    out = []
    for byte in text.encode("utf-8"):
        if byte in UNRESERVED or (slash and byte == 0x2F):
            out.append(chr(byte))
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


class AwsSigner:
    """One key pair, one region; ``host`` is what the request's Host says."""

    def __init__(self, access_key: str, secret: str, host: str, region: str = "us-east-1") -> None:
        self.access_key, self.secret, self.host, self.region = access_key, secret, host, region

    def _key(self, day: str) -> bytes:
        key = _hmac(("AWS4" + self.secret).encode("utf-8"), day)
        key = _hmac(key, self.region)
        key = _hmac(key, "s3")
        return _hmac(key, "aws4_request")

    def _signature(self, stamp: str, method: str, path: str, query: Sequence[Tuple[str, str]],
                   headers: Mapping[str, str], signed: Sequence[str], payload: str) -> str:
        canonical_query = "&".join("%s=%s" % pair for pair in sorted(
            (aws_encode(name), aws_encode(value)) for name, value in query))
        lowered = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
        names = sorted(name.lower() for name in signed)
        canonical = "\n".join([method, aws_encode(path, slash=True), canonical_query,
                               "".join("%s:%s\n" % (name, lowered[name]) for name in names),
                               ";".join(names), payload])
        scope = "%s/%s/s3/aws4_request" % (stamp[:8], self.region)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                             hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
        return hmac.new(self._key(stamp[:8]), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    def headers(self, method: str, path: str, query: Iterable[Tuple[str, str]] = (),
                headers: Optional[Mapping[str, str]] = None, signed: Optional[Sequence[str]] = None,
                payload: str = "UNSIGNED-PAYLOAD", now: Optional[datetime] = None) -> Dict[str, str]:
        """The request's headers with ``Authorization``: ``headers`` plus
        Host, x-amz-date and x-amz-content-sha256; ``signed`` names those
        signed (every one of them by default)."""
        stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        out = dict(headers or {})
        out.update({"Host": self.host, "x-amz-date": stamp, "x-amz-content-sha256": payload})
        names = list(signed) if signed is not None else [name.lower() for name in out]
        signature = self._signature(stamp, method, path, list(query), out, names, payload)
        out["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, SignedHeaders=%s, Signature=%s" \
            % (self.access_key, stamp[:8], self.region, ";".join(sorted(name.lower() for name in names)), signature)
        return out

    def presigned_query(self, method: str, path: str, query: Iterable[Tuple[str, str]] = (), expires: int = 300,
                        headers: Optional[Mapping[str, str]] = None, signed: Sequence[str] = ("host",),
                        now: Optional[datetime] = None) -> str:
        """The query string of a presigned URL (its payload UNSIGNED-PAYLOAD),
        signing ``signed`` of ``headers`` (plus Host)."""
        stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        pairs = list(query) + [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "%s/%s/%s/s3/aws4_request" % (self.access_key, stamp[:8], self.region)),
            ("X-Amz-Date", stamp), ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", ";".join(sorted(name.lower() for name in signed)))]
        all_headers = dict(headers or {}, Host=self.host)
        signature = self._signature(stamp, method, path, pairs, all_headers, signed, "UNSIGNED-PAYLOAD")
        return "&".join("%s=%s" % (aws_encode(name), aws_encode(value)) for name, value in pairs
                        ) + "&X-Amz-Signature=" + signature
