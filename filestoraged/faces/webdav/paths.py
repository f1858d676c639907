"""What a WebDAV request names: the key path of its URL, the bucket and
path of its ``Destination``, and its ``Depth`` and ``Overwrite`` headers,
each checked as it comes in (a value that is not one of RFC 4918's is
400, never read as another)."""

from __future__ import annotations

import re
from typing import Tuple
from urllib.parse import SplitResult, unquote, urlsplit

from ...catalog.names import object_key
from ...errors import BadRequest, ElsewhereDestination, Forbidden
from ...web.messages import Request


def key_of(path: str) -> str:
    """The key path a URL path names (percent-decoded; a trailing ``/`` kept)."""
    try:
        key = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("a path is UTF-8, percent-encoded") from None
    if key and not key.endswith("/"):
        object_key(key)
    if "//" in key or key.startswith("/") or any(part in (".", "..") for part in key.split("/")):
        raise BadRequest("a path of empty, . or .. segments names nothing here")
    return key


def folder_of(path: str) -> str:
    """The collection ``path`` names (``a/b`` and ``a/b/``: ``a/b/``; the root: "")."""
    return path if not path or path.endswith("/") else path + "/"


def parent_of(path: str) -> str:
    """The collection ``path`` (a file, or a collection ending ``/``) is in."""
    trimmed = path.rstrip("/")
    return trimmed.rpartition("/")[0] + "/" if "/" in trimmed else ""


def destination_of(request: Request, base: str) -> Tuple[str, str]:
    """``(bucket, key path)`` the ``Destination`` header names under ``base``."""
    value = request.headers.get("Destination")
    if not value:
        raise BadRequest("COPY and MOVE need a Destination header")
    named = _reference(value.strip())
    path = named.path
    if named.netloc and not _here(named, request):
        raise ElsewhereDestination("the destination's host %s is not this server's" % named.netloc[:200])
    if not path.startswith(base):
        raise ElsewhereDestination("the destination %s is not under %s of this server" % (path[:200], base))
    bucket, _, rest = path[len(base):].partition("/")
    if not bucket:
        raise Forbidden("the destination is not in a bucket")
    return key_of(bucket), key_of(rest)


def _reference(value: str) -> SplitResult:
    """The ``Destination`` read as RFC 4918 has it: an absolute URL (a
    scheme, a host and a port that is a number) or a path from the
    server's root; 400 for anything else, never a guess at what was meant."""
    try:
        named = urlsplit(value)
        _ = named.port  # (a port that is no number, or out of range, raises here)
    except ValueError:
        raise BadRequest("the Destination %r is not a URL" % value[:200]) from None
    if not ((named.scheme and named.netloc) or (not named.scheme and not named.netloc and value.startswith("/"))):
        raise BadRequest("a Destination is an absolute URL or a path from the server's root, not %r"
                         % value[:200])
    return named


def _here(named: SplitResult, request: Request) -> bool:
    """Whether an absolute ``Destination`` names this server: over HTTP, by
    its public address or the request's own ``Host``."""
    if named.scheme.lower() not in ("http", "https"):
        return False
    base = urlsplit(request.base_url)
    return _origin(named.scheme, named.netloc) in (_origin(base.scheme, base.netloc),
                                                   _origin(named.scheme, request.headers.get("Host") or ""))


def _origin(scheme: str, netloc: str) -> str:
    """``host[:port]`` as compared: lower case, a scheme's default port left out."""
    netloc = netloc.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme.lower())
    return netloc[:-len(default)] if default and netloc.endswith(default) else netloc


def depth_of(request: Request, infinity: bool = False) -> str:
    """A PROPFIND's Depth: 0, 1, or ``infinity`` (the default) where
    ``infinity`` is allowed (``--webdav-depth-infinity``); else it is
    refused: 403 ``propfind-finite-depth``."""
    depth = request.headers.get("Depth", "infinity").strip().lower()
    if depth not in ("0", "1") and not (infinity and depth == "infinity"):
        if depth != "infinity":
            raise BadRequest("a PROPFIND's Depth is 0, 1 or infinity")
        raise FiniteDepth()
    return depth


def copy_depth_of(request: Request) -> str:
    """A COPY's Depth: 0 or infinity (the default)."""
    depth = request.headers.get("Depth", "infinity").strip().lower()
    if depth not in ("0", "infinity"):
        raise BadRequest("a COPY's Depth is 0 or infinity")
    return depth


def overwrite_of(request: Request) -> bool:
    """``Overwrite``: T (the default) or F."""
    value = request.headers.get("Overwrite", "T").strip().upper()
    if value not in ("T", "F"):
        raise BadRequest("Overwrite is T or F")
    return value == "T"


# What Finder leaves in every folder it opens or writes to: its view
# settings, and each file's extended attributes and resource fork beside it.
_MACOS_FILE = re.compile(r"(?:^|/)(?:\.DS_Store|\._[^/]*)/?$")


def creatable(key: str, macos_files: str) -> str:
    """``key`` (a file, or a collection ending ``/``) that a request would
    make, refused where it is one of macOS's metadata files and
    ``--webdav-macos-files`` is ``refuse``."""
    if macos_files == "refuse" and _MACOS_FILE.search(key):
        raise Forbidden("%s is a file macOS's Finder leaves in folders: not kept here "
                        "(--webdav-macos-files keep keeps them)" % key.rstrip("/").rpartition("/")[2][:200])
    return key


class FiniteDepth(Forbidden):
    def __init__(self) -> None:
        super().__init__("PROPFIND answers Depth 0 and 1 only (propfind-finite-depth; "
                         "the operator may allow infinity: --webdav-depth-infinity)")
