"""The S3 API's object operations: PutObject (every payload mode, its
checks, conditional), GetObject and HeadObject (ranges, conditions,
``response-*`` overrides, checksums on request), DeleteObject,
DeleteObjects, CopyObject (a new name for the same bytes: nothing copied
within a bucket).

A PUT is the one write every face makes (``catalog.handle.KeyWrite``):
the body, checked as it passes (``payloads``), stored in the bucket's
repository, and the key made to name it. Every GET is a checked read of
the stored object, ranges included, as on ``/data``.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple
from urllib.parse import unquote

from ..access.actions import action_of
from ..access.scopes import Need, Scope
from ..base.header_values import header_value, media_type
from ..catalog.keys import STORED_HEADERS, Entry
from ..catalog.keyspace import Forgotten
from ..catalog.handle import BucketHandle, Described
from ..catalog.heads import checked_id
from ..catalog.unfinished import MAX_PART
from ..catalog.names import object_key
from ..errors import (BadRequest, FileStoreError, NotImplementedHere,
                      RangeNotSatisfiable)
from ..storage.names import repository
from ..wire.conditions import Validators, judge, judge_source
from ..wire.fields import whole_number
from ..wire.response_head import date_text
from ..web.messages import EmptyResponse, ObjectResponse, PreparedResponse, Request, Response
from .answers import MAX_XML, Element, children, code_of, iso_time, read_xml, text_of, xml_answer
from ..wire.conditions import write_conditions
from .conditions import delete_conditions, listed_delete_conditions
from .checksums import CHECKSUM, FULL_OBJECT, kind_of, sha256_of
from .payloads import body_stream
from .object_lock import bypass_asked, lock_fields, lock_headers
from .policies import enforced
from ..catalog.public_access import public_access
from .answered import Answered, plain
from .signatures import Caller, allow, allow_user, may
from .tagging import copied_tags, tagging_headers, tags_of_header
from .versions import version_header, written_header
from .acls import asked_acl
from .unkept import refuse_unkept

MAX_META = 2048  # bytes of x-amz-meta-* names and values together, as S3 allows
MAX_DELETE = 1000  # keys in one DeleteObjects
_STORED = frozenset(name.lower() for name in STORED_HEADERS)
ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")  # what GetObjectAttributes gives
DEFAULT_TYPE = "binary/octet-stream"  # what S3 gives an object stored without a type
# response-* query parameters and the header each sets in a GET's answer.
OVERRIDES = {"response-content-type": "Content-Type", "response-content-language": "Content-Language",
             "response-expires": "Expires", "response-cache-control": "Cache-Control",
             "response-content-disposition": "Content-Disposition", "response-content-encoding": "Content-Encoding"}


class ObjectOperations:
    def __init__(self, app) -> None:
        self.app = app
        self.keys = app.keys
        self.buckets = app.buckets
        self.answered = Answered()  # small objects' answers, by key (``answered``)

    # -- PUT ----------------------------------------------------------------------

    def put(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = BucketHandle.open(self.app, bucket, request)
        headers = request.headers
        refuse_unkept(headers)
        acl = asked_acl(headers, caller.mode, public_access(self.app.config, found.bucket))
        content_type = media_type(headers.get("Content-Type"))
        stored_headers, meta = stored_fields(headers)
        described = Described(content_type, stored_headers, meta,
                              lock_fields(headers, found.bucket, self.app.records.now(), with_body=True),
                              tags_of_header(headers), acl)
        if_match, if_none_match = write_conditions(headers)
        write = found.write_to(key, may_replace(caller, found, key), if_match, if_none_match)
        stream = body_stream(request, caller, self.app.config.max_size)
        with stream:
            _, written = write.store(stream, described, stream.checked, stream.etag)
        answer = {"ETag": '"%s"' % written.etag}
        for algorithm, value in written.checksums.items():
            answer[CHECKSUM + algorithm] = value
        if written.checksums:
            answer["x-amz-checksum-type"] = FULL_OBJECT
        answer.update(written_header(written))
        return EmptyResponse(200, answer)

    # -- GET, HEAD ----------------------------------------------------------------

    def get(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        if caller.scopes is None and caller.mode == "writes" and any(name in request.query for name in OVERRIDES):
            raise BadRequest("Request specific response headers cannot be used for anonymous GET requests"
                             ).as_s3("InvalidRequest")
        found = BucketHandle.open(self.app, bucket, request)
        entry = found.read(key, request.query.get("versionId"))
        kept_here = plain(request.raw_query, request.headers)
        if kept_here:  # (judged already: its signature, scopes and policies)
            kept = self.answered.find(bucket, key, entry, bool(found.bucket.versioning))
            if kept is not None:
                return PreparedResponse(200, kept.fields, kept.body)
        span = _part_span(request, entry)
        # Checksums are of what is served: the whole object's, a part's own
        # (as S3), none for a range.
        asked = request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED" and "Range" not in request.headers
        headers = entry_headers(entry, asked and span is None)
        if asked and span is not None:
            headers.update(_part_checksum(entry, part_number(request)))
        headers.update(version_header(found.bucket, entry))
        if judge(request.headers, Validators(entry.etag, entry.modified)):  # 304
            return EmptyResponse(304, {name: value for name, value in headers.items()
                                       if name in ("ETag", "Last-Modified")})
        query = request.query
        if query:
            for name, header in OVERRIDES.items():
                if name in query:
                    headers[header] = header_value(query[name], name) or ""
        obj = self.app.backend.open(repository(bucket), entry.oid)
        keep = (self.answered.keeper(bucket, key, entry, bool(found.bucket.versioning))
                if kept_here and request.method == "GET" else None)
        return ObjectResponse(obj, headers, content_type=entry.content_type or DEFAULT_TYPE, immutable=False,
                              etag=entry.etag, modified=entry.modified, span=span, keep=keep)

    def attributes(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        """GetObjectAttributes: what ``x-amz-object-attributes`` names of
        the key's object (ETag, Checksum, ObjectParts, StorageClass,
        ObjectSize), its parts paged by ``x-amz-max-parts`` and
        ``x-amz-part-number-marker``."""
        asked = [name.strip() for name in (request.headers.get("x-amz-object-attributes") or "").split(",")
                 if name.strip()]
        unknown = [name for name in asked if name not in ATTRIBUTES]
        if not asked or unknown:
            raise BadRequest("x-amz-object-attributes names one or more of %s%s" % (
                ", ".join(ATTRIBUTES), "; not %s" % unknown[0][:40] if unknown else "")).as_s3("InvalidArgument")
        found = BucketHandle.open(self.app, bucket, request)
        entry = found.read(key, request.query.get("versionId"))
        items: List[Element] = []
        if "ETag" in asked:
            items.append(Element("ETag", entry.etag))
        if "Checksum" in asked:
            sums = dict(entry.checksums)
            sums.setdefault("sha256", sha256_of(entry.oid))
            items.append(Element("Checksum", [Element("Checksum" + name.upper(), value) for name, value in sums.items()]
                                 + [Element("ChecksumType", kind_of(entry.checksums))]))
        if "ObjectParts" in asked and entry.parts:
            items.append(_object_parts(request, entry))
        if "StorageClass" in asked:
            items.append(Element("StorageClass", "STANDARD"))
        if "ObjectSize" in asked:
            items.append(Element("ObjectSize", str(entry.size)))
        return xml_answer(200, "GetObjectAttributesResponse", items,
                          {"Last-Modified": date_text(int(entry.modified)),
                           **version_header(found.bucket, entry)})

    # -- DELETE -------------------------------------------------------------------

    def delete(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        forgotten = BucketHandle.open(self.app, bucket, request).delete(key, request.query.get("versionId"),
                                                               bypass_asked(request, caller),
                                                               delete_conditions(request.headers))
        answer = {}
        if forgotten.version is not None:
            answer["x-amz-version-id"] = forgotten.version
        if forgotten.marker:
            answer["x-amz-delete-marker"] = "true"
        return EmptyResponse(204, answer)

    def delete_many(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = BucketHandle.open(self.app, bucket, request)
        root = read_xml(request.body(MAX_XML).read_all(), "Delete")
        quiet = (text_of(root, "Quiet") or "").strip().lower() == "true"
        bypass = bypass_asked(request, caller)
        objects = children(root, "Object")
        if len(objects) > MAX_DELETE:
            raise BadRequest("at most %d keys in one DeleteObjects" % MAX_DELETE).as_s3("MalformedXML")
        results: List[Element] = []
        for item in objects:
            name = text_of(item, "Key")
            asked = text_of(item, "VersionId")
            try:
                if name is None:
                    raise BadRequest("an <Object> without its <Key>").as_s3("MalformedXML")
                said = enforced(self.app.config, found.bucket, request, caller, action_of("DeleteObject", asked),
                                object_key(name))
                if caller.by_user and not (said is not None and said.allowed):
                    allow_user(caller, Need(Scope("data", "delete", bucket, object_key(name))),
                               action_of("DeleteObject", asked), bucket, object_key(name))
                forgotten = found.delete(object_key(name), asked, bypass, listed_delete_conditions(item))
                if not quiet:
                    results.append(Element("Deleted", [Element("Key", name)] + _deleted(asked, forgotten)))
            except FileStoreError as error:
                results.append(Element("Error", [Element("Key", name or "")]
                                       + ([Element("VersionId", asked)] if asked is not None else [])
                                       + [Element("Code", code_of(error)), Element("Message", error.text)]))
        return xml_answer(200, "DeleteResult", results)

    # -- COPY ---------------------------------------------------------------------

    def copy(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        """A new name for the bytes another key names: within a bucket the
        same stored object (nothing copied), from another bucket the bytes
        stored in this one (one pass over them)."""
        target = BucketHandle.open(self.app, bucket, request)
        refuse_unkept(request.headers)
        # (never the source's ACL, as S3)
        acl = asked_acl(request.headers, caller.mode, public_access(self.app.config, target.bucket))
        source_bucket, source_key, source_version = copy_source(request.headers["x-amz-copy-source"])
        source = read_source(self.app, request, caller, source_bucket, source_key, source_version)
        judge_source(request.headers, Validators(source.etag, source.modified))
        write = target.write_to(key, may_replace(caller, target, key))
        lock = lock_fields(request.headers, target.bucket, self.app.records.now())
        directive = (request.headers.get("x-amz-metadata-directive") or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise BadRequest("x-amz-metadata-directive is COPY or REPLACE").as_s3("InvalidArgument")
        if directive == "REPLACE":
            stored_headers, meta = stored_fields(request.headers)
            content_type = media_type(request.headers.get("Content-Type"))
        else:
            if source_bucket == bucket and source_key == key and source_version is None:
                raise BadRequest("copying a key onto itself changes nothing: send x-amz-metadata-directive: "
                                 "REPLACE").as_s3("InvalidRequest")
            stored_headers, meta, content_type = dict(source.headers), dict(source.meta), source.content_type
        described = Described(content_type, stored_headers, meta, lock, copied_tags(request.headers, source), acl)
        written = write.copy(source, described, source_bucket)
        headers = written_header(written)
        if source_version is not None:
            headers["x-amz-copy-source-version-id"] = source_version
        return xml_answer(200, "CopyObjectResult", [Element("LastModified", iso_time(written.modified)),
                                                    Element("ETag", '"%s"' % written.etag)], headers)



def read_source(app, request: Request, caller: Caller, bucket: str, key: str, version: Optional[str]) -> Entry:
    """A copy's source (CopyObject, UploadPartCopy), read as a GetObject
    would be: the source bucket's policy, else the token's scopes, judged
    first (a bucket it may not read is 403 whether it is there or not)."""
    said = enforced(app.config, app.buckets.get(bucket), request, caller, action_of("GetObject", version), key)
    if not (said is not None and said.allowed):
        allow(caller, Need(Scope("data", "read", bucket, key)),
              said.why("source bucket's policy") if said is not None else None)
    return BucketHandle.open(app, bucket).read(key, version)


def stored_fields(headers) -> Tuple[Dict[str, str], Dict[str, str]]:
    """The headers a PUT gives that its object keeps, and its ``x-amz-meta-*``
    (lower-case names, values as sent), each checked: they are given back
    as headers."""
    stored: Dict[str, str] = {}
    for name in STORED_HEADERS if headers.has_any(_STORED) else ():
        value = header_value(headers.get(name), name)
        if value and name == "Content-Encoding":  # aws-chunked is how the body came, not what it is
            value = ", ".join(token.strip() for token in value.split(",")
                              if token.strip() and token.strip().lower() != "aws-chunked")
        if value:
            stored[name] = value
    meta: Dict[str, str] = {}
    size = 0
    for lower in headers.starting("x-amz-meta-"):
        if len(lower) > len("x-amz-meta-"):
            value = headers[lower]
            meta[lower[len("x-amz-meta-"):]] = header_value(value, lower, MAX_META) or ""
            size += len(lower) - len("x-amz-meta-") + len(value)
    if size > MAX_META:
        raise BadRequest("x-amz-meta-* holds %d bytes; at most %d" % (size, MAX_META)).as_s3("MetadataTooLarge")
    return stored, meta


def _object_parts(request: Request, entry: Entry) -> Element:
    """GetObjectAttributes' ``ObjectParts`` of a multipart object: the part
    count, and a page of its parts where their sizes were kept."""
    try:
        most = min(whole_number(request.headers.get("x-amz-max-parts"), "x-amz-max-parts", 1000, 0, 2 ** 31 - 1),
                   1000)
        marker = whole_number(request.headers.get("x-amz-part-number-marker"), "x-amz-part-number-marker", 0, 0,
                              MAX_PART)
    except BadRequest as error:
        raise error.as_s3("InvalidArgument") from None
    sizes = entry.part_sizes or []
    algorithm = next(iter(entry.checksums), None)
    shown = range(marker + 1, min(marker + most, len(sizes)) + 1)
    parts = []
    for number in shown:
        fields = [Element("PartNumber", str(number)), Element("Size", str(sizes[number - 1]))]
        if entry.part_checksums and algorithm:
            fields.append(Element("Checksum" + algorithm.upper(), entry.part_checksums[number - 1]))
        parts.append(Element("Part", fields))
    truncated = bool(sizes) and marker + most < len(sizes)
    return Element("ObjectParts", [
        Element("PartsCount", str(entry.parts)), Element("PartNumberMarker", str(marker)),
        Element("NextPartNumberMarker", str(shown[-1] if shown else marker)), Element("MaxParts", str(most)),
        Element("IsTruncated", "true" if truncated else "false")] + parts)


def _part_span(request: Request, entry: Entry) -> Optional[Tuple[int, int]]:
    """The bytes of the part ``?partNumber=`` names, served as a range
    (None when the request names none): S3 keeps a multipart object's
    parts, and so does this server since it kept their sizes."""
    if "partNumber" not in request.query:
        return None
    if "Range" in request.headers:
        raise BadRequest("Cannot specify both Range header and partNumber query parameter").as_s3("InvalidRequest")
    number = part_number(request)
    span = entry.span_of(number)
    if span is None and entry.parts and entry.part_sizes is None:
        raise NotImplementedHere("this object was completed before its parts' sizes were kept: ask for a Range"
                                 ).as_s3("NotImplemented")
    if span is None:
        raise RangeNotSatisfiable(entry.size, "the object has %d part(s), not %d" % (entry.parts or 1, number)
                                  ).as_s3("InvalidPartNumber")
    return span


def _part_checksum(entry: Entry, number: int) -> Dict[str, str]:
    """The checksum part ``number`` was sent with, where the upload kept its parts'."""
    if not entry.part_checksums or not entry.checksums or number > len(entry.part_checksums):
        return {}
    algorithm = next(iter(entry.checksums))
    return {CHECKSUM + algorithm: entry.part_checksums[number - 1], "x-amz-checksum-type": kind_of(entry.checksums)}


def part_number(request: Request) -> int:
    """The request's ``partNumber``, 1 to ``MAX_PART`` (InvalidArgument otherwise)."""
    try:
        return whole_number(request.query.get("partNumber"), "partNumber", 0, 1, MAX_PART)
    except BadRequest as error:
        raise error.as_s3("InvalidArgument") from None


def may_replace(caller: Caller, handle: BucketHandle, key: str) -> bool:
    """Whether ``caller`` may replace ``key`` (``data:BUCKET:write``), not
    only add keys (``data:BUCKET:create``), as ``BucketHandle.write_to`` asks."""
    return may(caller, Need(Scope("data", "write", handle.name, key)))


def entry_headers(entry: Entry, with_checksums: bool) -> Dict[str, str]:
    """What a GET or HEAD of a key answers besides its bytes."""
    headers = {"ETag": '"%s"' % entry.etag, "Last-Modified": date_text(int(entry.modified)),
               "x-amz-storage-class": "STANDARD"}
    headers.update(entry.headers)
    headers.update(("x-amz-meta-" + name, value) for name, value in entry.meta.items())
    if entry.parts:
        headers["x-amz-mp-parts-count"] = str(entry.parts)
    headers.update(lock_headers(entry.lock))
    headers.update(tagging_headers(entry))
    if entry.replication is not None:
        headers["x-amz-replication-status"] = entry.replication
    if with_checksums:
        sums = dict(entry.checksums)
        sums.setdefault("sha256", sha256_of(entry.oid))  # the whole object's SHA-256 is its id
        headers.update((CHECKSUM + name, value) for name, value in sums.items())
        headers["x-amz-checksum-type"] = kind_of(entry.checksums)
    return headers


def copy_source(value: str) -> Tuple[str, str, Optional[str]]:
    """``(bucket, key, version id)`` of ``x-amz-copy-source``:
    ``[/]bucket/key[?versionId=ID]``, percent-encoded."""
    path, _, query = value.partition("?")
    version = None
    if query:
        if not query.startswith("versionId="):
            raise BadRequest("x-amz-copy-source takes ?versionId= only").as_s3("InvalidArgument")
        version = checked_id(query[len("versionId="):])
    try:
        path = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("x-amz-copy-source is not UTF-8 once decoded").as_s3("InvalidArgument") from None
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket or not key:
        raise BadRequest("x-amz-copy-source is /bucket/key").as_s3("InvalidArgument")
    return bucket, object_key(key), version


def _deleted(asked: Optional[str], forgotten: Forgotten) -> List[Element]:
    """What DeleteObjects says of one key it deleted, besides its name."""
    if forgotten.version is None:
        return []
    if asked is not None:
        return [Element("VersionId", asked)] + ([Element("DeleteMarker", "true")] if forgotten.marker else [])
    return [Element("DeleteMarker", "true"), Element("DeleteMarkerVersionId", forgotten.version)]

