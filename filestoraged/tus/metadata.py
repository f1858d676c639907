"""What a resumable upload says of itself in ``Upload-Metadata``: where its
bytes go (its ``uploads.targets`` target), and what is shown back.

Keys this daemon reads (values are base64, as tus says):
- ``target``: ``files`` (the default), ``data/<repository>``, ``file`` (a
  share link) or ``s3`` (a key of a bucket: ``bucket`` and ``key`` name it);
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
from typing import Callable, Dict, Optional

from ..access.scopes import Need, Scope
from ..base.header_values import file_name, media_type
from ..catalog.names import bucket_name, object_key
from ..catalog.handle import BucketHandle
from ..errors import BadRequest
from ..sharing.rules import MAX_DOWNLOADS
from ..uploads.targets import (FilesTarget, RepositoryTarget, ResumedKeyTarget, ShareTarget, Target, Terms,
                               drop_target)
from ..wire.fields import whole_number

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


def target_of(metadata: Dict[str, str], app, grant) -> Target:
    """What the upload is for, checked now so that a bad option is refused
    before any byte is sent. A share link's password is still in the clear
    here: ``Target.for_record`` keeps only its digest. ``grant``: what the
    request's token may do (``access.gate.Grant``): a share link is listed
    under its name; an S3 key it may not replace is made only if new."""
    where = metadata.get("target", "files")
    kind, _, name = where.partition("/")
    content_type = media_type(metadata.get("filetype"), "the filetype metadata")
    given = [option for option in _LINK_OPTIONS if option in metadata and not (where == "drop" and
                                                                                option == "password")]
    if given and where != "file":
        raise BadRequest("%s: only a share link (target file) takes it" % ", ".join(given))
    make = _TARGETS.get(kind) if bool(name) == (kind == "data") else None
    if make is None:
        raise BadRequest("target must be files, data/<repository>, file, s3 or drop, not %s" % ascii(where[:60]))
    return make(app, name, content_type, metadata, grant)


def _share_target(app, name: str, content_type: Optional[str], metadata: Dict[str, str], grant) -> Target:
    config = app.config
    terms = Terms(metadata.get("password") or None,
                  whole_number(metadata.get("max_downloads"), "max_downloads", 1, 1, MAX_DOWNLOADS),
                  whole_number(metadata.get("expires_in"), "expires_in", config.share_default_expiry, 1,
                               config.share_max_expiry), maker=grant.holder())
    return ShareTarget(app, file_name(metadata.get("filename"), "the filename metadata"), content_type,
                       lambda: terms)


def _key_target(app, name: str, content_type: Optional[str], metadata: Dict[str, str], grant) -> Target:
    """An S3 key (``bucket`` and ``key`` metadata) of a bucket that exists;
    where the token may add keys but not replace them (append-only), made
    only if it names nothing, as a PutObject of that token (in a bucket
    whose versioning is enabled a write replaces nothing: it adds a version)."""
    name, key = bucket_name(metadata.get("bucket") or ""), object_key(metadata.get("key") or "")
    grant.require(Need(Scope("data", "create", name, key)))  # before saying what exists
    handle = BucketHandle(app, app.buckets.require(name), grant.holder())  # (the key's maker: the uploader)
    return ResumedKeyTarget(handle.write_to(key, grant.allows(Scope("data", "write", name, key))), content_type)


def _drop_target(app, name: str, content_type: Optional[str], metadata: Dict[str, str], grant) -> Target:
    """A file sent through an upload link (``link``: its secret, from the
    link's page; ``filename``, ``uploader``, ``password``), checked now."""
    return drop_target(app, metadata.get("link") or "", metadata.get("filename") or "", metadata.get("uploader"),
                       content_type, metadata.get("password"))


# The targets a client may name: files, data/<repository>, file (a share link), s3 (a bucket's key),
# drop (an upload link's folder).
_TARGETS: Dict[str, Callable[..., Target]] = {
    "files": lambda app, name, content_type, metadata, grant: FilesTarget(app, content_type),
    "data": lambda app, name, content_type, metadata, grant: RepositoryTarget(app, name, content_type),
    "s3": _key_target,
    "file": _share_target,
    "drop": _drop_target,
}
