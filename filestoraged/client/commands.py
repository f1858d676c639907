"""``filestoraged put|get|rm|ls``: the client side of the faces, in the standard library.

Uploads and downloads stream (never a whole file in memory); downloads of
content-addressed objects and share links are checked against their
SHA-256 before they take their name, and resume with ``Range`` from a
``.part`` file. The server from ``--url`` or
``FILESTORAGED_URL`` (default ``http://127.0.0.1:8080``), a token from
``FILESTORAGED_TOKEN``. Exit status 0, 1 when the server or the network
refused, 2 for usage; the server's JSON error is printed as one line.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import secrets
import sys
from typing import Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlencode, urlsplit

from .progress import Progress

COMMANDS = ("put", "get", "rm", "ls")
STEP = 256 * 1024
_OID = re.compile(r"[0-9a-f]{64}")


class Refused(Exception):
    """The server answered an error, or could not be reached (exit 1)."""


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="filestoraged", description="The filestoraged client.")
    parser.add_argument("--url", default=os.environ.get("FILESTORAGED_URL", "http://127.0.0.1:8080"))
    sub = parser.add_subparsers(dest="command", required=True)
    put = sub.add_parser("put", help="upload files: /files, or /data/REPO, or a share link")
    put.add_argument("files", nargs="+")
    put.add_argument("--repo")
    put.add_argument("--share", action="store_true")
    put.add_argument("--password")
    put.add_argument("--max-downloads", type=int)
    put.add_argument("--expires-in", type=int)
    get = sub.add_parser("get", help="download an object (an id, a /data/REPO/ID path or a URL)")
    get.add_argument("target")
    get.add_argument("-o", "--output", help="the file to write (default: the last part of the path)")
    get.add_argument("--force", action="store_true", help="replace the output file if it exists")
    rm = sub.add_parser("rm", help="delete an object")
    rm.add_argument("target")
    ls = sub.add_parser("ls", help="list a repository")
    ls.add_argument("repo")
    args = parser.parse_args(argv)
    client = Client(args.url, os.environ.get("FILESTORAGED_TOKEN"))
    try:
        if args.command == "put":
            for path in args.files:
                print(client.put(path, args))
        elif args.command == "get":
            print(client.get(args.target, args.output, args.force))
        elif args.command == "rm":
            client.call("DELETE", client.path_of(args.target))
        else:
            for oid, size in client.ls(args.repo):
                print("%s\t%d" % (oid, size))
    except Refused as error:
        print("filestoraged: %s" % error, file=sys.stderr)
        return 1
    except OSError as error:
        print("filestoraged: %s" % error, file=sys.stderr)
        return 1
    return 0


class Client:
    def __init__(self, url: str, token: Optional[str]) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SystemExit("filestoraged: --url must be http://host[:port] or https://host[:port]")
        self.scheme, self.netloc, self.base = parts.scheme, parts.netloc, parts.path.rstrip("/")
        self.token = token

    def connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.netloc, timeout=60)

    def headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    def call(self, method: str, path: str, body=None, headers=None, expect=(200, 201, 204)) -> Tuple[int, bytes, dict]:
        conn = self.connection()
        try:
            conn.request(method, self.base + path, body=body, headers=self.headers(headers))
            reply = conn.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException) as error:
            raise Refused("%s %s: %s" % (method, path, error)) from None
        finally:
            conn.close()
        if reply.status not in expect:
            raise Refused(_error_line(reply.status, data))
        return reply.status, data, dict(reply.headers)

    def path_of(self, target: str) -> str:
        """``/files/ID`` for an id; the path of a URL or of ``/data/REPO/ID``."""
        if _OID.fullmatch(target):
            return "/files/" + target
        if "://" in target:
            return urlsplit(target).path[len(self.base):]
        return target if target.startswith("/") else "/" + target

    def put(self, path: str, args) -> str:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            progress = Progress("put " + os.path.basename(path), size)
            if args.share:
                body, length, ctype = _share_form(handle, os.path.basename(path), size, args)
                _, data, _ = self.call("PUT", "/file", _counted(body, progress),
                                       {"Content-Length": str(length), "Content-Type": ctype})
                progress.finish()
                return json.loads(data)["url"]
            target = "/data/%s" % args.repo if args.repo else "/files"
            method = "PUT" if args.repo else "POST"
            _, data, _ = self.call(method, target, _counted(_blocks(handle), progress),
                                   {"Content-Length": str(size), "Content-Type": "application/octet-stream"})
            progress.finish()
        answer = json.loads(data)
        return answer.get("url") or "%s/%s" % (target, answer["oid"])

    def get(self, target: str, output: Optional[str], force: bool = False) -> str:
        """Download into ``OUTPUT.part`` (resumed with ``Range`` only from a
        ``.part`` file), check it against the SHA-256 it must have (the id,
        or the one the server announces in its ETag), and only then rename it
        to ``OUTPUT``: a failed, cut or wrong download never takes the final
        name, and an existing file is never touched without ``force``."""
        path = self.path_of(target)
        oid = path.rsplit("/", 1)[-1] if _OID.fullmatch(path.rsplit("/", 1)[-1]) else None
        output = output or path.rsplit("/", 1)[-1]
        if os.path.exists(output) and not force:
            raise Refused("%s exists: pass --force to replace it" % output)
        partial = output + ".part"
        have = os.path.getsize(partial) if os.path.exists(partial) else 0
        conn = self.connection()
        try:
            headers = self.headers({"Range": "bytes=%d-" % have} if have else None)
            conn.request("GET", self.base + path, headers=headers)
            reply = conn.getresponse()
            if reply.status == 416 and have:  # the .part is whole already
                reply.read()
            elif reply.status not in (200, 206):
                raise Refused(_error_line(reply.status, reply.read()))
            else:
                offset = _resume_offset(reply, have)
                expected = oid or _announced(reply)
                self._receive(reply, partial, offset)
        except (OSError, http.client.HTTPException) as error:
            raise Refused("GET %s: %s" % (path, error)) from None
        finally:
            conn.close()
        if reply.status == 416:
            expected = oid
        if expected is not None:
            _check(partial, expected)
        os.replace(partial, output)
        return output

    def _receive(self, reply, output: str, offset: int) -> None:
        length = reply.getheader("Content-Length")
        progress = Progress("get " + os.path.basename(output), offset + int(length) if length else None)
        progress.advance(offset)
        with open(output, "r+b" if offset else "wb") as handle:
            handle.seek(offset)
            handle.truncate()
            while True:
                piece = reply.read(STEP)
                if not piece:
                    break
                handle.write(piece)
                progress.advance(len(piece))
        progress.finish()
        if length is not None and progress.done != offset + int(length):
            raise Refused("the transfer was cut after %d bytes (run the same command again to resume)" % progress.done)

    def ls(self, repo: str) -> Iterator[Tuple[str, int]]:
        query = "?" + urlencode({"limit": 1000})
        seen = set()
        while True:
            seen.add(query)
            _, data, headers = self.call("GET", "/data/%s%s" % (repo, query))
            for row in json.loads(data):
                yield row["oid"], row["size"]
            link = re.search(r"<[^>]*(\?[^>]*)>; rel=\"next\"", headers.get("Link", ""))
            if not link:
                return
            query = link.group(1)
            if query in seen:  # a broken or hostile server: never loop for ever
                raise Refused("the server sent a page it had sent before (%s): stopping the listing" % query[:100])


def _blocks(handle) -> Iterator[bytes]:
    while True:
        piece = handle.read(STEP)
        if not piece:
            return
        yield piece


def _counted(pieces: Iterator[bytes], progress: Progress) -> Iterator[bytes]:
    for piece in pieces:
        progress.advance(len(piece))
        yield piece


def _share_form(handle, name: str, size: int, args) -> Tuple[Iterator[bytes], int, str]:
    """A multipart body streamed around the file, and its exact length."""
    boundary = "fsd" + secrets.token_hex(12)
    fields = {"password": args.password, "max_downloads": args.max_downloads, "expires_in": args.expires_in}
    head = b"".join(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                    % (boundary.encode(), key.encode(), str(value).encode("utf-8"))
                    for key, value in fields.items() if value is not None)
    quoted = name.replace("\\", "_").replace('"', "_").encode("utf-8")
    head += (b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
             b"Content-Type: application/octet-stream\r\n\r\n" % (boundary.encode(), quoted))
    tail = b"\r\n--%s--\r\n" % boundary.encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from _blocks(handle)
        yield tail

    return body(), len(head) + size + len(tail), "multipart/form-data; boundary=" + boundary


def _resume_offset(reply, have: int) -> int:
    """Where the body goes in the ``.part`` file: 0 for a 200; for a 206, the
    offset asked, which its ``Content-Range`` must start at."""
    if reply.status != 206:
        return 0
    found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", (reply.getheader("Content-Range") or "").strip())
    if not found or int(found.group(1)) != have:
        raise Refused("the server answered Range bytes=%d- with %r: not resuming from it"
                      % (have, reply.getheader("Content-Range")))
    return have


def _announced(reply) -> Optional[str]:
    """The SHA-256 a download announces: the server's ETag is ``"<sha256>"``."""
    etag = (reply.getheader("ETag") or "").strip('"')
    return etag if _OID.fullmatch(etag) else None


def _check(path: str, oid: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in _blocks(handle):
            digest.update(piece)
    if digest.hexdigest() != oid:
        os.unlink(path)  # never resumed from, never renamed
        raise Refused("the download does not match its SHA-256 %s (got %s): nothing was kept"
                      % (oid, digest.hexdigest()))


def _error_line(status: int, data: bytes) -> str:
    try:
        body = json.loads(data)
        return "%d %s: %s" % (status, body["error"], body["message"])
    except (ValueError, KeyError, TypeError):
        return "%d %s" % (status, data[:200].decode("utf-8", "replace"))
