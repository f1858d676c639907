"""Bucket policies (``?policy``, ``?policyStatus``): a bucket's policy in
AWS's policy language, kept with the bucket and judged on every S3
request to it by the one evaluator (``access.policy``), beside the
token's scopes:

- a statement that applies and denies refuses the request (403
  AccessDenied naming its Sid), whatever the token may do; but an admin
  may always read, replace or delete the policy itself, so no policy
  locks every admin out;
- else a statement that applies and allows lets it go on, though the
  token's scopes (or no token: ``Principal: "*"``) would not;
- else the token's scopes decide, as without a policy.

A public policy (one that allows ``*`` without narrowing who asks:
``access.policy.public``) is refused unless the operator allows public
access (``--s3-public-acls``, as for canned ACLs): no request alone makes
a bucket public.

A request is judged as the S3 action AWS names for it (``access.actions``; a
read or delete of a version by its id is ``…Version``) on the bucket's or
the key's ARN, its principal the token's name (``arn:aws:iam::…:user/NAME``),
with the condition keys ``policy_conditions`` lists.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, Optional

from ..access.actions import S3_KNOWN
from ..access.policy import ARN, MAX_POLICY, Asked, Decision, Policy, judge, public, read_policy
from ..catalog.buckets import Bucket
from ..catalog.public_access import public_access
from ..access.policy_conditions import HEADER_KEYS
from ..errors import BadRequest, Forbidden, NotFound
from ..web.messages import EmptyResponse, Request, Response, TextResponse
from .answers import Element, xml_answer
from .signatures import Caller
from .tagging import tags_of_header

# Operations on many keys whose every key a user's policies judge (a token's scopes judge the operation).
JUDGED_PER_KEY = ("DeleteObjects",)
# An admin manages the policy whatever it says (none can lock every admin out).
MANAGING = ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus")


def policy_of(text: Optional[str], bucket: str) -> Optional[Policy]:
    """A bucket's policy as kept (read once per text), None without one."""
    return None if text is None else read_policy(text, S3_KNOWN, bucket)


def asked(request: Request, caller: Caller, action: str, bucket: str, key: Optional[str],
          existing_tags: Callable[[], Optional[Dict[str, str]]] = lambda: None) -> Asked:
    """The request as a policy judges it (see the module docstring);
    ``existing_tags``: the tags of the version acted on, asked only where
    a policy names one (``s3:ExistingObjectTag/KEY``)."""
    now = time.time()
    context = {
        "aws:SourceIp": request.client,
        "aws:SecureTransport": "true" if request.base_url.startswith("https://") else "false",
        "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "aws:EpochTime": str(int(now)),
        "aws:PrincipalType": "User" if caller.name else "Anonymous",
        "aws:username": caller.name,
        "aws:UserAgent": request.headers.get("User-Agent"),
        "aws:Referer": request.headers.get("Referer"),
        "s3:VersionId": request.query.get("versionId"),
    }
    for name in HEADER_KEYS:
        header = name[3:] if name.startswith("s3:x-amz-") else "x-amz-" + name[3:]  # (s3:object-lock-mode)
        context[name] = request.headers.get(header)
    for name, value in (tags_of_header(request.headers) or {}).items():
        context["s3:RequestObjectTag/" + name] = value
    if key is not None:
        for name, value in (existing_tags() or {}).items():
            context["s3:ExistingObjectTag/" + name] = value
    if key is None and action in ("s3:ListBucket", "s3:ListBucketVersions"):
        context.update({"s3:prefix": request.query.get("prefix", ""), "s3:delimiter": request.query.get("delimiter"),
                        "s3:max-keys": request.query.get("max-keys")})
    resource = ARN + bucket + ("/" + key if key is not None else "")
    return Asked(action, resource, caller.name, {name: value for name, value in context.items() if value is not None})


def enforced(config, found: Optional[Bucket], request: Request, caller: Caller, action: str, key: Optional[str],
             managing: bool = False, bucket: Optional[str] = None,
             existing_tags: Callable[[], Optional[Dict[str, str]]] = lambda: None) -> Optional[Decision]:
    """What the policy of ``found`` (a bucket; None: none, or the
    ``bucket`` named does not exist) and, for a user, the user's own
    policies say of ``action`` on it or its ``key``: None where no policy
    is judged; ``Forbidden`` (AccessDenied) where a statement denies it,
    unless ``managing`` (an admin's management of the policy itself). A
    public policy lets no anonymous caller in where
    ``RestrictPublicBuckets`` holds (``catalog.public_access``)."""
    policy = policy_of(found.policy, found.name) if found is not None else None
    own = caller.judged()
    if policy is None and not own:
        return None
    name = found.name if found is not None else bucket
    tags = existing_tags if _names_existing_tags(policy, own) else (lambda: None)
    resource = (asked(request, caller, action, name, key, tags) if name is not None
                else _service(request, caller, action))
    decision = judge(((policy,) if policy is not None else ()) + own, resource)
    what = "bucket policy" if not own else "user's policies%s" % (" and the bucket policy" if policy else "")
    if decision.allowed is False and not managing:
        raise Forbidden(decision.why(what)).as_s3("AccessDenied")
    if decision.allowed and caller.name is None and policy is not None and public(policy) and \
            public_access(config, found).blocks("RestrictPublicBuckets"):
        return Decision(None)  # (its Deny statements still hold: judged above)
    return decision


def _names_existing_tags(policy: Optional[Policy], own) -> bool:
    """Whether a statement asks of the tags of the version acted on (a read of them then)."""
    return any("existingobjecttag/" in item.text.lower() for item in ((policy,) if policy else ()) + tuple(own))


def _service(request: Request, caller: Caller, action: str) -> Asked:
    """A request to no bucket (ListBuckets) as a user's policy judges it: on ``*``."""
    named = asked(request, caller, action, "", None)
    return Asked(named.action, "*", named.user, named.context)


class PolicyOperations:
    def __init__(self, app) -> None:
        self.buckets = app.buckets
        self.config = app.config

    def put(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        raw = request.body(MAX_POLICY).read_all()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("a policy is JSON in UTF-8").as_s3("MalformedPolicy") from None
        try:
            policy = policy_of(text, bucket)
        except BadRequest as error:
            raise error.as_s3("MalformedPolicy") from None
        access = public_access(self.config, found)
        if policy is not None and public(policy) and access.blocks("BlockPublicPolicy"):
            raise Forbidden("the policy lets anyone in (Principal \"*\" without a condition on aws:SourceIp or "
                            "aws:username): %s" % access.why("BlockPublicPolicy")).as_s3("AccessDenied")
        self.buckets.set_policy(found, text)
        return EmptyResponse(204)

    def get(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        text = self.buckets.require(bucket).policy
        if text is None:
            raise NotFound("The bucket policy does not exist").as_s3("NoSuchBucketPolicy")
        return TextResponse(200, text, "application/json")

    def delete(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        self.buckets.set_policy(self.buckets.require(bucket), None)
        return EmptyResponse(204)

    def status(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        policy = policy_of(self.buckets.require(bucket).policy, bucket)
        shown = "true" if policy is not None and public(policy) else "false"
        return xml_answer(200, "PolicyStatus", [Element("IsPublic", shown)])

