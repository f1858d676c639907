"""Policies in AWS's policy language (the IAM JSON policy reference), the
part people write: a document read once (``read_policy``), everything it
says that this store does not carry out refused with ``BadRequest`` naming
it, and one evaluator (``judge``) for every principal.

The rule of judgement is AWS's: a statement that applies and denies wins;
else one that applies and allows; else nothing allowed the request (an
implicit deny, which the caller may still meet otherwise: a token's scopes).

Supported: ``Version`` (2012-10-17, 2008-10-17), ``Id``, ``Statement`` (one
or a list) of ``Sid``, ``Effect``, ``Principal`` (``*``, or ``{"AWS": …}``
naming ``*``, users as ``arn:aws:iam::ACCOUNT:user/NAME`` or the account
as ``arn:aws:iam::ACCOUNT:root``: any signed request, the account not
judged: this store has one), ``Action``/``NotAction`` (``s3:…``, with
``*`` and ``?``, case not minded), ``Resource``/``NotResource`` (S3 ARNs,
``*`` and ``?``, ``${aws:username}`` in them), ``Condition``
(``policy_conditions``). Not supported, and refused: ``NotPrincipal``,
principals other than users (roles, services, federated, accounts),
actions of other services.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

from ..base.json_text import bounded
from ..errors import BadRequest
from .policy_conditions import VARIABLE, Condition, conditions_of, filled, like

VERSIONS = ("2012-10-17", "2008-10-17")
ANYONE = "*"
ARN = "arn:aws:s3:::"
USER_ARN = re.compile(r"arn:aws:iam::[\w$-]{0,64}:user/([\w+=,.@-]{1,64})")
# The account itself: every user of it (this store has one account: any signed request).
ACCOUNT_ARN = re.compile(r"arn:aws:iam::[\w$-]{0,64}:root|[0-9]{12}")
SIGNED = "\x00signed"  # what stands for "any user" among a statement's principals
_STATEMENT_ELEMENTS = ("Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "NotResource", "Condition")
MAX_POLICY = 20 * 1024  # bytes of a bucket policy, as S3 allows


@dataclass(frozen=True)
class Statement:
    sid: str
    allows: bool
    principals: Optional[Tuple[str, ...]]  # "*" or user names; None: no Principal (an identity policy's)
    actions: Tuple[str, ...]  # lower-case patterns
    not_actions: bool
    resources: Tuple[str, ...]  # patterns, ${aws:username} left in
    not_resources: bool
    conditions: Tuple[Condition, ...]

    def applies(self, request: "Asked") -> bool:
        if self.principals is not None and ANYONE not in self.principals and request.user not in self.principals \
                and not (request.user is not None and SIGNED in self.principals):
            return False
        action = request.action.lower()
        if any(like(pattern).fullmatch(action) is not None for pattern in self.actions) == self.not_actions:
            return False
        named = any(like(filled(pattern, request.context, True)).fullmatch(request.resource) is not None
                    for pattern in self.resources)
        if named == self.not_resources:
            return False
        return all(condition.holds(request.context) for condition in self.conditions)


@dataclass(frozen=True)
class Policy:
    statements: Tuple[Statement, ...]
    text: str  # the document as it was given (a GET gives it back)


@dataclass(frozen=True)
class Asked:
    """A request as a policy judges it: ``action`` (``s3:GetObject``),
    ``resource`` (``arn:aws:s3:::bucket/key``), ``user`` (a user's or
    token's name; None: anonymous) and the condition keys' values."""

    action: str
    resource: str
    user: Optional[str]
    context: Mapping[str, str]


@dataclass(frozen=True)
class Decision:
    """``allowed``: True (an Allow applied, no Deny), False (a Deny
    applied), None (nothing applied); ``sid``: the statement that decided."""

    allowed: Optional[bool]
    sid: Optional[str] = None

    def why(self, what: str) -> str:
        """The decision as a 403 says it."""
        if self.allowed is False:
            return "a statement (%s) of the %s denies it" % (repr(self.sid) if self.sid else "without a Sid", what)
        return "no statement of the %s allows it" % what


def judge(policies: Iterable[Policy], request: Asked) -> Decision:
    """Every statement of ``policies`` that applies to ``request``: a Deny
    wins, else an Allow, else nothing decided (AWS's rule)."""
    allowed: Optional[Statement] = None
    for policy in policies:
        for statement in policy.statements:
            if statement.applies(request):
                if not statement.allows:
                    return Decision(False, statement.sid)
                allowed = allowed or statement
    return Decision(True, allowed.sid) if allowed is not None else Decision(None)


def read_policy(text: str, actions: Sequence[str], bucket: Optional[str] = None) -> Policy:
    """The policy ``text`` says; ``BadRequest`` for anything not supported
    or not well formed. ``actions``: the actions this store knows (an
    action named exactly must be one; a pattern must match one);
    ``bucket``: a bucket's policy, whose statements name their principal
    and only that bucket's ARNs (None: a user's or group's, which names
    no principal). Read once per text: a bucket's policy is judged on
    every request."""
    return _read(text, tuple(action.lower() for action in actions), bucket)


@lru_cache(maxsize=256)
def _read(text: str, actions: Tuple[str, ...], bucket: Optional[str]) -> Policy:
    if len(text.encode("utf-8")) > MAX_POLICY:
        raise BadRequest("a policy is at most %d bytes" % MAX_POLICY)
    try:
        document = bounded(text)
    except ValueError as error:
        raise BadRequest("the policy is not JSON: %s" % error) from None
    if not isinstance(document, dict):
        raise BadRequest("a policy is a JSON object")
    for name in document:
        if name not in ("Version", "Id", "Statement"):
            raise BadRequest("the policy element %r is not supported" % str(name)[:60])
    if document.get("Version", VERSIONS[0]) not in VERSIONS:
        raise BadRequest("the policy's Version is one of %s" % ", ".join(VERSIONS))
    listed = document.get("Statement")
    listed = [listed] if isinstance(listed, dict) else listed
    if not isinstance(listed, list) or not listed:
        raise BadRequest("a policy has a Statement: one, or a list")
    statements = tuple(_statement(item, number, actions, bucket) for number, item in enumerate(listed))
    return Policy(statements, text)


def _statement(item: object, number: int, actions: Tuple[str, ...], bucket: Optional[str]) -> Statement:
    if not isinstance(item, dict):
        raise BadRequest("statement %d is not an object" % number)
    for name in item:
        if name not in _STATEMENT_ELEMENTS:
            raise BadRequest("the statement element %r is not supported (statement %d)" % (str(name)[:60], number))
    sid = item.get("Sid", "")
    if not isinstance(sid, str):
        raise BadRequest("a Sid is a string (statement %d)" % number)
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise BadRequest("a statement's Effect is Allow or Deny (statement %d)" % number)
    if bucket is not None and "Principal" not in item:
        raise BadRequest("a bucket policy's statement names its Principal (statement %d)" % number)
    if bucket is None and "Principal" in item:
        raise BadRequest("a user's or group's policy names no Principal (statement %d)" % number)
    who = _principals(item["Principal"], number) if bucket is not None else None
    if ("Action" in item) == ("NotAction" in item):
        raise BadRequest("a statement has Action or NotAction, one of them (statement %d)" % number)
    named_actions = _strings(item.get("Action", item.get("NotAction")), "Action", number)
    for action in named_actions:
        lowered = action.lower()
        if not any(like(lowered).fullmatch(known) is not None for known in actions):
            raise BadRequest("the action %r is not one this store carries out (statement %d)"
                             % (action[:100], number))
    if ("Resource" in item) == ("NotResource" in item):
        raise BadRequest("a statement has Resource or NotResource, one of them (statement %d)" % number)
    resources = _strings(item.get("Resource", item.get("NotResource")), "Resource", number)
    for resource in resources:
        for variable in VARIABLE.findall(resource):
            if variable.lower() != "aws:username":
                raise BadRequest("the policy variable ${%s} is not supported (statement %d)" % (variable[:60], number))
        if not resource.startswith(ARN) and resource != "*" or bucket is not None and not _names_bucket(resource,
                                                                                                          bucket):
            raise BadRequest("the resource %r is not one this policy may name%s (statement %d)"
                             % (resource[:200], ": arn:aws:s3:::%s or arn:aws:s3:::%s/KEY" % (bucket, bucket)
                                if bucket is not None else "", number))
    conditions = conditions_of(item["Condition"]) if "Condition" in item else ()
    return Statement(sid, effect == "Allow", who, tuple(action.lower() for action in named_actions),
                     "NotAction" in item, resources, "NotResource" in item, conditions)


def _names_bucket(pattern: str, bucket: str) -> bool:
    """Whether a resource ``pattern`` may name ``bucket`` or keys of it (a
    bucket's policy names nothing else): its part before any wildcard
    leads to the bucket's ARN, or into it."""
    own = ARN + bucket
    fixed = re.split(r"[*?]", pattern, maxsplit=1)[0]
    if fixed == pattern:  # no wildcard
        return pattern == own or pattern.startswith(own + "/")
    return (own + "/").startswith(fixed) or fixed.startswith(own + "/")


def _principals(value: object, number: int) -> Tuple[str, ...]:
    if value == ANYONE:
        return (ANYONE,)
    if not isinstance(value, dict) or set(value) != {"AWS"}:
        kinds = ", ".join(sorted(value)) if isinstance(value, dict) else type(value).__name__
        raise BadRequest("a Principal is \"*\" or {\"AWS\": ...} naming users; %s is not supported (statement %d)"
                         % (kinds[:100], number))
    names: List[str] = []
    for text in _strings(value["AWS"], "Principal", number):
        if text == ANYONE:
            names.append(ANYONE)
            continue
        if ACCOUNT_ARN.fullmatch(text):
            names.append(SIGNED)
            continue
        found = USER_ARN.fullmatch(text)
        if found is None:
            raise BadRequest("the principal %r is not supported: name users as arn:aws:iam::ACCOUNT:user/NAME, "
                             "or the account as arn:aws:iam::ACCOUNT:root (statement %d)" % (text[:100], number))
        names.append(found.group(1))
    return tuple(names)


def _strings(value: object, element: str, number: int) -> Tuple[str, ...]:
    listed = [value] if isinstance(value, str) else value
    if not isinstance(listed, list) or not listed or not all(isinstance(item, str) and item for item in listed):
        raise BadRequest("%s is a string or a list of strings (statement %d)" % (element, number))
    return tuple(listed)


def public(policy: Policy) -> bool:
    """Whether ``policy`` lets anyone do something (S3's "public" policy):
    a statement that allows ``*`` with no condition that narrows who asks
    (``_narrows``)."""
    return any(statement.allows and statement.principals is not None and ANYONE in statement.principals
               and not any(_narrows(condition) for condition in statement.conditions)
               for statement in policy.statements)


def _narrows(condition: Condition) -> bool:
    """Whether ``condition`` holds for a few callers only: the addresses
    of networks no wider than a /8 (IPv4) or a /32 (IPv6), or named users."""
    if condition.key == "aws:SourceIp" and condition.operator == "IpAddress":
        networks = [ipaddress.ip_network(value, strict=False) for value in condition.values]
        return all(network.prefixlen >= (8 if network.version == 4 else 32) for network in networks)
    return condition.key == "aws:username" and condition.operator in ("StringEquals", "StringEqualsIgnoreCase")

