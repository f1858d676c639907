"""Uploads from HTML forms (S3's POST Object): ``POST /BUCKET`` with a
``multipart/form-data`` body whose fields name the key and what the
object keeps, the last one the ``file``. What a browser posts when a page
was given a presigned POST (boto3's ``generate_presigned_post``): the
form's ``policy`` signed by a key (``signatures.Signatures.form_caller``),
its terms judged here (``post_policy``), then the file stored as a
PutObject stores its body, in one pass, refused whole where a check fails.

Fields after the file are read and dropped, as S3 drops them. The key may
hold ``${filename}``: the file's name, as the browser sent it. The answer
is ``204`` (``success_action_status`` may ask ``200`` or ``201``, the
latter with S3's ``PostResponse``), or a ``303`` to
``success_action_redirect`` with the bucket, key and ETag in its query.
"""

from __future__ import annotations

import posixpath
from typing import Dict, Optional
from urllib.parse import quote, urlsplit

from ..access.scopes import Need, Scope
from ..base.header_values import header_value, media_type
from ..catalog.handle import BucketHandle, Described
from ..catalog.keys import STORED_HEADERS, Entry
from ..catalog.names import object_key
from ..errors import BadRequest, TooLarge
from ..uploads.sources import MULTIPART_OVERHEAD
from ..web.messages import EmptyResponse, Request, Response
from ..wire.multipart import MultipartReader, boundary_of
from ..wire.request_head import Headers, is_field_name
from .answers import Element, xml_answer
from .checksums import CHECKSUM
from .object_lock import lock_fields
from .objects import may_replace, stored_fields
from .payloads import Checked
from .policies import enforced
from .post_policy import MAX_POLICY, read_policy
from ..catalog.public_access import public_access
from .signatures import Caller, allow, may
from .tagging import MAX_OBJECT_TAGS, read_tag_set
from .acls import BUCKET_WRITE, asked_acl, widened
from .unkept import refuse_unkept
from .versions import written_header

MAX_FIELD = MAX_POLICY + 1024  # bytes of one field before the file (the policy is the longest)
FILENAME = "${filename}"
# The fields a form may carry (lower case), and the prefixes of more: what
# is carried out, and what is refused with its own error further on (SSE,
# website redirects, ACL grants, storage classes). Anything else is refused:
# never taken and ignored.
FIELDS = frozenset(("key", "acl", "policy", "awsaccesskeyid", "signature", "x-amz-signature", "x-amz-algorithm",
                    "x-amz-credential", "x-amz-date", "success_action_status", "success_action_redirect", "redirect",
                    "tagging", "content-type", "content-md5", "x-amz-storage-class",
                    "x-amz-website-redirect-location", *(name.lower() for name in STORED_HEADERS)))
FIELD_PREFIXES = ("x-amz-meta-", "x-amz-checksum-", "x-amz-object-lock-", "x-amz-server-side-encryption",
                  "x-amz-grant-", "x-ignore-")


class FormOperations:
    def __init__(self, app, signatures) -> None:
        self.app = app
        self.signatures = signatures

    def post(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        """PostObject: the form read up to its file, its signature and
        policy judged, the file stored under its key."""
        boundary = boundary_of(request.headers.get("Content-Type", ""))
        if boundary is None:
            raise BadRequest("a POST to a bucket is an upload from a form: multipart/form-data"
                             ).as_s3("InvalidArgument")
        handle = BucketHandle.open(self.app, bucket, request)
        limit = self.app.config.max_size
        parts = MultipartReader(request.body(limit + MULTIPART_OVERHEAD), boundary).parts()
        fields = Headers()  # the fields as headers: what a PutObject reads from its headers, read the same way
        file_part = None
        for part in parts:
            if part.name.lower() == "file":
                file_part = part
                break
            if not is_field_name(part.name):  # a field may be given back as a header (x-amz-meta-*)
                raise BadRequest("a form field's name is a header's: letters, digits and -_.!#$%%&'*+^`|~, not %s"
                                 % ascii(part.name[:60])).as_s3("InvalidArgument")
            if part.name in fields:
                raise BadRequest("the form names the field %s twice" % part.name[:60]).as_s3("InvalidArgument")
            if part.name.lower() == "bucket":  # the bucket is the path's (a policy judges the path's)
                part.drain()
                continue
            if part.name.lower() not in FIELDS and not part.name.lower().startswith(FIELD_PREFIXES):
                raise BadRequest("the form field %s is not one a form upload takes here" % part.name[:60]
                                 ).as_s3("InvalidArgument")
            fields.add(part.name, part.read_text(MAX_FIELD))
        if file_part is None:
            raise BadRequest("POST requires exactly one file upload per request: a field named file, the last"
                             ).as_s3("InvalidArgument")
        named = fields.get("key")
        if named is None:
            raise BadRequest("Bucket POST must contain a field named 'key'").as_s3("InvalidArgument")
        filename = posixpath.basename((file_part.filename or "").replace("\\", "/"))
        key = object_key(named.replace(FILENAME, filename))
        judged = {name.lower(): value for name, value in fields.items()}
        judged.update(bucket=bucket, key=key)
        if caller.scopes is None:  # the request itself unsigned: the form's signature says who sent it
            caller = self.signatures.form_caller(judged, caller.mode, request.client)
        size_range = None
        if "policy" in judged:
            policy = read_policy(judged["policy"])
            policy.judge(judged, self.app.records.now())
            size_range = policy.size_range
        need = Need(Scope("data", "create", bucket, key))
        said = enforced(self.app.config, handle.bucket, request, caller, "s3:PutObject", key)  # (its key known now)
        if not (said is not None and said.allowed) and not may(caller, need):
            caller = widened(self.app, caller, BUCKET_WRITE, bucket, key, None, request)
            allow(caller, need, said.why("bucket policy") if said is not None else None)
        if "acl" in fields:
            fields.add("x-amz-acl", fields["acl"])
        refuse_unkept(fields)
        acl = asked_acl(fields, caller.mode, public_access(self.app.config, handle.bucket))
        content_type = media_type(fields.get("Content-Type"), "Content-Type")
        stored_headers, meta = stored_fields(fields)
        described = Described(content_type, stored_headers, meta,
                              lock_fields(fields, handle.bucket, self.app.records.now(), with_body=True),
                              read_tag_set(fields["tagging"].encode("utf-8"), MAX_OBJECT_TAGS)
                              if "tagging" in fields else None, acl)
        write = handle.write_to(key, may_replace(caller, handle, key))
        least, most = size_range or (0, limit)
        sized = _Sized(file_part, min(most, limit), most < limit)
        stream = Checked(sized, fields, None)

        def checks(oid: str) -> Dict[str, str]:
            if sized.count < least:
                raise BadRequest("the file is %d bytes; the policy asks at least %d" % (sized.count, least)
                                 ).as_s3("EntityTooSmall")
            return stream.checked(oid)

        with stream:
            _, written = write.store(stream, described, checks, stream.etag)
        for part in parts:  # fields after the file are dropped, as S3 drops them
            part.drain()
        return _answer(request, fields, bucket, key, written)


class _Sized:
    """The file's bytes, counted; past ``most`` refused at once
    (``EntityTooLarge``: 400 where the policy set it, 413 at the daemon's
    own limit)."""

    def __init__(self, stream, most: int, by_policy: bool) -> None:
        self._stream = stream
        self._most = most
        self._by_policy = by_policy
        self.count = 0

    def readinto(self, buffer: memoryview) -> int:
        count = self._stream.readinto(buffer)
        self.count += count
        if self.count > self._most:
            error = (BadRequest("the file is over the %d bytes the policy allows" % self._most) if self._by_policy
                     else TooLarge("the file is over the %d-byte limit" % self._most))
            raise error.as_s3("EntityTooLarge")
        return count


def _answer(request: Request, fields: Headers, bucket: str, key: str, entry: Entry) -> Response:
    etag = '"%s"' % entry.etag
    location = "%s/%s/%s" % (request.base_url, quote(bucket), quote(key))
    headers: Dict[str, str] = {"ETag": etag, "Location": location}
    headers.update(written_header(entry))
    for name, value in entry.checksums.items():
        headers[CHECKSUM + name] = value
    redirect = _redirect(fields.get("success_action_redirect") or fields.get("redirect"))
    if redirect is not None:
        query = "bucket=%s&key=%s&etag=%s" % (quote(bucket, safe=""), quote(key, safe=""), quote(etag, safe=""))
        headers["Location"] = redirect + ("&" if urlsplit(redirect).query else "?") + query
        return EmptyResponse(303, headers)
    status = (fields.get("success_action_status") or "").strip()
    if status == "201":
        return xml_answer(201, "PostResponse", [Element("Location", location), Element("Bucket", bucket),
                                                Element("Key", key), Element("ETag", etag)], headers,
                          namespace=False)  # as S3 writes it
    return EmptyResponse(200 if status == "200" else 204, headers)


def _redirect(value: Optional[str]) -> Optional[str]:
    """Where a form asked to be sent once stored: an absolute http(s) URL
    that may go into a header as it is; None for none."""
    url = header_value(value, "success_action_redirect", 2048)
    if not url:
        return None
    if urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).netloc:
        raise BadRequest("success_action_redirect is an absolute http or https URL").as_s3("InvalidArgument")
    return url
