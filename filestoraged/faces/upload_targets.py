"""Where a resumable upload's bytes go, read from its ``Upload-Metadata``,
and the answer its target face gives once the last byte is stored.

Keys this daemon reads (values are base64, as tus says):
- ``target``: ``files`` (the default), ``data/<repository>`` or ``file`` (a
  share link);
- ``filetype``: the media type kept with the object (tus-js-client and Uppy
  send it);
- ``filename``: a share link's file name;
- ``password``, ``max_downloads``, ``expires_in``: a share link's options,
  as the ``/file`` form takes them (a 400 on any other target).
Other keys (Uppy sends ``name``, ``type``, ``relativePath``) are kept and
shown back, never read: tus metadata is the client's own.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Dict, Optional

from ..access.scopes import Need, Scope
from ..base.header_values import file_name, media_type
from ..errors import BadRequest
from ..storage.names import DEFAULT, SHARES, repository
from ..web.messages import Request
from .share import MAX_DOWNLOADS, link_answer, share_content_type
from .uploads import whole_number

MAX_METADATA = 4096  # bytes of Upload-Metadata
_KEY = re.compile(r"[!-+\--~]+")  # printable ASCII but space and comma
_FIELD_LIMIT = 1024  # bytes of a decoded value
_LINK_OPTIONS = ("password", "max_downloads", "expires_in")


def parse_metadata(header: Optional[str]) -> Dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the
    value may be absent); ``BadRequest`` for a malformed one. Values are
    decoded as UTF-8 text."""
    if not header:
        return {}
    if len(header) > MAX_METADATA:
        raise BadRequest("Upload-Metadata is over %d bytes" % MAX_METADATA)
    found: Dict[str, str] = {}
    for pair in header.split(","):
        key, _, encoded = pair.strip().partition(" ")
        if not _KEY.fullmatch(key) or " " in encoded.strip():
            raise BadRequest("Upload-Metadata: %s is not 'key base64value'" % ascii(pair.strip()[:60]))
        if key in found:
            raise BadRequest("Upload-Metadata names %s twice" % key)
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError):
            raise BadRequest("Upload-Metadata: the value of %s is not base64 of UTF-8 text" % key) from None
        if len(value) > _FIELD_LIMIT:
            raise BadRequest("Upload-Metadata: the value of %s is over %d bytes" % (key, _FIELD_LIMIT))
        found[key] = value
    return found


def shown_metadata(header: Optional[str]) -> str:
    """The metadata to show back on ``HEAD``: as sent, without the password."""
    if not header:
        return ""
    kept = [pair.strip() for pair in header.split(",") if pair.strip().partition(" ")[0] != "password"]
    return ",".join(kept)


def target_of(metadata: Dict[str, str], config) -> Dict[str, object]:
    """What the upload is for, checked now so that a bad option is refused
    before any byte is sent. A share link's password is added by the caller
    once the request is let in, as its salted digest (``salt``, ``digest``):
    never kept in the clear."""
    where = metadata.get("target", "files")
    content_type = media_type(metadata.get("filetype"), "the filetype metadata")
    if where == "file":
        filename = file_name(metadata.get("filename"), "the filename metadata")
        target: Dict[str, object] = {
            "face": "file", "filename": filename, "content_type": share_content_type(content_type, filename),
            "max_downloads": whole_number(metadata.get("max_downloads"), "max_downloads", 1, 1, MAX_DOWNLOADS),
            "expires_in": whole_number(metadata.get("expires_in"), "expires_in", config.share_default_expiry,
                                       1, config.share_max_expiry),
            "salt": None, "digest": None}
        return target
    given = [name for name in _LINK_OPTIONS if name in metadata]
    if given:
        raise BadRequest("%s: only a share link (target file) takes it" % ", ".join(given))
    if where == "files":
        return {"face": "files", "content_type": content_type}
    if where.startswith("data/"):
        repository(where[5:])  # BadRequest for a bad name
        return {"face": "data", "repo": where[5:], "content_type": content_type}
    raise BadRequest("target must be files, data/<repository> or file, not %s" % ascii(where[:60]))


def scope_of(target: Dict[str, object]) -> Need:
    """What the target face asks of a single upload."""
    if target["face"] == "data":
        return Need(Scope("data", "write", str(target["repo"])))
    return Need(Scope("files", "write") if target["face"] == "files" else Scope("share", "create"))


def store(app, request: Request, target: Dict[str, object], path: str) -> Dict[str, object]:
    """Store the finished file at ``path`` where the target says, and
    answer what a single upload to that face would have answered."""
    content_type = target.get("content_type")
    if target["face"] == "files":
        result = app.backend.put_file(DEFAULT, path, content_type)
        url = "%s/files/%s" % (request.base_url, result.info.oid)
        return {"hash": result.info.oid, "size": result.info.size, "url": url, "created": result.created}
    if target["face"] == "data":
        info = app.backend.put_file(repository(str(target["repo"])), path, content_type).info
        return {"oid": info.oid, "size": info.size}
    digested = None
    if target.get("salt"):
        digested = (bytes.fromhex(str(target["salt"])), bytes.fromhex(str(target["digest"])))
    with app.shares.pinned() as pin:
        info = app.backend.put_file(SHARES, path, content_type, hashed=pin).info
        link = app.shares.create(info.oid, info.size, target.get("filename"), content_type, None,
                                 int(target["max_downloads"]), int(target["expires_in"]), digested)
    return link_answer(request, link)[0]
