"""The S3 API's bucket operations: ListBuckets, CreateBucket, HeadBucket,
DeleteBucket, GetBucketLocation, Put/GetBucketVersioning; and the canned
ACLs of buckets and objects (Put/Get*Acl: ``acls``)."""

from __future__ import annotations

from ..catalog.buckets import VERSIONING
from ..catalog.handle import BucketHandle
from ..catalog.names import bucket_name
from ..errors import BadRequest, Conflict, NotImplementedHere
from ..web.messages import EmptyResponse, Request, Response
from ..wire.fields import whole_number
from .answers import MAX_XML, Element, iso_time, local_name, owner, read_xml, text_of, xml_answer
from .versions import version_header
from ..catalog.public_access import public_access
from .signatures import Caller
from .acls import OWNER, acl_answer, acl_of_request, asked_acl
from .unkept import refuse_features

MAX_BUCKETS = 10000  # the largest max-buckets of ListBuckets, as S3's


class BucketOperations:
    def __init__(self, app) -> None:
        self.app = app
        self.buckets = app.buckets

    def list_buckets(self, request: Request, caller: Caller, bucket: None, key: None) -> Response:
        """ListBuckets, all at once or a page of ``max-buckets`` at a time
        (``continuation-token``: the last name of the page before), of the
        names that begin with ``prefix``, of ``bucket-region`` only if given."""
        query = request.query
        try:
            limit = whole_number(query.get("max-buckets"), "max-buckets", MAX_BUCKETS, 1, MAX_BUCKETS)
        except BadRequest as error:
            raise error.as_s3("InvalidArgument") from None
        after, prefix = query.get("continuation-token") or "", query.get("prefix") or ""
        region = query.get("bucket-region")
        found, more = self.buckets.page(prefix, after, limit)
        if region is not None:  # the buckets of that region only (the page may then hold fewer)
            found = [one for one in found if (one.region or "us-east-1") == region]
        listed = [Element("Bucket", [Element("Name", one.name), Element("CreationDate", iso_time(one.created)),
                                     Element("BucketRegion", one.region or "us-east-1")]) for one in found]
        body = [Element("Owner", owner(OWNER)), Element("Buckets", listed)]
        if more:
            body.append(Element("ContinuationToken", found[-1].name))
        if prefix:
            body.append(Element("Prefix", prefix))
        return xml_answer(200, "ListAllMyBucketsResult", body)

    def create(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        name = bucket_name(bucket)
        refuse_features(request.headers)
        acl = asked_acl(request.headers, caller.mode, public_access(self.app.config, None))
        region = ""
        raw = request.body(MAX_XML).read_all()
        if raw.strip():
            region = text_of(read_xml(raw, "CreateBucketConfiguration"), "LocationConstraint") or ""
        locked = (request.headers.get("x-amz-bucket-object-lock-enabled") or "").strip().lower() == "true"
        try:
            self.buckets.create(name, region, locked, acl, owner=caller.name)
        except Conflict:
            # As S3 in its first region: making again a bucket one owns is
            # 200, the bucket as it was; asked elsewhere, or with an object
            # lock it lacks, it is not what was asked for.
            found = self.buckets.get(name)
            if found is None or region not in ("", "us-east-1") or (locked and found.lock is None):
                raise
            if found.acl != acl:  # nor with another ACL (none named: private)
                raise Conflict("the bucket %s exists with another ACL: PutBucketAcl changes it" % name
                               ).as_s3("BucketAlreadyExists") from None
        return EmptyResponse(200, {"Location": "/" + name})

    def head(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        return EmptyResponse(200, {"x-amz-bucket-region": found.region or "us-east-1", "Content-Length": "0"})

    def delete(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        BucketHandle.open(self.app, bucket, request).delete_bucket()
        return EmptyResponse(204)

    def location(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        return xml_answer(200, "LocationConstraint", [Element("", found.region)])

    def versioning(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        return xml_answer(200, "VersioningConfiguration",
                          [Element("Status", found.versioning)] if found.versioning else [])  # never set: no Status

    def put_versioning(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        """PutBucketVersioning: ``Enabled`` or ``Suspended`` (once enabled,
        a bucket is never unversioned again, as in S3); MFA delete is not
        offered here."""
        found = self.buckets.require(bucket)
        root = read_xml(request.body(MAX_XML).read_all(), "VersioningConfiguration")
        if (text_of(root, "MfaDelete") or "Disabled").strip() != "Disabled":
            raise NotImplementedHere("MFA delete is not offered here").as_s3("NotImplemented")
        for element in root:
            name = local_name(element.tag)
            if name in ("ExcludeFolders", "ExcludedPrefixes"):  # MinIO's: versions of some keys not kept
                raise NotImplementedHere("%s (MinIO's) is not carried out here: every key of a versioned bucket "
                                         "keeps its versions" % name).as_s3("NotImplemented")
            if name not in ("Status", "MfaDelete"):
                raise BadRequest("VersioningConfiguration takes Status and MfaDelete, not %s" % name[:40]
                                 ).as_s3("MalformedXML")
        status = (text_of(root, "Status") or "").strip()
        if status not in VERSIONING:
            raise BadRequest("Status is Enabled or Suspended").as_s3("MalformedXML")
        self.buckets.set_versioning(found, status)
        return EmptyResponse(200)

    def acl(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        return acl_answer(caller.mode, self.buckets.require(bucket).acl, on_bucket=True)

    def put_acl(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        self.buckets.set_acl(found, acl_of_request(request, caller.mode, public_access(self.app.config, found)))
        return EmptyResponse(200)

    def object_acl(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = BucketHandle.open(self.app, bucket, request)
        entry = found.read(key, request.query.get("versionId"))
        answer = acl_answer(caller.mode, entry.acl, on_bucket=False)
        answer.headers.update(version_header(found.bucket, entry))
        return answer

    def put_object_acl(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = BucketHandle.open(self.app, bucket, request)
        acl = acl_of_request(request, caller.mode, public_access(self.app.config, found.bucket))

        def setting(entry) -> None:
            entry.acl = acl

        written = found.amend(key, request.query.get("versionId"), setting)
        return EmptyResponse(200, version_header(found.bucket, written))

