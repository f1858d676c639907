"""What the client sends and receives around the bytes of a file: the
multipart form streamed around it, its blocks, the SHA-256 check before a
download takes its name, a share link's name made safe for this folder,
and the server's answers read (``Range``, ``ETag``, JSON errors)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from typing import Iterator, Optional, Tuple
from urllib.parse import unquote

from .progress import Progress

STEP = 256 * 1024
OID = re.compile(r"[0-9a-f]{64}")


class Refused(Exception):
    """The server answered an error, or could not be reached (exit 1)."""

def blocks(handle) -> Iterator[bytes]:
    while True:
        piece = handle.read(STEP)
        if not piece:
            return
        yield piece


def counted(pieces: Iterator[bytes], progress: Progress) -> Iterator[bytes]:
    for piece in pieces:
        progress.advance(len(piece))
        yield piece


def share_form(handle, name: str, content_type: str, size: int, args) -> Tuple[Iterator[bytes], int, str]:
    """A multipart body streamed around the file, and its exact length."""
    boundary = "fsd" + secrets.token_hex(12)
    fields = {"password": args.password, "max_downloads": args.max_downloads, "expires_in": args.expires_in}
    head = b"".join(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                    % (boundary.encode(), key.encode(), str(value).encode("utf-8"))
                    for key, value in fields.items() if value is not None)
    quoted = name.replace("\\", "_").replace('"', "_").encode("utf-8")
    head += (b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
             b"Content-Type: %s\r\n\r\n" % (boundary.encode(), quoted, content_type.encode("ascii")))
    tail = b"\r\n--%s--\r\n" % boundary.encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from blocks(handle)
        yield tail

    return body(), len(head) + size + len(tail), "multipart/form-data; boundary=" + boundary


def safe_name(disposition: str) -> Optional[str]:
    """The file name of a ``Content-Disposition`` (``filename*`` first, RFC
    6266/5987), as a plain name in the current folder: no folders, no
    control characters, no leading dot; None if nothing usable is left."""
    found = re.search(r"filename\*\s*=\s*UTF-8''([^;]+)", disposition, re.I)
    if found:
        name = unquote(found.group(1).strip(), errors="replace")
    else:
        found = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"|filename\s*=\s*([^;\s]+)', disposition, re.I)
        if not found:
            return None
        name = found.group(1) if found.group(1) is not None else found.group(2)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip().lstrip(".")
    return name.encode("utf-8")[:255].decode("utf-8", "ignore") or None


def resume_offset(reply, have: int) -> int:
    """Where the body goes in the ``.part`` file: 0 for a 200; for a 206, the
    offset asked, which its ``Content-Range`` must start at."""
    if reply.status != 206:
        return 0
    found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (reply.getheader("Content-Range") or "").strip())
    if not found or int(found.group(1)) != have:
        raise Refused("the server answered Range bytes=%d- with %r: not resuming from it"
                      % (have, reply.getheader("Content-Range")))
    return have


def announced(reply) -> Optional[str]:
    """The SHA-256 a download announces: the server's ETag is ``"<sha256>"``."""
    etag = (reply.getheader("ETag") or "").strip('"')
    return etag if OID.fullmatch(etag) else None


def check(path: str, oid: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in blocks(handle):
            digest.update(piece)
    if digest.hexdigest() != oid:
        os.unlink(path)  # never resumed from, never renamed
        raise Refused("the download does not match its SHA-256 %s (got %s): nothing was kept"
                      % (oid, digest.hexdigest()))


def error_line(status: int, data: bytes) -> str:
    """A server's refusal as one line for a terminal: what it said, with
    anything that is not printable (escape sequences, new lines) shown as
    an escape instead of acted on."""
    try:
        body = json.loads(data)
        said = "%s: %s" % (body["error"], body["message"])
    except (ValueError, KeyError, TypeError):
        said = data[:200].decode("utf-8", "replace")
    return "%d %s" % (status, printable(said[:500]))


def printable(text: str) -> str:
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)
