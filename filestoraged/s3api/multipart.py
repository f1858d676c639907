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
is S3's: the MD5 of the parts' MD5s, ``-N``. An upload created with a
checksum algorithm takes each part's as it arrives and makes the object's
from them (``checksums``); a completion's stated checksums, of the parts
and of the whole, are checked before the parts are touched.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import closing
from typing import Dict, List, Optional, Tuple

from ..base.header_values import media_type
from ..catalog.handle import BucketHandle, Described, PartsLayout
from ..catalog.parts import Part
from ..catalog.unfinished import MAX_PART
from ..errors import BadRequest, NotFound, RangeNotSatisfiable, TooLarge
from ..storage.interface import ObjectStream
from ..storage.names import repository
from ..web.messages import EmptyResponse, Request, Response
from ..wire.conditions import Validators, judge_source, write_conditions
from ..wire.fields import whole_number
from .answers import MAX_XML, Element, children, iso_time, owner, read_xml, text_of, xml_answer
from ..catalog.public_access import public_access
from .acls import OWNER
from .checksums import (ALGORITHMS, CHECKSUM, COMPOSITE, REFUSED, UploadChecksum, kind_of, known, sha256_of,
                        upload_checksum)
from .tagging import tags_of_header
from .objects import copy_source, may_replace, part_number, read_source, stored_fields
from .versions import written_header
from .object_lock import lock_fields
from .payloads import Digested, body_stream
from .signatures import Caller
from .acls import asked_acl
from .unkept import refuse_unkept

MIN_PART = 5 * 1024 * 1024  # bytes every part but the last must hold, as S3 asks
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


class MultipartOperations:
    def __init__(self, app) -> None:
        self.app = app
        self.unfinished = app.unfinished

    def create(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = BucketHandle.open(self.app, bucket, request)
        refuse_unkept(request.headers)
        acl = asked_acl(request.headers, caller.mode, public_access(self.app.config, found.bucket))
        found.write_to(key, may_replace(caller, found, key))  # an append-only key learns now, not at completion
        headers, meta = stored_fields(request.headers)
        checksum = upload_checksum(request.headers)
        lock = lock_fields(request.headers, found.bucket, self.app.records.now())
        tags = tags_of_header(request.headers)
        fields: Dict[str, object] = {"content_type": media_type(request.headers.get("Content-Type")),
                                     "headers": headers, "meta": meta}
        if lock is not None:
            fields["lock"] = lock
        if tags is not None:
            fields["tags"] = tags
        if acl is not None:
            fields["acl"] = acl
        if checksum is not None:
            fields["checksum"] = checksum.record()
        upload = self.unfinished.create(bucket, key, fields)
        answer = xml_answer(200, "InitiateMultipartUploadResult", [Element("Bucket", bucket), Element("Key", key),
                                                                   Element("UploadId", upload.id)])
        if checksum is not None:
            answer.headers.update(checksum.headers())
        return answer

    def upload_part(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        upload = self._upload(request, bucket, key)
        number = part_number(request)
        checksum = _checksum(upload)
        stream = body_stream(request, caller, self.app.config.max_size, checksum and checksum.algorithm)
        with stream:
            part = self.unfinished.put_part(upload, number, stream, stream.etag, stream.verify,
                                            _part_checksum(stream, checksum))
        answer = {"ETag": '"%s"' % part.etag}
        answer.update(("x-amz-checksum-" + name, value) for name, value in stream.checksums(part.oid).items())
        return EmptyResponse(200, answer)

    def copy_part(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        upload = self._upload(request, bucket, key)
        number = part_number(request)
        source_bucket, source_key, source_version = copy_source(request.headers["x-amz-copy-source"])
        source = read_source(self.app, request, caller, source_bucket, source_key, source_version)
        judge_source(request.headers, Validators(source.etag, source.modified))
        start, end = _copy_range(request.headers.get("x-amz-copy-source-range"), source.size)
        checksum = _checksum(upload)
        with self.app.backend.open(repository(source_bucket), source.oid) as obj, \
                closing(ObjectStream(obj, start, end)) as read:
            stream = Digested(read, (checksum.algorithm,) if checksum else ())
            with stream:
                part = self.unfinished.put_part(upload, number, stream, stream.etag, lambda oid: None,
                                                _part_checksum(stream, checksum))
        items = [Element("LastModified", iso_time(part.modified)), Element("ETag", '"%s"' % part.etag)]
        if checksum is not None:
            items.append(Element("Checksum" + checksum.algorithm.upper(), part.checksum))
        return xml_answer(200, "CopyPartResult", items)

    def complete(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = BucketHandle.open(self.app, bucket, request)
        try:
            upload = self._unfinished(request, bucket, key)
        except NotFound:
            return self._completed_before(request, bucket, key)
        if_match, if_none_match = write_conditions(request.headers)
        write = found.write_to(key, may_replace(caller, found, key), if_match, if_none_match)
        root = read_xml(request.body(MAX_XML).read_all(), "CompleteMultipartUpload")
        checksum = _checksum(upload)
        asked = [(_listed_number(item), (text_of(item, "ETag") or "").strip().strip('"'), _listed_checksum(item))
                 for item in children(root, "Part")]
        if not asked:
            raise BadRequest("a completion names at least one part").as_s3("MalformedXML")
        if any(first[0] >= second[0] for first, second in zip(asked, asked[1:])):
            raise BadRequest("the parts are not in ascending order").as_s3("InvalidPartOrder")
        stored = {part.number: part for part in self.unfinished.parts(upload.id)}
        parts: List[Part] = []
        for number, etag, stated in asked:
            part = stored.get(number)
            if part is None or part.etag != etag:
                earlier = self._ended_meanwhile(request, bucket, key, upload.id)
                if earlier is not None:
                    return earlier
                raise BadRequest("part %d was not uploaded with that ETag" % number).as_s3("InvalidPart")
            _check_part(part, stated, checksum)
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
        kept, stated_sha256 = _object_checksums(request.headers, checksum, parts, total)
        fields: Dict = upload.fields

        described = Described(fields.get("content_type"), dict(fields.get("headers") or {}),
                              dict(fields.get("meta") or {}), fields.get("lock"), fields.get("tags"), fields.get("acl"))

        layout = PartsLayout(len(parts), [part.size for part in parts],
                             [part.checksum for part in parts] if checksum else None)

        def whole(oid: str) -> Dict[str, str]:
            if stated_sha256 is not None and stated_sha256 != sha256_of(oid):
                raise BadRequest("the SHA256 you specified did not match the object's").as_s3("BadDigest")
            return kept

        with self.unfinished.completing(upload.id):  # completions of one upload in turn (on one machine)
            earlier = self._ended_meanwhile(request, bucket, key, upload.id)  # by the one this one waited for
            if earlier is not None:
                return earlier
            try:
                with closing(self.unfinished.stream(upload.id, parts)) as stream:
                    _, written = write.store(stream, described, whole, lambda: etag, layout)
            except (OSError, NotFound):
                earlier = self._ended_meanwhile(request, bucket, key, upload.id)
                if earlier is not None:
                    return earlier
                raise
            headers = written_header(written)
            self.unfinished.completed(upload, etag, kept, headers)
        return _completion_answer(request, bucket, key, etag, kept, headers)

    def _ended_meanwhile(self, request: Request, bucket: str, key: str, upload_id: str) -> Optional[Response]:
        """Where a completion found its upload's parts gone: the answer of
        another completion that ended the upload meanwhile (S3 answers a
        completion sent again so); ``NotFound`` (NoSuchUpload, as S3 says)
        where an abort ended it; None while the upload is under way."""
        if self.unfinished.completion(bucket, upload_id, key) is not None:
            return self._completed_before(request, bucket, key)
        self.unfinished.get(bucket, upload_id)
        return None

    def _completed_before(self, request: Request, bucket: str, key: str) -> Response:
        """A completion of an upload that completed already (a client retries
        one whose answer it lost): the same answer, with the same ETag;
        ``NotFound`` (NoSuchUpload) if it never did."""
        upload_id = request.query.get("uploadId", "")
        completion = self.unfinished.completion(bucket, upload_id, key)
        if completion is None:
            raise NotFound("no upload %s in bucket %s (aborted, expired, or never made)"
                           % (upload_id[:40], bucket)).as_s3("NoSuchUpload")
        return _completion_answer(request, bucket, key, *completion)

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


def _completion_answer(request: Request, bucket: str, key: str, etag: str, checksums: Dict[str, str],
                       headers: Dict[str, str]) -> Response:
    items = [Element("Location", "%s/%s/%s" % (request.base_url, bucket, key)), Element("Bucket", bucket),
             Element("Key", key), Element("ETag", '"%s"' % etag)]
    items += [Element("Checksum" + algorithm.upper(), value) for algorithm, value in checksums.items()]
    if checksums:
        items.append(Element("ChecksumType", kind_of(checksums)))
    return xml_answer(200, "CompleteMultipartUploadResult", items, headers)


def _listed_number(item) -> int:
    try:
        return whole_number(text_of(item, "PartNumber") or "0", "a part number", 0, 1, MAX_PART)
    except BadRequest as error:
        raise error.as_s3("MalformedXML") from None


def _checksum(upload) -> Optional[UploadChecksum]:
    return UploadChecksum.of(upload.fields.get("checksum"))


def _part_checksum(stream, checksum: Optional[UploadChecksum]):
    """What a part of an upload created with ``checksum`` keeps of it (None: nothing)."""
    if checksum is None:
        return None
    return lambda oid: stream.checksums(oid)[checksum.algorithm]


def _listed_checksum(item) -> Optional[Tuple[str, str]]:
    """``(algorithm, value)`` of a completion's ``<Part>`` (its
    ``ChecksumCRC32`` and the like), None if it states none."""
    found = None
    for algorithm in ALGORITHMS + REFUSED:
        value = text_of(item, "Checksum" + algorithm.upper())
        if value is not None:
            if found is not None:
                raise BadRequest("a <Part> states one checksum").as_s3("InvalidRequest")
            found = (known(algorithm, "a <Part>"), value.strip())
    return found


def _check_part(part: Part, stated: Optional[Tuple[str, str]], checksum: Optional[UploadChecksum]) -> None:
    """A completion's ``<Part>`` against the part kept: its checksum, if it
    states one, is the part's; an upload made for COMPOSITE checksums names
    each part's, as S3 asks (it makes the object's)."""
    if stated is None:
        if checksum is not None and checksum.kind == COMPOSITE:
            raise BadRequest("the upload was created with a %s checksum: the completion names each part's, and "
                             "part %d's is missing" % (checksum.algorithm, part.number)).as_s3("InvalidRequest")
        return
    algorithm, value = stated
    if checksum is None or algorithm != checksum.algorithm:
        raise BadRequest("part %d states a %s checksum; the upload was created with %s"
                         % (part.number, algorithm, checksum.algorithm if checksum else "none")
                         ).as_s3("InvalidRequest")
    if value != part.checksum:
        raise BadRequest("part %d's %s is not the one it was uploaded with" % (part.number, algorithm.upper())
                         ).as_s3("InvalidPart")


def _object_checksums(headers, checksum: Optional[UploadChecksum], parts: List[Part], total: int
                      ) -> Tuple[Dict[str, str], Optional[str]]:
    """``(kept, sha256)``: the checksums the object keeps (made from its
    parts'), each whole-object checksum the completion states checked
    against them, and a stated full SHA-256 (checked against the object's
    id as it is made). A checksum that cannot be checked is refused."""
    kept: Dict[str, str] = {}
    if checksum is not None:
        kept[checksum.algorithm] = checksum.of_parts([part.checksum for part in parts], [part.size for part in parts])
    kind = headers.get("x-amz-checksum-type")
    if kind is not None and (checksum is None or kind.strip().upper() != checksum.kind):
        raise BadRequest("x-amz-checksum-type is not the one the upload was created with").as_s3("InvalidRequest")
    size = headers.get("x-amz-mp-object-size")
    if size is not None and size.strip() != str(total):
        raise BadRequest("the parts hold %d bytes, not x-amz-mp-object-size's %s" % (total, size.strip()[:20])
                         ).as_s3("InvalidRequest")
    sha256 = None
    for algorithm in ALGORITHMS + REFUSED:
        value = headers.get(CHECKSUM + algorithm)
        if value is None:
            continue
        algorithm, value = known(algorithm, "the completion"), value.strip()
        if algorithm in kept:
            if value not in (kept[algorithm], kept[algorithm].split("-")[0]):
                raise BadRequest("the %s you specified did not match the calculated checksum" % algorithm.upper()
                                 ).as_s3("BadDigest")
        elif algorithm == "sha256":
            sha256 = value
        else:
            raise BadRequest("the object's %s is not known: the upload was not created with "
                             "x-amz-checksum-algorithm %s" % (algorithm, algorithm.upper())).as_s3("InvalidRequest")
    return kept, sha256


def _copy_range(value, size: int):
    if value is None:
        return 0, size
    found = _RANGE.fullmatch(value.strip())
    if found is None or int(found.group(1)) > int(found.group(2)):
        raise BadRequest("x-amz-copy-source-range is bytes=first-last").as_s3("InvalidArgument")
    if int(found.group(2)) >= size:
        raise RangeNotSatisfiable(size, "x-amz-copy-source-range ends past the source's %d bytes" % size
                                  ).as_s3("InvalidRange")
    return int(found.group(1)), int(found.group(2)) + 1



