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

import hashlib
import http.client
import json
import mimetypes
import os
import re
import socket
import stat
import sys
from typing import Dict, Iterator, Optional, Tuple
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit

from .bodies import (OID, STEP, Refused, announced, blocks, check, counted, error_line, resume_offset, safe_name,
                     share_form)
from .progress import Progress
from .resume import RESUMABLE_FROM, NoResumableUploads, put_resumable

COMMANDS = ("put", "get", "rm", "ls")  # the client's; the rest of the command line is the server's
# What a share link's HEAD answer means, said as its GET's JSON would (a HEAD has no body).
HEAD_REASONS = {
    404: "not_found: no such link",
    410: "gone: the link was used up, has expired or was deleted",
    429: "too_many_requests: too many wrong passwords; try again later",
}


def client_for(target: str, default: "Client", password: Optional[str]) -> "Client":
    """The client for ``target``: a URL names its own server (and may carry
    a share link's password, ``user:pw@`` or ``?password=``); anything else
    goes to ``default``'s. ``password`` (``--password``) wins."""
    if "://" not in target:
        return Client(default.url, default.token, password) if password else default
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("%r is not an http(s) URL" % target[:200])
    found = password or (unquote(parts.password) if parts.password is not None else None)
    found = found or parse_qs(parts.query).get("password", [None])[0]
    return Client("%s://%s" % (parts.scheme, parts.netloc.rsplit("@", 1)[-1]), default.token, found)


class Client:
    def __init__(self, url: str, token: Optional[str], password: Optional[str] = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SystemExit("filestoraged: --url must be http://host[:port] or https://host[:port]")
        self.url = url.rstrip("/")
        self.scheme, self.netloc, self.base = parts.scheme, parts.netloc, parts.path.rstrip("/")
        self.token = token
        self.password = password  # a share link's, sent as X-Password (never in the URL, where logs keep it)

    def connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.netloc, timeout=60)

    def headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if self.password is not None:
            headers["X-Password"] = self.password
        return headers

    def unreachable(self, method: str, path: str, error: Exception) -> Exception:
        """What to raise for ``error`` met during an exchange: a local
        file's own trouble as it is (it names the file), else what the
        exchange could not do."""
        if isinstance(error, OSError) and error.filename is not None:
            return error
        if isinstance(error, (ConnectionError, socket.gaierror, socket.timeout)):
            return Refused("cannot reach %s (the server from --url, or FILESTORAGED_URL): %s" % (self.url, error))
        return Refused("%s %s: %s" % (method, path, error))

    def call(self, method: str, path: str, body=None, headers=None, expect=(200, 201, 204)) -> Tuple[int, bytes, dict]:
        conn = self.connection()
        try:
            conn.request(method, self.base + path, body=body, headers=self.headers(headers))
            reply = conn.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException) as error:
            raise self.unreachable(method, path, error) from None
        finally:
            conn.close()
        if reply.status not in expect:
            raise Refused(error_line(reply.status, data))
        return reply.status, data, dict(reply.headers)

    def path_of(self, target: str) -> str:
        """``/files/ID`` for an id; the path of a URL (its query without a
        password, which travels as a header) or of ``/data/REPO/ID``."""
        if OID.fullmatch(target):
            return "/files/" + target
        if "://" in target:
            parts = urlsplit(target)
            query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
            return parts.path[len(self.base):] + ("?" + urlencode(query) if query else "")
        return target if target.startswith("/") else "/" + target

    def put(self, path: str, args) -> dict:
        """Upload one file; the server's answer, its ``url`` always a full URL."""
        size = os.path.getsize(path)
        name = os.path.basename(path)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if size >= RESUMABLE_FROM:
            try:
                return self._put_resumable(path, name, content_type, size, args)
            except NoResumableUploads:
                pass  # an older server: the single request
        with open(path, "rb") as handle:
            progress = Progress("put " + name, size)
            if args.share:
                body, length, ctype = share_form(handle, name, content_type, size, args)
                _, data, _ = self.call("PUT", "/file", counted(body, progress),
                                       {"Content-Length": str(length), "Content-Type": ctype})
                progress.finish()
                return json.loads(data)
            target = "/data/%s" % args.repo if args.repo else "/files"
            method = "PUT" if args.repo else "POST"
            _, data, _ = self.call(method, target, counted(blocks(handle), progress),
                                   {"Content-Length": str(size), "Content-Type": content_type})
            progress.finish()
        answer = json.loads(data)
        if "url" not in answer:
            answer["url"] = "%s%s/%s" % (self.url, target, answer["oid"])
        return answer

    def _put_resumable(self, path: str, name: str, content_type: str, size: int, args) -> dict:
        """A big file through /uploads: the same command run again after a cut goes on."""
        metadata = {"filetype": content_type}
        if args.share:
            metadata.update(target="file", filename=name)
            options = {"password": args.password, "max_downloads": args.max_downloads, "expires_in": args.expires_in}
            metadata.update({key: str(value) for key, value in options.items() if value is not None})
        elif args.repo:
            metadata["target"] = "data/" + args.repo
        progress = Progress("put " + name, size)
        answer = put_resumable(self, path, metadata, progress)
        progress.finish()
        if "url" not in answer:
            answer["url"] = "%s/data/%s/%s" % (self.url, args.repo, answer["oid"])
        return answer

    def get(self, target: str, output: Optional[str], force: bool = False) -> str:
        """Download into ``OUTPUT.part`` (resumed with ``Range`` only from a
        ``.part`` file), check it against the SHA-256 it must have (the id,
        or the one the server announces in its ETag), and only then rename it
        to ``OUTPUT`` (a folder: the file's name in it): a failed, cut or
        wrong download never takes the final name, and an existing file is
        never touched without ``force``."""
        path = self.path_of(target)
        last = path.split("?", 1)[0].rsplit("/", 1)[-1]
        oid = last if OID.fullmatch(last) else None
        if output is None or os.path.isdir(output):  # a share link keeps its file's name; an object, its id
            name = self._name_of(path) if path.startswith("/file/") else last
            output = name if output is None else os.path.join(output, name)
        if output == "-":
            self._to_stream(path, oid, sys.stdout.buffer)
            return output
        if os.path.exists(output) and not stat.S_ISREG(os.stat(output).st_mode):  # /dev/null, a FIFO
            with open(output, "wb") as device:
                self._to_stream(path, oid, device)
            return output
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
                raise Refused(error_line(reply.status, reply.read()))
            else:
                offset = resume_offset(reply, have)
                expected = oid or announced(reply)
                self._receive(reply, partial, offset)
        except (OSError, http.client.HTTPException) as error:
            raise self.unreachable("GET", path, error) from None
        finally:
            conn.close()
        if reply.status == 416:
            expected = oid
        if expected is not None:
            check(partial, expected)
        elif reply.status != 416:
            try:
                self._whole(path, reply, os.path.getsize(partial))
            except Refused:
                os.unlink(partial)  # a cut answer of unknown length: never resumed from
                raise
        os.replace(partial, output)
        return output

    def _whole(self, path: str, reply, received: int) -> None:
        """``Refused`` if an answer that said no length (close-delimited: a
        cut looks like its end) is not the whole file: ``received`` bytes,
        against the length a HEAD gives (which never spends a download)."""
        if reply.getheader("Content-Length") is not None or reply.chunked:
            return  # a cut is told apart by http.client itself
        length = self._head(path).getheader("Content-Length")
        if length is None or not (length.isascii() and length.isdigit()):
            raise Refused("the server's answer said no length, nor did a HEAD: whether it was whole cannot be told")
        if received != int(length):
            raise Refused("the transfer was cut after %d of %s bytes" % (received, length))

    def _name_of(self, path: str) -> str:
        """The name a share link's file had (its ``Content-Disposition``, from a
        HEAD, which never spends a download), made a plain file name for this
        folder; the link's id if it has none."""
        reply = self._head(path)
        return safe_name(reply.getheader("Content-Disposition", "")) or path.split("?", 1)[0].rsplit("/", 1)[-1]

    def _head(self, path: str):
        """The answer to a HEAD of ``path`` (read); ``Refused`` unless 200."""
        conn = self.connection()
        try:
            conn.request("HEAD", self.base + path, headers=self.headers())
            reply = conn.getresponse()
            reply.read()
        except (OSError, http.client.HTTPException) as error:
            raise self.unreachable("HEAD", path, error) from None
        finally:
            conn.close()
        if reply.status == 401:  # a HEAD answer has no body to say why: say it from what was sent
            if self.password is not None:
                raise Refused("401 unauthorized: wrong password")
            raise Refused("401 unauthorized: this link needs a password (--password, or ?password= in the URL)")
        if reply.status != 200:
            raise Refused("%d %s" % (reply.status, HEAD_REASONS.get(reply.status, reply.reason.lower())))
        return reply

    def _to_stream(self, path: str, oid: Optional[str], out) -> None:
        """Stream to ``out`` (standard output, a device), checked as a file
        is; a wrong or cut download is an error (exit 1) once its bytes have
        gone out."""
        conn = self.connection()
        digest = hashlib.sha256()
        try:
            conn.request("GET", self.base + path, headers=self.headers())
            reply = conn.getresponse()
            if reply.status != 200:
                raise Refused(error_line(reply.status, reply.read()))
            expected = oid or announced(reply)
            length = reply.getheader("Content-Length")
            count = 0
            while True:
                piece = reply.read(STEP)
                if not piece:
                    break
                digest.update(piece)
                out.write(piece)
                count += len(piece)
            out.flush()
            if length is not None and length.isdigit() and count != int(length):
                raise Refused("the transfer was cut after %d of %s bytes" % (count, length))
        except (OSError, http.client.HTTPException) as error:
            raise self.unreachable("GET", path, error) from None
        finally:
            conn.close()
        if expected is None:
            self._whole(path, reply, count)
        if expected is not None and digest.hexdigest() != expected:
            raise Refused("the download does not match its SHA-256 %s (got %s)" % (expected, digest.hexdigest()))

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


