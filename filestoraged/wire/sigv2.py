"""AWS Signature Version 2 in a presigned URL's query (``AWSAccessKeyId``,
``Expires``, ``Signature``): what boto3's ``generate_presigned_url`` makes
with a custom endpoint unless it is told ``signature_version='s3v4'``;
and the policy of an upload from an HTML form signed the same way
(``signature`` of the policy's base64). Checked here, never made:
everything this daemon signs is SigV4 (``wire.sigv4``).

The string signed is S3's: the method, ``Content-MD5``, ``Content-Type``,
``Expires``, the ``x-amz-*`` headers (lowercase, sorted, values joined by
commas), then the path as it was sent and the sub-resources among the
query's (sorted, their values decoded: ``?uploadId=…&partNumber=…``,
``response-content-type=…``). The signature is the base64 of its HMAC-SHA1
under the key's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping, Tuple
from urllib.parse import unquote

from ..errors import BadRequest

# Query parameters that are part of what is signed, as S3 and botocore list them.
SUBRESOURCES = frozenset((
    "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory", "lifecycle", "location",
    "logging", "metrics", "notification", "object-lock", "partNumber", "policy", "replication", "requestPayment",
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore", "select", "select-type",
    "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
))
_FIELDS = ("AWSAccessKeyId", "Expires", "Signature")


@dataclass(frozen=True)
class PresignedV2:
    access_key: str
    expires: int  # seconds since the epoch
    signature: str  # base64


def is_presigned_v2(query: Mapping[str, str]) -> bool:
    return "Signature" in query and "AWSAccessKeyId" in query


def read_presigned_v2(query: Mapping[str, str]) -> PresignedV2:
    """The claim of a presigned URL's query; ``BadRequest`` if a part is
    missing or ``Expires`` is not a time."""
    missing = [name for name in _FIELDS if not query.get(name)]
    if missing:
        raise BadRequest("a presigned URL of Signature Version 2 needs %s" % ", ".join(missing))
    expires = query["Expires"].strip()
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
        raise BadRequest("Expires is a time in seconds since the epoch")
    return PresignedV2(query["AWSAccessKeyId"], int(expires), query["Signature"])


def string_to_sign(method: str, raw_path: str, raw_query: str, headers, expires: int) -> str:
    """What the client signed, from the request as it came (``raw_path``
    and ``raw_query`` undecoded)."""
    amz = {name.lower(): value.strip() for name, value in headers.items() if name.lower().startswith("x-amz-")}
    lines = [method, (headers.get("Content-MD5") or "").strip(), (headers.get("Content-Type") or "").strip(),
             str(expires)]
    lines += ["%s:%s" % (name, amz[name]) for name in sorted(amz)]
    return "\n".join(lines) + "\n" + raw_path + _subresources(raw_query)


def signature(secret: str, to_sign: str) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1).digest()
                            ).decode("ascii")


def _subresources(raw_query: str) -> str:
    """``?name=value&…`` of the sub-resources, sorted by name, values
    decoded (a name sent without ``=`` stays bare, as botocore signs it)."""
    found = []
    for part in raw_query.split("&"):
        name, equals, value = part.partition("=")
        if name in SUBRESOURCES:
            found.append((name, name + equals + unquote(value)))
    if not found:
        return ""
    found.sort(key=lambda item: item[0])
    return "?" + "&".join(text for _, text in found)


def expected(secret: str, method: str, raw_path: str, raw_query: str, headers, claim: PresignedV2
             ) -> Tuple[str, str]:
    """``(signature, string to sign)`` the request should carry."""
    to_sign = string_to_sign(method, raw_path, raw_query, headers, claim.expires)
    return signature(secret, to_sign), to_sign
