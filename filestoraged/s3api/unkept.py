"""What a request asks this server to promise and it cannot keep, refused
with S3's error instead of taken and ignored: a backup tool that is told
200 to "lock this until 2030" believes its backups immutable.

Refused: server-side encryption (the bytes are stored as sent), a storage
class other than STANDARD, a website redirect, ACL grants, and a canned
ACL other than what the access mode makes true. (Object lock and tagging
are kept: ``locking``, ``tagging``.) Taken, because they are true: storage
class STANDARD (s3cmd sends it), the canned ACLs ``private`` (what many
SDK users send by default), ``bucket-owner-read`` and
``bucket-owner-full-control`` (there is one owner), ``public-read`` where
anyone may read (``--auth writes`` or ``off``), ``public-read-write``
where anyone may write (``off``).
"""

from __future__ import annotations

from ..errors import BadRequest, NotImplementedHere

# Headers naming a feature this server does not carry out, by prefix: what S3 calls it.
_NOT_DONE = (
    ("x-amz-server-side-encryption", "server-side encryption (objects are stored as sent)"),
    ("x-amz-website-redirect-location", "website redirects"),
)
_TRUE_EVERYWHERE = ("private", "bucket-owner-read", "bucket-owner-full-control")


def refuse_unkept(headers, mode: str) -> None:
    """Refuse an object write (PutObject, CopyObject, CreateMultipartUpload)
    that asks for what will not be kept; ``mode``: the access mode the
    request is judged by."""
    _refuse_features(headers)
    storage_class = (headers.get("x-amz-storage-class") or "STANDARD").strip()
    if storage_class != "STANDARD":
        raise BadRequest("only the STANDARD storage class is kept here, not %s" % storage_class[:40]
                         ).as_s3("InvalidStorageClass")
    _refuse_acl(headers, mode)


def refuse_unkept_bucket(headers, mode: str) -> None:
    """Refuse a CreateBucket that asks for what will not be kept (ACL
    grants, an untrue canned ACL)."""
    _refuse_features(headers)
    _refuse_acl(headers, mode)


def _refuse_features(headers) -> None:
    for name, _ in headers.items():
        lower = name.lower()
        for prefix, what in _NOT_DONE:
            if lower.startswith(prefix):
                raise NotImplementedHere("not carried out here: %s (%s)" % (what, lower[:60])
                                         ).as_s3("NotImplemented")


def _refuse_acl(headers, mode: str) -> None:
    for name, _ in headers.items():
        if name.lower().startswith("x-amz-grant-"):
            raise BadRequest("ACL grants are not kept here: who may do what is each token's scopes"
                             ).as_s3("AccessControlListNotSupported")
    acl = headers.get("x-amz-acl")
    if acl is None:
        return
    acl = acl.strip()
    true_here = _TRUE_EVERYWHERE + {"writes": ("public-read",), "off": ("public-read", "public-read-write")
                                    }.get(mode, ())
    if acl not in true_here:
        raise BadRequest("the canned ACL %s is not true here: with access control %r, it may be %s"
                         % (acl[:40], mode, ", ".join(true_here))).as_s3("AccessControlListNotSupported")
