"""The S3 API's multipart uploads: CreateMultipartUpload, UploadPart,
UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
ListMultipartUploads, over ``catalog.unfinished`` (any daemon takes the
next part).

Parts are stored as they come, never held in memory (on the disk backend,
parts of one size at their place in one file: ``storage.disk.layout``).
Completing makes the parts named into the object in one pass, each byte
checked: the laid-out file adopted, or the parts read in order (its
SHA-256, hence its id, made in that pass); the key names it only then, so
a stop leaves the key's old object or the new one, never a mix. Its ETag
is S3's: the MD5 of the parts' MD5s, ``-N``.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import closing
from typing import Dict, List

from ..access.scopes import Need, Scope
from ..base.header_values import media_type
from ..catalog.keys import Entry
from ..catalog.parts import Part
from ..catalog.unfinished import MAX_PART
from ..errors import BadRequest, NotFound, TooLarge
from ..storage.interface import ObjectInfo, ObjectStream
from ..storage.names import repository
from ..uploads.targets import S3KeyTarget
from ..web.messages import EmptyResponse, Request, Response
from ..wire.fields import whole_number
from .answers import MAX_XML, Element, children, iso_time, owner, read_xml, text_of, xml_answer
from .buckets import OWNER
from .objects import copy_source, judge_copy_conditions, part_number, stored_fields, write_conditions
from .payloads import Digested, body_stream
from .signatures import Caller, allow
from .unkept import refuse_unkept

MIN_PART = 5 * 1024 * 1024  # bytes every part but the last must hold, as S3 asks
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


class MultipartOperations:
    def __init__(self, app) -> None:
        self.app = app
        self.unfinished = app.unfinished

    def create(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        self.app.buckets.require(bucket)
        refuse_unkept(request.headers, caller.mode)
        headers, meta = stored_fields(request.headers)
        upload = self.unfinished.create(bucket, key, {"content_type": media_type(request.headers.get("Content-Type")),
                                                      "headers": headers, "meta": meta})
        return xml_answer(200, "InitiateMultipartUploadResult", [Element("Bucket", bucket), Element("Key", key),
                                                                 Element("UploadId", upload.id)])

    def upload_part(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        upload = self._upload(request, bucket, key)
        number = part_number(request)
        stream = body_stream(request, caller, self.app.config.max_size)
        with stream:
            part = self.unfinished.put_part(upload, number, stream, stream.etag, stream.verify)
        answer = {"ETag": '"%s"' % part.etag}
        answer.update(("x-amz-checksum-" + name, value) for name, value in stream.checksums(part.oid).items())
        return EmptyResponse(200, answer)

    def copy_part(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        upload = self._upload(request, bucket, key)
        number = part_number(request)
        source_bucket, source_key = copy_source(request.headers["x-amz-copy-source"])
        allow(caller, _read(source_bucket))
        source = self.app.keys.get(source_bucket, source_key)
        if source is None:
            raise NotFound("no key %s in bucket %s" % (source_key[:200], source_bucket)).as_s3("NoSuchKey")
        judge_copy_conditions(request.headers, source)
        start, end = _copy_range(request.headers.get("x-amz-copy-source-range"), source.size)
        with self.app.backend.open(repository(source_bucket), source.oid) as obj, \
                closing(ObjectStream(obj, start, end)) as read:
            stream = Digested(read)
            with stream:
                part = self.unfinished.put_part(upload, number, stream, stream.etag, lambda oid: None)
        return xml_answer(200, "CopyPartResult", [Element("LastModified", iso_time(part.modified)),
                                                  Element("ETag", '"%s"' % part.etag)])

    def complete(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        self.app.buckets.require(bucket)
        try:
            upload = self._unfinished(request, bucket, key)
        except NotFound:
            return self._completed_before(request, bucket, key)
        if_match, if_none_match = write_conditions(request.headers)
        root = read_xml(request.body(MAX_XML).read_all(), "CompleteMultipartUpload")
        asked = [(_listed_number(item), (text_of(item, "ETag") or "").strip().strip('"'))
                 for item in children(root, "Part")]
        if not asked:
            raise BadRequest("a completion names at least one part").as_s3("MalformedXML")
        if any(first[0] >= second[0] for first, second in zip(asked, asked[1:])):
            raise BadRequest("the parts are not in ascending order").as_s3("InvalidPartOrder")
        stored = {part.number: part for part in self.unfinished.parts(upload.id)}
        parts: List[Part] = []
        for number, etag in asked:
            part = stored.get(number)
            if part is None or part.etag != etag:
                raise BadRequest("part %d was not uploaded with that ETag" % number).as_s3("InvalidPart")
            parts.append(part)
        for part in parts[:-1]:
            if part.size < MIN_PART:
                raise BadRequest("part %d holds %d bytes: every part but the last holds at least %d"
                                 % (part.number, part.size, MIN_PART)).as_s3("EntityTooSmall")
        total = sum(part.size for part in parts)
        if total > self.app.config.max_size:
            raise TooLarge("the object would be %d bytes; the limit is %d" % (total, self.app.config.max_size)
                           ).as_s3("EntityTooLarge")
        digests = b"".join(bytes.fromhex(part.etag) for part in parts)
        etag = "%s-%d" % (hashlib.md5(digests).hexdigest(), len(parts))
        fields: Dict = upload.fields

        def entry(info: ObjectInfo) -> Entry:
            return Entry(info.oid, info.size, etag, self.app.records.now(), fields.get("content_type"),
                         dict(fields.get("headers") or {}), dict(fields.get("meta") or {}), {}, len(parts),
                         [part.size for part in parts])

        target = S3KeyTarget(self.app, bucket, key, fields.get("content_type"), lambda oid: None, entry, if_match,
                             if_none_match)
        try:
            with closing(self.unfinished.stream(upload.id, parts)) as stream:
                target.store(stream)
        except (OSError, NotFound):
            # Another completion of the same upload (or its abort) took the
            # parts away under this one: answered as that one was, or the
            # upload is over (aborted), as S3 says.
            if self.unfinished.completion(bucket, upload.id, key) is not None:
                return self._completed_before(request, bucket, key)
            self.unfinished.get(bucket, upload.id)
            raise
        self.unfinished.completed(upload, etag)
        return _completion_answer(request, bucket, key, etag)

    def _completed_before(self, request: Request, bucket: str, key: str) -> Response:
        """A completion of an upload that completed already (a client retries
        one whose answer it lost): the same answer, with the same ETag;
        ``NotFound`` (NoSuchUpload) if it never did."""
        upload_id = request.query.get("uploadId", "")
        etag = self.unfinished.completion(bucket, upload_id, key)
        if etag is None:
            raise NotFound("no upload %s in bucket %s (aborted, expired, or never made)"
                           % (upload_id[:40], bucket)).as_s3("NoSuchUpload")
        return _completion_answer(request, bucket, key, etag)

    def abort(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        self.unfinished.remove(self._upload(request, bucket, key))
        return EmptyResponse(204)

    def list_parts(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        upload = self._upload(request, bucket, key)
        query = request.query
        most = min(whole_number(query.get("max-parts"), "max-parts", 1000, 0, 2 ** 31 - 1), 1000)
        marker = whole_number(query.get("part-number-marker"), "part-number-marker", 0, 0, MAX_PART)
        parts = self.unfinished.parts(upload.id, marker, most + 1)
        truncated = len(parts) > most
        parts = parts[:most]
        items = [Element("Bucket", bucket), Element("Key", key), Element("UploadId", upload.id),
                 Element("PartNumberMarker", str(marker)),
                 Element("NextPartNumberMarker", str(parts[-1].number if parts else marker)),
                 Element("MaxParts", str(most)), Element("IsTruncated", "true" if truncated else "false"),
                 Element("Initiator", owner(OWNER)), Element("Owner", owner(OWNER)),
                 Element("StorageClass", "STANDARD")]
        items += [Element("Part", [Element("PartNumber", str(part.number)),
                                   Element("LastModified", iso_time(part.modified)),
                                   Element("ETag", '"%s"' % part.etag), Element("Size", str(part.size))])
                  for part in parts]
        return xml_answer(200, "ListPartsResult", items)

    def list_uploads(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        self.app.buckets.require(bucket)
        query = request.query
        most = min(whole_number(query.get("max-uploads"), "max-uploads", 1000, 0, 2 ** 31 - 1), 1000)
        prefix = query.get("prefix", "")
        found = [upload for upload in self.unfinished.in_bucket(bucket, query.get("key-marker", ""),
                                                                  query.get("upload-id-marker", ""))
                 if upload.key.startswith(prefix)]
        truncated = len(found) > most
        found = found[:most]
        items = [Element("Bucket", bucket), Element("KeyMarker", query.get("key-marker", "")),
                 Element("UploadIdMarker", query.get("upload-id-marker", "")), Element("Prefix", prefix),
                 Element("MaxUploads", str(most)), Element("IsTruncated", "true" if truncated else "false")]
        if truncated and found:
            items += [Element("NextKeyMarker", found[-1].key), Element("NextUploadIdMarker", found[-1].id)]
        items += [Element("Upload", [Element("Key", upload.key), Element("UploadId", upload.id),
                                     Element("Initiator", owner(OWNER)), Element("Owner", owner(OWNER)),
                                     Element("StorageClass", "STANDARD"),
                                     Element("Initiated", iso_time(upload.created))]) for upload in found]
        return xml_answer(200, "ListMultipartUploadsResult", items)

    def _upload(self, request: Request, bucket: str, key: str):
        """The upload the request names, of a bucket that stands."""
        self.app.buckets.require(bucket)
        return self._unfinished(request, bucket, key)

    def _unfinished(self, request: Request, bucket: str, key: str):
        """The upload the request names (``NotFound``, NoSuchUpload: none
        unfinished, or one of another key)."""
        upload = self.unfinished.get(bucket, request.query.get("uploadId", ""))
        if upload.key != key:
            raise NotFound("the upload %s is for another key" % upload.id).as_s3("NoSuchUpload")
        return upload


def _completion_answer(request: Request, bucket: str, key: str, etag: str) -> Response:
    return xml_answer(200, "CompleteMultipartUploadResult", [
        Element("Location", "%s/%s/%s" % (request.base_url, bucket, key)), Element("Bucket", bucket),
        Element("Key", key), Element("ETag", '"%s"' % etag)])


def _listed_number(item) -> int:
    try:
        return whole_number(text_of(item, "PartNumber") or "0", "a part number", 0, 1, MAX_PART)
    except BadRequest as error:
        raise error.as_s3("MalformedXML") from None


def _copy_range(value, size: int):
    if value is None:
        return 0, size
    found = _RANGE.fullmatch(value.strip())
    if found is None or int(found.group(1)) > int(found.group(2)) or int(found.group(2)) >= size:
        raise BadRequest("x-amz-copy-source-range is bytes=first-last within the source").as_s3("InvalidArgument")
    return int(found.group(1)), int(found.group(2)) + 1


def _read(bucket: str) -> Need:
    return Need(Scope("data", "read", bucket))


