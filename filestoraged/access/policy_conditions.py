"""The ``Condition`` block of a policy statement (AWS's IAM JSON policy
reference, "Condition operators"): the operators this store carries out,
each with its ``…IfExists`` form, and the keys a request gives them.

An operator or a key not listed here is refused when the policy is read
(``BadRequest`` naming it), never taken and ignored: a condition that
never matched would turn a Deny off. ``ForAnyValue:`` and
``ForAllValues:`` are refused too (no key here has several values).

How a key that the request does not have is judged, as AWS judges it:
``Null`` asks exactly that; an ``…IfExists`` operator holds; any other
operator does not hold (for a negated one, such as ``StringNotEquals``,
too)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from operator import eq, ge, gt, le, lt
from typing import Callable, Dict, Mapping, Optional, Tuple

from ..errors import BadRequest

# The keys a request is judged by (as AWS spells them; matched without case).
# The s3:x-amz-… keys are the request's headers of those names (``HEADER_KEYS``).
HEADER_KEYS = ("s3:x-amz-acl", "s3:x-amz-copy-source", "s3:x-amz-metadata-directive", "s3:x-amz-grant-read",
               "s3:x-amz-grant-write", "s3:x-amz-grant-read-acp", "s3:x-amz-grant-write-acp",
               "s3:x-amz-grant-full-control", "s3:x-amz-storage-class", "s3:x-amz-content-sha256",
               "s3:x-amz-server-side-encryption", "s3:object-lock-mode", "s3:object-lock-legal-hold")
KEYS = ("aws:SourceIp", "aws:SecureTransport", "aws:CurrentTime", "aws:EpochTime", "aws:username",
        "aws:PrincipalType", "aws:UserAgent", "aws:Referer", "s3:prefix", "s3:delimiter", "s3:max-keys",
        "s3:VersionId") + HEADER_KEYS
_KEYS = {key.lower(): key for key in KEYS}
# Keys that name an object tag after their slash (the tag's key, its case kept):
# the tags a write gives (x-amz-tagging), and those of the version acted on.
TAG_KEYS = ("s3:RequestObjectTag/", "s3:ExistingObjectTag/")


VARIABLE = re.compile(r"\$\{([^}]*)\}")
# What stands for a user name's own * and ? in a pattern once filled in: matched as themselves.
_STAR, _MARK = "\x01", "\x02"


def filled(text: str, context: Mapping[str, str], pattern: bool) -> str:
    """``${aws:username}`` in ``text`` replaced by the request's user name
    (in a ``pattern``, its ``*`` and ``?`` kept literal); without one, by a
    character no name holds, so that it matches nothing."""
    if "${" not in text:
        return text
    name = context.get("aws:username", "\x00")
    return VARIABLE.sub(lambda found: name.replace("*", _STAR).replace("?", _MARK) if pattern else name, text)


def like(pattern: str) -> "re.Pattern[str]":
    """AWS's wildcards as a regular expression: ``*`` any run, ``?`` one
    character; nothing else is special."""
    return _compiled(pattern)


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> "re.Pattern[str]":
    return re.compile("".join(".*" if char == "*" else "." if char == "?" else
                              re.escape("*" if char == _STAR else "?" if char == _MARK else char)
                              for char in pattern), re.S)


def _ip(value: str, allowed: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(allowed, strict=False)
    except ValueError:
        return False


def _date(text: str) -> Optional[float]:
    """An ISO 8601 time or epoch seconds, as AWS takes a date; None if neither."""
    text = text.strip()
    if re.fullmatch(r"\d{1,12}", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def _dates(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def judged(value: str, wanted: str) -> bool:
        left, right = _date(value), _date(wanted)
        return left is not None and right is not None and compare(left, right)
    return judged


def _numbers(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def judged(value: str, wanted: str) -> bool:
        left, right = _number(value), _number(wanted)
        return left is not None and right is not None and compare(left, right)
    return judged


# Operator -> (does the request's value match one of the policy's, negated?)
# A negated operator holds where the value matches none of the policy's.
_OPERATORS: Dict[str, Tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda value, wanted: value == wanted, False),
    "StringNotEquals": (lambda value, wanted: value == wanted, True),
    "StringEqualsIgnoreCase": (lambda value, wanted: value.lower() == wanted.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda value, wanted: value.lower() == wanted.lower(), True),
    "StringLike": (lambda value, wanted: like(wanted).fullmatch(value) is not None, False),
    "StringNotLike": (lambda value, wanted: like(wanted).fullmatch(value) is not None, True),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
    "Bool": (lambda value, wanted: value.lower() == wanted.lower(), False),
}
# NumericEquals … DateGreaterThanEquals: one comparison each, on numbers or on dates.
_COMPARISONS = {"Equals": (eq, False), "NotEquals": (eq, True), "LessThan": (lt, False), "LessThanEquals": (le, False),
                "GreaterThan": (gt, False), "GreaterThanEquals": (ge, False)}
_OPERATORS.update({family + suffix: (read(compare), negated)
                   for family, read in (("Numeric", _numbers), ("Date", _dates))
                   for suffix, (compare, negated) in _COMPARISONS.items()})
_OPERATOR_NAMES = {name.lower(): name for name in list(_OPERATORS) + ["Null"]}


@dataclass(frozen=True)
class Condition:
    """One operator on one key, with the policy's values (any one may match)."""

    operator: str  # as in _OPERATORS, or "Null"
    if_exists: bool
    key: str  # as in KEYS
    values: Tuple[str, ...]

    def holds(self, context: Mapping[str, str]) -> bool:
        """Whether the condition holds for a request whose keys are ``context``."""
        value = context.get(self.key)
        if self.operator == "Null":  # "true": the key is absent; "false": present
            return any((value is None) == (wanted.lower() == "true") for wanted in self.values)
        if value is None:
            return self.if_exists
        match, negated = _OPERATORS[self.operator]
        pattern = self.operator.endswith("Like")
        matched = any(match(value, filled(wanted, context, pattern)) for wanted in self.values)
        return matched != negated


def conditions_of(block: object) -> Tuple[Condition, ...]:
    """The conditions of a statement's ``Condition`` block; ``BadRequest``
    naming what is not supported or not well formed."""
    if not isinstance(block, dict):
        raise BadRequest("Condition is an object of operators")
    found = []
    for operator_text, keys in block.items():
        if ":" in operator_text:
            raise BadRequest("the condition set operator %r is not supported" % operator_text[:60])
        base = operator_text[:-len("IfExists")] if operator_text.endswith("IfExists") else operator_text
        operator = _OPERATOR_NAMES.get(base.lower())
        if operator is None or (operator == "Null" and base != operator_text):
            raise BadRequest("the condition operator %r is not supported (supported: %s, each also …IfExists)"
                             % (operator_text[:60], ", ".join(sorted(_OPERATORS)) + ", Null"))
        if not isinstance(keys, dict) or not keys:
            raise BadRequest("the condition operator %s takes an object of keys" % operator)
        for key_text, values in keys.items():
            key = _KEYS.get(str(key_text).lower()) or _tag_key(str(key_text))
            if key is None:
                raise BadRequest("the condition key %r is not supported (supported: %s)"
                                 % (str(key_text)[:60], ", ".join(KEYS + tuple(name + "KEY" for name in TAG_KEYS))))
            listed = values if isinstance(values, list) else [values]
            if not listed or not all(isinstance(value, (str, bool, int, float)) for value in listed):
                raise BadRequest("the condition %s on %s takes a value or a list of values" % (operator, key))
            texts = tuple(str(value).lower() if isinstance(value, bool) else str(value) for value in listed)
            for text in texts:
                for variable in VARIABLE.findall(text):
                    if variable.lower() != "aws:username":
                        raise BadRequest("the policy variable ${%s} is not supported" % variable[:60])
            if operator in ("IpAddress", "NotIpAddress"):
                for text in texts:
                    try:
                        ipaddress.ip_network(text, strict=False)
                    except ValueError:
                        raise BadRequest("%r is not an IP address or range (%s)" % (text[:60], key)) from None
            if operator.startswith("Date") and any(_date(text) is None for text in texts):
                raise BadRequest("the condition %s on %s takes ISO 8601 times or epoch seconds" % (operator, key))
            found.append(Condition(operator, base != operator_text, key, texts))
    return tuple(found)


def _tag_key(text: str) -> Optional[str]:
    """``text`` as a tag's key (``s3:ExistingObjectTag/KEY``), spelled as
    AWS does before the slash; None if it is none."""
    for prefix in TAG_KEYS:
        if text.lower().startswith(prefix.lower()) and len(text) > len(prefix):
            return prefix + text[len(prefix):]
    return None
