"""What a request asks this server to promise and it cannot keep, refused
with S3's error instead of taken and ignored: a backup tool that is told
200 to "lock this until 2030" believes its backups immutable.

Refused: server-side encryption (the bytes are stored as sent), a storage
class other than STANDARD, a website redirect. (Object lock, tagging and
canned ACLs are kept: ``locking``, ``tagging``, ``acls``.) Taken, because
it is true: storage class STANDARD (s3cmd sends it).
"""

from __future__ import annotations

from ..errors import BadRequest, NotImplementedHere

# Headers naming a feature this server does not carry out, by prefix: what S3 calls it.
_NOT_DONE = (
    ("x-amz-server-side-encryption", "server-side encryption (objects are stored as sent)"),
    ("x-amz-website-redirect-location", "website redirects"),
)


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
    for lower in headers.names():
        for prefix, what in _NOT_DONE:
            if lower.startswith(prefix):
                raise NotImplementedHere("not carried out here: %s (%s)" % (what, lower[:60])
                                         ).as_s3("NotImplemented")

