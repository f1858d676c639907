"""The S3 API's listings of a bucket's keys: ListObjectsV2, ListObjects
(v1, what rclone and s3cmd ask) and ListObjectVersions (every version and
delete marker; in a bucket that never had versioning each key is one
``null`` version). Each reads one page of the bucket's records from where
the last one ended (``catalog.keys.Keys.page``, ``catalog.versions.
Versions.page``): a page costs the page, whatever the bucket holds.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import List, Tuple
from urllib.parse import quote

from ..catalog.keys import Entry, Page
from ..catalog.heads import checked_id
from ..errors import BadRequest
from ..web.messages import Request, Response
from ..wire.fields import whole_number
from ..wire.xml_text import escaped
from .answers import Element, Markup, document, iso_time, owner, xml_answer
from .acls import OWNER
from .signatures import Caller

MAX_KEYS = 1000
# Characters that URL encoding (quote's always-safe ones and "/") and XML
# escaping both leave as they are.
_PLAIN = re.compile(r"[A-Za-z0-9_.~/-]*")
_XML_TEXT = re.compile("[^\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*")  # what XML 1.0 can carry
_OWNER = document("Owner", owner(OWNER), namespace=False).split("\n", 1)[1]  # <Owner>…</Owner>, once


class ListingOperations:
    def __init__(self, app) -> None:
        self.app = app

    def list_v2(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        query = request.query
        if query.get("list-type") != "2":
            raise BadRequest("list-type is 2 (or left out, for ListObjects)").as_s3("InvalidArgument")
        self.app.buckets.require(bucket)
        form = _Form(query)
        token = query.get("continuation-token")
        # An empty token (some clients send one on the first page) is no token, as in S3.
        after, after_prefix = _token_read(token) if token else (query.get("start-after", ""), False)
        page = self._page(bucket, form, after, after_prefix)
        children = [Element("Name", bucket), form.element("Prefix", form.prefix)]
        if form.delimiter:
            children.append(form.element("Delimiter", form.delimiter))
        children += [Element("MaxKeys", str(form.max_keys)), Element("KeyCount", str(len(page.items))),
                     Element("IsTruncated", _bool(page.truncated))]
        if token is not None:
            children.append(Element("ContinuationToken", token))
        if page.truncated:
            children.append(Element("NextContinuationToken", _token_made(page)))
        if "start-after" in query:
            children.append(form.element("StartAfter", query["start-after"]))
        if form.encoding:
            children.append(Element("EncodingType", "url"))
        children += form.items(page, query.get("fetch-owner", "").lower() == "true")
        return xml_answer(200, "ListBucketResult", children)

    def list_v1(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        form, page, children = self._from_marker(request, bucket)
        if page.truncated and form.delimiter:  # as S3: without a delimiter the last key is the next marker
            children.append(form.element("NextMarker", page.last))
        if form.encoding:
            children.append(Element("EncodingType", "url"))
        children += form.items(page, True)
        return xml_answer(200, "ListBucketResult", children)

    def versions(self, request: Request, caller: Caller, bucket: str, key: None) -> Response:
        query = request.query
        self.app.buckets.require(bucket)
        form = _Form(query)
        key_marker = query.get("key-marker", "")
        version_marker = query.get("version-id-marker", "")
        if version_marker and not key_marker:
            raise BadRequest("A version-id marker cannot be specified without a key marker.").as_s3("InvalidArgument")
        if version_marker:
            checked_id(version_marker)
        page = self.app.versions.page(bucket, form.prefix, form.delimiter, key_marker, version_marker, form.max_keys)
        children = [Element("Name", bucket), form.element("Prefix", form.prefix),
                    form.element("KeyMarker", key_marker), Element("VersionIdMarker", version_marker),
                    Element("MaxKeys", str(form.max_keys))]
        if form.delimiter:
            children.append(form.element("Delimiter", form.delimiter))
        children.append(Element("IsTruncated", _bool(page.truncated)))
        if page.truncated and page.items:
            last = page.items[-1]
            if isinstance(last, str):
                children.append(form.element("NextKeyMarker", last))
            else:
                children += [form.element("NextKeyMarker", last[0].key), Element("NextVersionIdMarker", last[0].id)]
        if form.encoding:
            children.append(Element("EncodingType", "url"))
        out = []
        for item in page.items:
            if isinstance(item, str):
                out.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % form.text(item))
                continue
            version, latest = item
            head = "<Key>%s</Key><VersionId>%s</VersionId><IsLatest>%s</IsLatest>" % (
                form.text(version.key), version.id, _bool(latest))
            if version.entry is None:
                out.append("<DeleteMarker>%s<LastModified>%s</LastModified>%s</DeleteMarker>"
                           % (head, iso_time(version.modified), _OWNER))
            else:
                out.append("<Version>%s%s</Version>" % (head, _facts(version.entry, True)))
        children.append(Markup("".join(out)))
        return xml_answer(200, "ListVersionsResult", children)

    def _from_marker(self, request: Request, bucket: str) -> Tuple["_Form", Page, List[Element]]:
        """ListObjects v1: the page after the key ``marker`` names, and the
        answer's first elements."""
        query = request.query
        self.app.buckets.require(bucket)
        form = _Form(query)
        marker = query.get("marker", "")
        page = self._page(bucket, form, marker, False)
        # As S3: ListObjects (v1) gives its Prefix as sent, encoded only where
        # XML cannot carry it (botocore decodes v1's Marker, never its Prefix).
        prefix = Element("Prefix", form.prefix) if _XML_TEXT.fullmatch(form.prefix) else form.element("Prefix",
                                                                                                      form.prefix)
        children = [Element("Name", bucket), prefix, form.element("Marker", marker),
                    Element("MaxKeys", str(form.max_keys))]
        if form.delimiter:
            children.append(form.element("Delimiter", form.delimiter))
        children.append(Element("IsTruncated", _bool(page.truncated)))
        return form, page, children

    def _page(self, bucket: str, form: "_Form", after: str, after_prefix: bool) -> Page:
        return self.app.keys.page(bucket, form.prefix, form.delimiter, after, form.max_keys, after_prefix)


class _Form:
    """What every listing takes: prefix, delimiter, max-keys, encoding-type."""

    def __init__(self, query) -> None:
        self.prefix = query.get("prefix", "")
        self.delimiter = query.get("delimiter", "")
        self.max_keys = whole_number(query.get("max-keys"), "max-keys", MAX_KEYS, 0, 2 ** 31 - 1)
        self.max_keys = min(self.max_keys, MAX_KEYS)
        encoding = query.get("encoding-type")
        if encoding not in (None, "url"):
            raise BadRequest("encoding-type is url, or left out").as_s3("InvalidArgument")
        self.encoding = encoding == "url"

    def element(self, name: str, text: str) -> Element:
        """A key or a prefix: URL-encoded when the client asked (XML 1.0
        cannot carry every character a key may hold)."""
        return Element(name, quote(text, safe="/") if self.encoding else text)

    def text(self, text: str) -> str:
        """``element``'s content, escaped for XML."""
        if _PLAIN.fullmatch(text):  # most keys: nothing to encode or escape
            return text
        return escaped(quote(text, safe="/") if self.encoding else text)

    def items(self, page: Page, with_owner: bool) -> List[Element]:
        """The page's keys and common prefixes, as one piece of XML."""
        out = []
        for name, item in page.items:
            if isinstance(item, Entry):
                out.append("<Contents><Key>%s</Key>%s</Contents>" % (self.text(name), _facts(item, with_owner)))
            else:
                out.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % self.text(item))
        return [Markup("".join(out))]


def _facts(entry: Entry, with_owner: bool) -> str:
    """What a listing says of a key besides its name (the ETag is hex: nothing to escape)."""
    return '<LastModified>%s</LastModified><ETag>"%s"</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass>%s' % (
        iso_time(entry.modified), entry.etag, entry.size, _OWNER if with_owner else "")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _token_made(page: Page) -> str:
    """The continuation token of the page after ``page``: where it ended."""
    name, item = page.items[-1]
    kind = "k" if isinstance(item, Entry) else "p"
    return base64.urlsafe_b64encode((kind + name).encode("utf-8")).decode("ascii")


def _token_read(token: str) -> Tuple[str, bool]:
    """``(after, after_prefix)`` from a continuation token this server gave."""
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        text = ""
    if text[:1] not in ("k", "p") or len(text) < 2:
        raise BadRequest("the continuation token is not one this server gave").as_s3("InvalidArgument")
    return text[1:], text[0] == "p"

