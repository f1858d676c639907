"""S3's canned ACLs: who besides the tokens may read or write a bucket or
an object. Who may do what is each token's scopes; a canned ACL can only
widen that to everyone (``public-read``, ``public-read-write``) or to every
signed request (``authenticated-read``), never narrow it, and only where
the operator allowed it (``--s3-public-acls``). Without that setting a
canned ACL is taken where it is already true of the access mode (as
before: ``public-read`` under ``--auth writes``) and refused otherwise:
a public bucket is never made by a request alone.

What each grants, as in S3: a bucket's ``public-read`` lets anyone list
it, ``public-read-write`` also write, replace and delete its objects;
an object's ``public-read`` (and ``public-read-write``) lets anyone read
it. ``authenticated-read``: the same reads, for any signed request.
``private``, ``bucket-owner-read`` and ``bucket-owner-full-control`` are
the default here (there is one owner): nothing is kept for them.

ACL grants (``x-amz-grant-*``, grants to users in a document) are
refused: they would name users that are tokens here. A PutBucketAcl or
PutObjectAcl may send its ACL as a document (s3cmd's ``setacl`` does):
it is taken where it is one of the canned ones.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

from ..access.scopes import Need, Scope
from ..catalog.handle import BucketHandle
from ..errors import BadRequest, FileStoreError, Forbidden, NotFound
from .answers import MAX_XML, Element, child, children, owner, read_xml, text_of, xml_answer
from ..catalog.public_access import PublicAccess, public_access
from .signatures import Caller, may

OWNER = "filestoraged"  # the one owner of every bucket and object
CANNED = ("private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read",
          "bucket-owner-full-control")
KEPT = ("public-read", "public-read-write", "authenticated-read")  # what widens access: kept with the bucket or object
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_XSI = ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
# The ACL a grantee's permissions amount to, read from a document.
_GROUPS = {(ALL_USERS, ("READ",)): "public-read", (ALL_USERS, ("READ", "WRITE")): "public-read-write",
           (AUTHENTICATED_USERS, ("READ",)): "authenticated-read"}

# What an operation may be let do by an ACL where its token's scopes do not reach.
BUCKET_READ, BUCKET_WRITE, OBJECT_READ = "bucket-read", "bucket-write", "object-read"


def asked_acl(headers, mode: str, access: PublicAccess) -> Optional[str]:
    """The canned ACL a request's ``x-amz-acl`` asks to keep, None for
    none or one that widens nothing; refused (with S3's error) where it is
    a grant, not canned, or public where ``access`` blocks public ACLs and
    not already true of ``mode``."""
    if headers.starting("x-amz-grant-"):
        raise BadRequest("ACL grants are not kept here: who may do what is each token's scopes; "
                         "a canned ACL (x-amz-acl) may widen it").as_s3("AccessControlListNotSupported")
    acl = headers.get("x-amz-acl")
    return None if acl is None else _kept(acl.strip(), mode, access)


def _kept(acl: str, mode: str, access: PublicAccess) -> Optional[str]:
    if acl not in CANNED:
        raise BadRequest("x-amz-acl is one of %s, not %s" % (", ".join(CANNED), acl[:40])).as_s3("InvalidArgument")
    if acl not in KEPT:
        return None
    if not access.blocks("BlockPublicAcls"):
        return acl
    if not access.store:  # the bucket's own block: refused as S3 refuses it
        raise Forbidden("the canned ACL %s is public: %s" % (acl, access.why("BlockPublicAcls"))).as_s3("AccessDenied")
    true_here = {"writes": ("public-read",), "off": ("public-read", "public-read-write")}.get(mode, ())
    if acl in true_here:
        return None
    raise BadRequest("the canned ACL %s is not kept here: public ACLs are off (--s3-public-acls); with access "
                     "control %r it may be private, bucket-owner-read, bucket-owner-full-control%s"
                     % (acl, mode, "".join(", " + one for one in true_here))).as_s3("AccessControlListNotSupported")


def acl_of_request(request, mode: str, access: PublicAccess) -> Optional[str]:
    """The ACL a PutBucketAcl or PutObjectAcl sets: its ``x-amz-acl``, or
    a document of the grants one canned ACL makes (``BadRequest``
    otherwise); None: private."""
    raw = request.body(MAX_XML).read_all()
    if "x-amz-acl" in request.headers or request.headers.starting("x-amz-grant-"):
        if raw.strip():
            raise BadRequest("an ACL is given by x-amz-acl or by a document, not both").as_s3("InvalidRequest")
        return asked_acl(request.headers, mode, access)
    if not raw.strip():
        raise BadRequest("PutAcl needs x-amz-acl or an AccessControlPolicy document").as_s3("MissingSecurityHeader")
    return _kept(_canned_of(raw), mode, access)


def _canned_of(raw: bytes) -> str:
    """The canned ACL an ``AccessControlPolicy`` document amounts to: the
    owner's full control and, at most, one group's reads (or reads and
    writes); any other grant is refused."""
    root = read_xml(raw, "AccessControlPolicy")
    listed = child(root, "AccessControlList")
    public: dict = {}
    owned = False
    for grant in children(listed, "Grant") if listed is not None else []:
        grantee, permission = child(grant, "Grantee"), (text_of(grant, "Permission") or "").strip()
        uri = (text_of(grantee, "URI") or "").strip() if grantee is not None else ""
        if uri:
            public.setdefault(uri, set()).add(permission)
        elif grantee is None or (text_of(grantee, "ID") or "").strip() != OWNER or permission != "FULL_CONTROL":
            raise BadRequest("only the grants of a canned ACL are kept here (the owner %s's FULL_CONTROL, and "
                             "AllUsers' or AuthenticatedUsers' READ)" % OWNER).as_s3("AccessControlListNotSupported")
        else:
            owned = True
    if not owned:  # S3 would keep a list without it: nobody, the owner included, granted anything
        raise BadRequest("an ACL without the owner %s's FULL_CONTROL is not kept here: the owner keeps it (send "
                         "that grant, or x-amz-acl: private)" % OWNER).as_s3("AccessControlListNotSupported")
    if not public:
        return "private"
    if len(public) == 1:
        (uri, permissions), = public.items()
        found = _GROUPS.get((uri, tuple(sorted(permissions))))
        if found is not None:
            return found
    raise BadRequest("only the grants of a canned ACL are kept here: AllUsers READ (and WRITE), or "
                     "AuthenticatedUsers READ").as_s3("AccessControlListNotSupported")


def acl_answer(mode: str, acl: Optional[str], on_bucket: bool):
    """GetBucketAcl's or GetObjectAcl's answer: the one owner's full
    control, what the access mode lets anyone do (read objects under
    ``writes``, everything under ``off``) and what the kept ACL adds."""
    by_mode = {"writes": () if on_bucket else ("READ",), "off": ("READ", "WRITE")}.get(mode, ())
    granted: List[Tuple[str, str]] = [(ALL_USERS, permission) for permission in by_mode]
    if acl in ("public-read", "public-read-write"):
        granted.append((ALL_USERS, "READ"))
    if acl == "public-read-write":
        granted.append((ALL_USERS, "WRITE"))
    if acl == "authenticated-read":
        granted.append((AUTHENTICATED_USERS, "READ"))
    # The groups' grants first, then the owner's, as RGW lists them (order means nothing to S3).
    grants = [Element("Grant", [Element("Grantee", [Element("URI", uri)], _XSI + ' xsi:type="Group"'),
                                Element("Permission", permission)]) for uri, permission in dict.fromkeys(granted)]
    grants.append(Element("Grant", [Element("Grantee", owner(OWNER), _XSI + ' xsi:type="CanonicalUser"'),
                                    Element("Permission", "FULL_CONTROL")]))
    return xml_answer(200, "AccessControlPolicy", [Element("Owner", owner(OWNER)),
                                                    Element("AccessControlList", grants)])


def widened(app, caller: Caller, how: str, bucket: str, key: Optional[str], version: Optional[str],
            request=None) -> Caller:
    """``caller``, with what the bucket's or the object's ACL lets it do
    (``how``: ``BUCKET_READ``, ``BUCKET_WRITE``, ``OBJECT_READ``) added to
    its scopes for this request. Asked only where its scopes fall short.
    Where ACLs may widen access at all, a bucket or key that is not there
    is said (404) before the 403 a private one gets, as S3 says it."""
    if not app.config.s3_public_acls:
        return caller  # (before the bucket is looked at: nothing said of whether it is there)
    handle = BucketHandle.open(app, bucket, request)  # the operation then finds the same
    found = handle.bucket
    if public_access(app.config, found).blocks("IgnorePublicAcls"):
        return caller
    signed = caller.scopes is not None
    if how == OBJECT_READ:
        entry = _entry(handle, key, version, caller)
        if entry is None or not _reads(entry.acl, signed):
            return caller
        return dataclasses.replace(caller, acl_scopes=(Scope("data", "read", bucket, key),))
    if how == BUCKET_READ and _reads(found.acl, signed):
        return dataclasses.replace(caller, acl_scopes=(Scope("data", "read", bucket),))
    if how == BUCKET_WRITE and found.acl == "public-read-write":
        return dataclasses.replace(caller, acl_scopes=(Scope("data", "write", bucket), Scope("data", "delete", bucket)))
    return caller


def _reads(acl: Optional[str], signed: bool) -> bool:
    return acl in ("public-read", "public-read-write") or (acl == "authenticated-read" and signed)


def _entry(handle: BucketHandle, key: str, version: Optional[str], caller: Caller):
    """The entry an object read names; ``NoSuchKey`` where there is none
    and the caller may list the bucket (S3's rule), None otherwise (a
    403 follows: whatever else a read would say of the key, a delete
    marker's 405 too, is not said to a caller who may not read it)."""
    try:
        return handle.read(key, version)
    except NotFound:
        if _reads(handle.bucket.acl, caller.scopes is not None) or may(caller, Need(Scope("data", "read",
                                                                                         handle.name))):
            raise
        return None
    except FileStoreError:
        return None
