"""What a policy names each request by: the S3 actions (IAM's "Actions
defined by Amazon S3", ``ACTIONS`` by S3 operation), the store's own
actions for the faces S3 has no word for (``STORE_ACTIONS``), and the
translation of a route's ``Need`` (a scope, ``access.scopes``) into the
actions and resources a user's policies are asked about (``asked_for``),
so that one evaluator (``access.policy``) judges every face.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

from .policy import ARN, Asked
from .scopes import ADMIN, Scope

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
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
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
S3_KNOWN = tuple(sorted(set(ACTIONS.values()) | set(BY_VERSION.values())))

# A face's scope -> the store's action a user's policy grants it by (with the resource "*").
STORE_ACTIONS: Dict[Tuple[str, str], str] = {
    ("files", "read"): "filestoraged:GetFile", ("files", "write"): "filestoraged:PutFile",
    ("files", "delete"): "filestoraged:DeleteFile",
    ("share", "create"): "filestoraged:CreateShareLink", ("share", "delete"): "filestoraged:DeleteShareLink",
    ("kv", "read"): "filestoraged:GetKV", ("kv", "write"): "filestoraged:PutKV",
    ("metrics", "read"): "filestoraged:GetMetrics",
}
ADMIN_ACTION = "filestoraged:Admin"  # what the admin scope allows: tokens, users, the store's settings
# A key's scope verb -> the S3 action on the key (``create``, add-only for a token, is a PutObject).
DATA_ACTIONS = {"read": "s3:GetObject", "create": "s3:PutObject", "write": "s3:PutObject",
                "delete": "s3:DeleteObject"}
IDENTITY_KNOWN = S3_KNOWN + tuple(sorted(STORE_ACTIONS.values())) + (ADMIN_ACTION,)


def action_of(operation: str, version: Optional[str]) -> str:
    """The action a policy names ``operation`` by (of a version by its id: ``version``)."""
    action = ACTIONS.get(operation, "s3:" + operation)
    return BY_VERSION.get(action, action) if version is not None else action


def asked_for(wanted: Scope, user: Optional[str], context: Mapping[str, str]) -> List[Asked]:
    """What a user's policies must all allow for the user to meet ``wanted``
    (a route's need): a key's verb is its S3 action on the key's ARN; a
    need without a key is one over the whole bucket (a read of it lists
    it: ``s3:ListBucket`` and ``s3:GetObject`` on every key); another
    face's verb is the store's action (``STORE_ACTIONS``) on ``*``; the
    admin scope is ``filestoraged:Admin``. ``user`` None: anonymous."""
    context = dict(context, **({"aws:username": user} if user is not None else {}))
    if wanted == ADMIN:
        return [Asked(ADMIN_ACTION, "*", user, context)]
    if wanted.face == "data" and wanted.namespace and wanted.verb in DATA_ACTIONS:
        bucket = ARN + wanted.namespace
        action = DATA_ACTIONS[wanted.verb]
        if wanted.prefix is not None:
            return [Asked(action, bucket + "/" + wanted.prefix, user, context)]
        whole = [Asked(action, bucket + "/*", user, context)]
        return whole + ([Asked("s3:ListBucket", bucket, user, context)] if wanted.verb == "read" else [])
    action = STORE_ACTIONS.get((wanted.face, wanted.verb))
    return [Asked(action, "*", user, context)] if action is not None else []
