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

A request is judged as the S3 action AWS names for it (``ACTIONS``; a
read or delete of a version by its id is ``…Version``) on the bucket's or
the key's ARN, its principal the token's name (``arn:aws:iam::…:user/NAME``),
with the condition keys ``policy_conditions`` lists.
"""

from __future__ import annotations

import time
from typing import Dict, Optional

from ..access.policy import ARN, MAX_POLICY, Asked, Decision, Policy, judge, public, read_policy
from ..catalog.buckets import Bucket
from ..catalog.public_access import public_access
from ..access.policy_conditions import HEADER_KEYS
from ..errors import BadRequest, Forbidden, NotFound
from ..web.messages import EmptyResponse, Request, Response, TextResponse
from .answers import Element, xml_answer
from .signatures import Caller

# S3's operation -> the action a policy names it by (IAM's "Actions defined by Amazon S3").
ACTIONS: Dict[str, str] = {
    "ListBuckets": "s3:ListAllMyBuckets", "CreateBucket": "s3:CreateBucket", "DeleteBucket": "s3:DeleteBucket",
    "HeadBucket": "s3:ListBucket", "ListObjects": "s3:ListBucket", "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions", "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketLocation": "s3:GetBucketLocation", "GetBucketVersioning": "s3:GetBucketVersioning",
    "PutBucketVersioning": "s3:PutBucketVersioning",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "GetBucketAcl": "s3:GetBucketAcl", "PutBucketAcl": "s3:PutBucketAcl",
    "GetBucketCors": "s3:GetBucketCORS", "PutBucketCors": "s3:PutBucketCORS", "DeleteBucketCors": "s3:PutBucketCORS",
    "GetBucketTagging": "s3:GetBucketTagging", "PutBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketPolicy": "s3:GetBucketPolicy", "PutBucketPolicy": "s3:PutBucketPolicy",
    "DeleteBucketPolicy": "s3:DeleteBucketPolicy", "GetBucketPolicyStatus": "s3:GetBucketPolicyStatus",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock", "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeleteObjects": "s3:DeleteObject", "PostObject": "s3:PutObject",
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "GetObjectAttributes": "s3:GetObjectAttributes",
    "PutObject": "s3:PutObject", "CopyObject": "s3:PutObject", "DeleteObject": "s3:DeleteObject",
    "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject", "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject", "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "GetObjectAcl": "s3:GetObjectAcl", "PutObjectAcl": "s3:PutObjectAcl",
    "GetObjectTagging": "s3:GetObjectTagging", "PutObjectTagging": "s3:PutObjectTagging",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
    "GetObjectRetention": "s3:GetObjectRetention", "PutObjectRetention": "s3:PutObjectRetention",
    "GetObjectLegalHold": "s3:GetObjectLegalHold", "PutObjectLegalHold": "s3:PutObjectLegalHold",
}
# The actions by a version's id (``?versionId=``) where S3 names them apart.
BY_VERSION = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion",
              "s3:GetObjectAcl": "s3:GetObjectVersionAcl", "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
              "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
              "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
              "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging"}
KNOWN = tuple(sorted(set(ACTIONS.values()) | set(BY_VERSION.values())))
# An admin manages the policy whatever it says (none can lock every admin out).
MANAGING = ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus")


def policy_of(text: Optional[str], bucket: str) -> Optional[Policy]:
    """A bucket's policy as kept (read once per text), None without one."""
    return None if text is None else read_policy(text, KNOWN, bucket)


def action_of(operation: str, version: Optional[str]) -> str:
    """The action a policy names ``operation`` by (of a version by its id: ``version``)."""
    action = ACTIONS.get(operation, "s3:" + operation)
    return BY_VERSION.get(action, action) if version is not None else action


def asked(request: Request, caller: Caller, action: str, bucket: str, key: Optional[str]) -> Asked:
    """The request as a policy judges it (see the module docstring)."""
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
    if key is None and action in ("s3:ListBucket", "s3:ListBucketVersions"):
        context.update({"s3:prefix": request.query.get("prefix", ""), "s3:delimiter": request.query.get("delimiter"),
                        "s3:max-keys": request.query.get("max-keys")})
    resource = ARN + bucket + ("/" + key if key is not None else "")
    return Asked(action, resource, caller.name, {name: value for name, value in context.items() if value is not None})


def enforced(config, found: Optional[Bucket], request: Request, caller: Caller, action: str, key: Optional[str],
             managing: bool = False) -> Optional[Decision]:
    """What the policy of ``found`` (a bucket; None: none) says of
    ``action`` on it or its ``key``: None where it has no policy;
    ``Forbidden`` (AccessDenied) where a statement denies it, unless
    ``managing`` (an admin's management of the policy itself). A public
    policy lets no anonymous caller in where ``RestrictPublicBuckets``
    holds (``catalog.public_access``)."""
    if found is None or found.policy is None:
        return None
    policy = policy_of(found.policy, found.name)
    decision = judge((policy,), asked(request, caller, action, found.name, key))
    if decision.allowed is False and not managing:
        raise Forbidden(decision.why("bucket policy")).as_s3("AccessDenied")
    if decision.allowed and caller.name is None and public(policy) and \
            public_access(config, found).blocks("RestrictPublicBuckets"):
        return Decision(None)  # (its Deny statements still hold: judged above)
    return decision


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

