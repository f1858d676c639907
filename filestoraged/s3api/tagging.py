"""S3 tagging: an object version's tags (Put/Get/DeleteObjectTagging, and
``x-amz-tagging`` on PutObject, CopyObject and CreateMultipartUpload, with
CopyObject's ``x-amz-tagging-directive``), a bucket's tags
(Put/Get/DeleteBucketTagging), and the ``x-amz-tagging-count`` a GET or
HEAD gives. Tags are kept with the version they were given to, as S3
keeps them: at most 10 an object (50 a bucket), keys of
1-128 characters, values of up to 256, no key twice (``InvalidTag``).
Changing an object's tags changes nothing else of it, and is allowed on a
version under an object lock, as in S3. Tags are given back in the order
of their keys (a header's ``bar`` alone is the key ``bar`` with an empty
value)."""

from __future__ import annotations

from typing import Dict, Optional
from urllib.parse import parse_qsl

from ..catalog.handle import BucketHandle
from ..catalog.keys import Entry
from ..catalog.tags import MAX_BUCKET_TAGS, MAX_OBJECT_TAGS, checked_tags
from ..errors import BadRequest, NotFound
from ..web.messages import EmptyResponse, Request, Response
from .answers import MAX_XML, Element, child, children, read_xml, text_of, xml_answer
from .signatures import Caller
from .versions import version_header



class TaggingOperations:
    def __init__(self, app) -> None:
        self.app = app
        self.buckets = app.buckets

    def put_object(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = BucketHandle.open(self.app, bucket, request)
        tags = read_tag_set(request.body(MAX_XML).read_all(), MAX_OBJECT_TAGS)

        def tagged(entry: Entry) -> None:
            entry.tags = tags or None

        written = found.amend(key, request.query.get("versionId"), tagged)
        return EmptyResponse(200, version_header(found.bucket, written))

    def get_object(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = BucketHandle.open(self.app, bucket, request)
        entry = found.read(key, request.query.get("versionId"))
        answer = _tag_set(entry.tags)
        answer.headers.update(version_header(found.bucket, entry))
        return answer

    def delete_object(self, request: Request, caller: Caller, bucket: str, key: str) -> Response:
        found = BucketHandle.open(self.app, bucket, request)

        def untagged(entry: Entry) -> None:
            entry.tags = None

        written = found.amend(key, request.query.get("versionId"), untagged)
        return EmptyResponse(204, version_header(found.bucket, written))

    def put_bucket(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        self.buckets.set_tags(found, read_tag_set(request.body(MAX_XML).read_all(), MAX_BUCKET_TAGS) or None)
        return EmptyResponse(204)

    def get_bucket(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        found = self.buckets.require(bucket)
        if not found.tags:
            raise NotFound("the bucket %s has no tags" % bucket).as_s3("NoSuchTagSet")
        return _tag_set(found.tags)

    def delete_bucket(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        self.buckets.set_tags(self.buckets.require(bucket), None)
        return EmptyResponse(204)


def tags_of_header(headers) -> Optional[Dict[str, str]]:
    """A write's ``x-amz-tagging`` (``key=value&key2=value2``, URL-encoded)
    as tags; None where it gives none."""
    value = headers.get("x-amz-tagging")
    if value is None or not value.strip():
        return None
    try:
        pairs = parse_qsl(value.strip(), keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("x-amz-tagging is key=value pairs joined by &, URL-encoded").as_s3("InvalidArgument") from None
    return checked_tags(pairs, MAX_OBJECT_TAGS) or None


def copied_tags(headers, source: Entry) -> Optional[Dict[str, str]]:
    """A CopyObject's tags: the source's (``x-amz-tagging-directive`` COPY,
    the default) or those its ``x-amz-tagging`` gives (REPLACE)."""
    directive = (headers.get("x-amz-tagging-directive") or "COPY").strip().upper()
    if directive not in ("COPY", "REPLACE"):
        raise BadRequest("x-amz-tagging-directive is COPY or REPLACE").as_s3("InvalidArgument")
    return tags_of_header(headers) if directive == "REPLACE" else source.tags


def tagging_headers(entry: Entry) -> Dict[str, str]:
    """What a GET or HEAD says of a version's tags: how many there are."""
    return {"x-amz-tagging-count": str(len(entry.tags))} if entry.tags else {}


def read_tag_set(raw: bytes, most: int) -> Dict[str, str]:
    """A ``<Tagging><TagSet><Tag><Key/><Value/></Tag>…`` document's tags."""
    root = read_xml(raw, "Tagging")
    tag_set = child(root, "TagSet")
    if tag_set is None:
        raise BadRequest("a Tagging holds a TagSet").as_s3("MalformedXML")
    pairs = []
    for tag in children(tag_set, "Tag"):
        name = text_of(tag, "Key")
        if name is None:
            raise BadRequest("every Tag has a Key").as_s3("MalformedXML")
        pairs.append((name, text_of(tag, "Value") or ""))
    return checked_tags(pairs, most)


def _tag_set(tags: Optional[Dict[str, str]]) -> Response:
    items = [Element("Tag", [Element("Key", name), Element("Value", value)]) for name, value in (tags or {}).items()]
    return xml_answer(200, "Tagging", [Element("TagSet", items)])
