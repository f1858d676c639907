"""What a request asks this server to promise and it cannot keep, refused
with S3's error instead of taken and ignored: a backup tool that is told
200 to "lock this until 2030" believes its backups immutable.

Refused: server-side encryption (the bytes are stored as sent: 501 on a
write, 400 on any other operation, as S3 answers a read that names it), a
storage class other than STANDARD, a website redirect, and an expected
bucket owner that is not this server's one owner (403, as S3). (Object
lock, tagging and canned ACLs are kept: ``locking``, ``tagging``,
``acls``.) Taken, because it is true: storage class STANDARD (s3cmd sends
it), an expected owner that is ``filestoraged``.
"""

from __future__ import annotations

from ..errors import BadRequest, Forbidden, NotImplementedHere
from .acls import OWNER

# Headers naming a feature this server does not carry out, by prefix: what S3 calls it.
_NOT_DONE = (
    ("x-amz-server-side-encryption", "server-side encryption (objects are stored as sent)"),
    ("x-amz-website-redirect-location", "website redirects"),
)


# The operations that refuse server-side encryption as a feature (501): what would store it.
ENCRYPTING = frozenset(("PutObject", "CopyObject", "CreateMultipartUpload", "PostObject", "CreateBucket"))
# Headers that name the account that must own the bucket (the copy's source's, for the second).
OWNER_HEADERS = ("x-amz-expected-bucket-owner", "x-amz-source-expected-bucket-owner")


def refuse_unmet(operation: str, headers) -> None:
    """What any operation's headers ask that is not so: a bucket owner other
    than this server's (``Forbidden``, AccessDenied, as S3 answers), and
    server-side encryption named where nothing is stored (``BadRequest``,
    InvalidArgument: a GET of an object "encrypted with aws:kms" is not)."""
    for name in OWNER_HEADERS:
        value = headers.get(name)
        if value is not None and value.strip() != OWNER:
            raise Forbidden("the bucket's owner is %s, not the one %s names (%s)"
                            % (OWNER, name, ascii(value.strip()[:64]))).as_s3("AccessDenied")
    if operation in ENCRYPTING:
        return  # refused as a feature, with the rest of the write's headers (refuse_unkept)
    for lower in headers.starting("x-amz-server-side-encryption"):
        raise BadRequest("%s takes no %s: objects are stored as sent, never encrypted here"
                             % (operation, lower[:60])).as_s3("InvalidArgument")


def refuse_unkept(headers) -> None:
    """Refuse an object write (PutObject, CopyObject, CreateMultipartUpload,
    PostObject) that asks for what will not be kept."""
    refuse_features(headers)
    storage_class = (headers.get("x-amz-storage-class") or "STANDARD").strip()
    if storage_class != "STANDARD":
        raise BadRequest("only the STANDARD storage class is kept here, not %s" % storage_class[:40]
                         ).as_s3("InvalidStorageClass")


def refuse_features(headers) -> None:
    """Refuse a request whose headers ask for a feature not carried out
    here (a CreateBucket's too)."""
    for prefix, what in _NOT_DONE:
        for lower in headers.starting(prefix):
            raise NotImplementedHere("not carried out here: %s (%s)" % (what, lower[:60])).as_s3("NotImplemented")

