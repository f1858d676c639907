"""The policy of an upload from an HTML form (S3's POST Object): a base64
JSON document, signed by the form's key, that says until when the form is
good (``expiration``) and what each field of the form may hold
(``conditions``).

The signature covers the policy, not the fields, so the policy must cover
every field the upload obeys: a field that no condition names is refused
(``Extra input fields``), as S3 refuses it, except the ones that are the
signature itself, the file, ``x-ignore-*``, and the checksums of the file
(``x-amz-checksum-*``: they only narrow what is taken, as on a presigned
URL, and each is checked). The bucket the form posts
to is a field too (S3's ``{"bucket": …}`` condition is required).

Conditions, their names taken in any case as S3 takes them:
``{"field": "value"}`` and ``["eq", "$field", "value"]`` (exact),
``["starts-with", "$field", "prefix"]`` (``""``: anything), and
``["content-length-range", least, most]`` (the file's size, in bytes).
A document that does not read is ``400 InvalidPolicyDocument``; a form
that breaks it, ``403 AccessDenied`` (``Invalid according to Policy``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import List, Mapping, Optional, Tuple

from ..base.json_text import bounded
from ..errors import BadRequest, Forbidden

MAX_POLICY = 20 * 1024  # bytes of a policy field, as S3 allows
# Fields no condition needs to name: the signature and what carries it, the file.
EXEMPT = frozenset(("policy", "signature", "awsaccesskeyid", "x-amz-signature", "file"))
UNSIGNED_PREFIXES = ("x-ignore-", "x-amz-checksum-")
_EXPIRATION = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z")


@dataclass(frozen=True)
class Condition:
    """One condition: ``how`` (``eq``, ``starts-with``) the field ``name``
    (lower case) must match ``value``."""

    how: str
    name: str
    value: str

    def holds(self, fields: Mapping[str, str]) -> bool:
        given = fields.get(self.name)
        if given is None:
            return False
        return given == self.value if self.how == "eq" else given.startswith(self.value)

    def __str__(self) -> str:
        return '["%s", "$%s", "%s"]' % (self.how, self.name, self.value[:80])


@dataclass(frozen=True)
class Policy:
    expires: float
    conditions: Tuple[Condition, ...]
    size_range: Optional[Tuple[int, int]]  # the file's least and most bytes, where a condition gives them

    def judge(self, fields: Mapping[str, str], now: float) -> None:
        """Refuse the form (``fields``: lower-case names, the bucket among
        them) where it breaks this policy (``Forbidden``, AccessDenied)."""
        if now > self.expires:
            raise _breach("Policy expired.")
        for condition in self.conditions:
            if not condition.holds(fields):
                raise _breach("Policy Condition failed: %s" % condition)
        named = {condition.name for condition in self.conditions}
        extra = sorted(name for name in fields
                       if name not in named and name not in EXEMPT and not name.startswith(UNSIGNED_PREFIXES))
        if extra:
            raise _breach("Extra input fields: %s" % ", ".join(name[:60] for name in extra[:5]))


def read_policy(encoded: str) -> Policy:
    """The policy of a form's ``policy`` field; ``BadRequest``
    (InvalidPolicyDocument) where it does not read."""
    if len(encoded) > MAX_POLICY * 4 // 3 + 4:
        raise _malformed("the policy is over %d bytes" % MAX_POLICY)
    try:
        document = bounded(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError):
        raise _malformed("the policy is not base64 of a JSON document") from None
    if not isinstance(document, dict):
        raise _malformed("the policy is a JSON object")
    expiration = document.get("expiration")
    if not isinstance(expiration, str):
        raise _malformed("the policy has no expiration")
    found = _EXPIRATION.fullmatch(expiration)
    if found is None:
        raise _malformed("the policy's expiration is not an ISO 8601 time in UTC (2030-01-01T00:00:00Z)")
    try:
        expires = datetime(*(int(part) for part in found.groups()), tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise _malformed("the policy's expiration is not a time") from None
    written = document.get("conditions")
    if not isinstance(written, list):
        raise _malformed("the policy has no conditions list")
    conditions: List[Condition] = []
    size_range = None
    for item in written:
        if isinstance(item, list) and item and isinstance(item[0], str) and item[0].lower() == "content-length-range":
            size_range = _size_range(item)
        else:
            conditions.append(_condition(item))
    return Policy(expires, tuple(conditions), size_range)


def _condition(item) -> Condition:
    if isinstance(item, dict):
        if len(item) != 1:
            raise _malformed("a condition object names one field: %s" % json.dumps(item)[:80])
        (name, value), = item.items()
        if not isinstance(value, str):
            raise _malformed("the value of the condition on %s is not a string" % name[:60])
        return Condition("eq", name.lower().lstrip("$"), value)
    if isinstance(item, list) and len(item) == 3 and all(isinstance(part, str) for part in item):
        how, name, value = item[0].lower(), item[1], item[2]
        if how in ("eq", "starts-with") and name.startswith("$") and len(name) > 1:
            return Condition(how, name[1:].lower(), value)
    raise _malformed("a condition is {\"field\": \"value\"}, [\"eq\" or \"starts-with\", \"$field\", \"value\"] "
                     "or [\"content-length-range\", least, most]: not %s" % json.dumps(item)[:80])


def _size_range(item: list) -> Tuple[int, int]:
    if len(item) == 3:
        least, most = (_whole(part) for part in item[1:])
        if least is not None and most is not None and 0 <= least <= most:
            return least, most
    raise _malformed("content-length-range takes two sizes in bytes, the least first: not %s" % json.dumps(item)[:80])


def _whole(value) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _malformed(why: str) -> BadRequest:
    return BadRequest("the form's policy does not read: %s" % why).as_s3("InvalidPolicyDocument")


def _breach(why: str) -> Forbidden:
    return Forbidden("Invalid according to Policy: %s" % why).as_s3("AccessDenied")
