"""``put`` of a big file through ``/uploads`` (tus 1.0.0), so that the same
command, run again after a cut, goes on from what the server kept.

Each upload's URL is remembered under a key made from the server, the
file's path, size and modification time and the options (hashed: a share
link's password is never written down) in
``$XDG_CACHE_HOME/filestoraged/uploads.json``; a file that changed starts
anew. A server without ``/uploads`` (404) gets the single request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from typing import Dict, Optional

from .bodies import STEP, Refused, counted
from .progress import Progress

RESUMABLE_FROM = 8 * 1024 * 1024  # files this big or bigger go through /uploads
CHUNK = 16 * 1024 * 1024  # bytes per PATCH: what a cut can cost at most
TUS = {"Tus-Resumable": "1.0.0"}


class NoResumableUploads(Exception):
    """The server has no /uploads (an older filestoraged)."""


def state_file() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "filestoraged", "uploads.json")


def put_resumable(client, path: str, metadata: Dict[str, str], progress: Progress) -> dict:
    """Upload ``path`` through ``/uploads`` with ``metadata`` (tus's, see
    the server's docs/http-api.md); the target face's JSON answer."""
    size = os.path.getsize(path)
    stat = os.stat(path)
    key = hashlib.sha256(json.dumps([client.url, os.path.abspath(path), size, stat.st_mtime_ns,
                                     sorted(metadata.items())]).encode()).hexdigest()
    saved = _load()
    upload = saved.get(key)
    offset = _offset(client, upload) if upload else None
    if offset is None:
        upload = _create(client, size, metadata)
        saved[key] = upload
        _save(saved)
        offset = 0
    progress.advance(offset)
    with open(path, "rb") as handle:
        handle.seek(offset)
        while offset < size:
            length = min(CHUNK, size - offset)
            try:
                _, _, headers = client.call("PATCH", upload, _piece(handle, length, progress), dict(TUS, **{
                    "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(length)}), expect=(204,))
            except Refused as error:
                raise Refused("%s; %s" % (error, _kept(client, upload, offset, size))) from None
            except KeyboardInterrupt:
                raise PutInterrupted(_kept(client, upload, offset, size)) from None
            offset = int(headers.get("Upload-Offset", offset + length))
    _, data, _ = client.call("GET", upload, expect=(200,))
    saved = _load()
    saved.pop(key, None)
    _save(saved)
    return json.loads(data)


class PutInterrupted(KeyboardInterrupt):
    """Ctrl-C during a resumable put; ``str()`` says what the server kept."""


def _kept(client, upload: str, offset: int, size: int) -> str:
    """What the server says it kept of ``upload`` (a cut PATCH's bytes
    too), and how to go on."""
    kept = _offset(client, upload)
    if kept is None:
        return "the server no longer has the upload (%d bytes were acknowledged): run the same command again" % offset
    return "%d of %d bytes are on the server: run the same command again to go on" % (kept, size)


def _create(client, size: int, metadata: Dict[str, str]) -> str:
    encoded = ",".join("%s %s" % (name, base64.b64encode(value.encode("utf-8")).decode("ascii"))
                       for name, value in metadata.items())
    headers = dict(TUS, **{"Upload-Length": str(size), "Content-Length": "0"})
    if encoded:
        headers["Upload-Metadata"] = encoded
    status, _, answered = client.call("POST", "/uploads", b"", headers, expect=(201, 404))
    if status == 404:
        raise NoResumableUploads()
    return client.path_of(answered["Location"])


def _offset(client, upload: str) -> Optional[int]:
    """What the server kept of ``upload``; None if it knows it no more."""
    try:
        status, _, headers = client.call("HEAD", upload, headers=TUS, expect=(200, 404, 410))
    except Refused:
        return None
    return int(headers["Upload-Offset"]) if status == 200 else None


def _piece(handle, length: int, progress: Progress):
    def pieces():
        left = length
        while left:
            piece = handle.read(min(STEP, left))
            if not piece:
                raise Refused("the file got shorter while it was sent")
            left -= len(piece)
            yield piece

    return counted(pieces(), progress)


def _load() -> Dict[str, str]:
    try:
        with open(state_file()) as state:
            found = json.load(state)
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(saved: Dict[str, str]) -> None:
    path = state_file()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".uploads-")
    with os.fdopen(fd, "w") as out:
        json.dump(saved, out)
    os.replace(tmp, path)
