"""Requests to an S3 endpoint: signed, over a pool of keep-alive connections,
retried with backoff when the store or the network fails.

A retry needs the body again: bodies are files (a spooled upload, rewound
by offset), bytes, or a streamed upload that keeps what it sent in a spool
(``streamed.StreamedBody``), never a one-shot stream. After ``RETRIES`` more tries
the store is taken for down: ``BackendUnavailable`` (503 with
``Retry-After``). A 4xx is the store's final word and is not retried.
"""

from __future__ import annotations

import http.client
import logging
import math
import os
import queue
import time
import xml.etree.ElementTree as ElementTree
from typing import Any, BinaryIO, Dict, Iterator, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from ...errors import BackendUnavailable
from .responses import Response, S3Error, error_code, instant, whole_number
from ...wire.sigv4 import EMPTY_SHA256, Signer, canonical_query, uri_encode

log = logging.getLogger(__name__)

RETRIES = 4  # after the first try; waits 0.1, 0.2, 0.4, 0.8 s between ...
RETRY_WINDOW = 15.0  # ... and none starts this long after the first began
TIMEOUT = 30.0  # seconds for a connect or a read (a store may take this long to say 500)
POOL = 16  # idle connections kept
LISTING_LIMIT = 16 * 1024 * 1024  # bytes of one listing page read at most (1,000 keys are ~300 KiB)
# bytes, a file and its length (read from offset 0), or a body that writes
# itself for each try (``write_to(conn)``, ``length``: see streamed.py)
Body = Union[None, bytes, Tuple[BinaryIO, int], Any]


class S3Client:
    def __init__(self, endpoint: str, bucket: str, region: str, access_key: str, secret_key: str,
                 timeout: float = TIMEOUT, retry_window: float = RETRY_WINDOW) -> None:
        self.timeout, self.retry_window = timeout, retry_window
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the S3 endpoint must be an http:// or https:// URL, not %r" % endpoint)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        default = (parts.scheme == "https" and self.port == 443) or (parts.scheme == "http" and self.port == 80)
        self.host_header = parts.netloc if not default else parts.hostname
        self.bucket = bucket
        self.signer = Signer(access_key, secret_key, region)
        self._idle: "queue.LifoQueue" = queue.LifoQueue(POOL)

    def path(self, key: str = "") -> str:
        """Path-style addressing: ``/<bucket>/<key>``, URI-encoded by S3's rules."""
        return "/" + uri_encode(self.bucket, False) + ("/" + uri_encode(key, True) if key else "")

    def request(self, method: str, key: str = "", query: Optional[Mapping[str, str]] = None,
                headers: Optional[Dict[str, str]] = None, body: Body = None,
                payload_sha256: str = EMPTY_SHA256, ok: Tuple[int, ...] = (200,)) -> Response:
        """Send, retrying connection errors and 5xx; the response if its
        status is in ``ok`` or is 404 (the caller decides what a missing key
        means), else ``S3Error`` (403 included: wrong credentials are the
        operator's to fix, answered 503 and logged); ``BackendUnavailable``
        once the retries are spent."""
        query = dict(query or {})
        path = self.path(key)
        target = path + ("?" + canonical_query(query) if query else "")
        failure = ""
        started = time.monotonic()
        tries = 0
        for attempt in range(RETRIES + 1):
            if attempt:
                if time.monotonic() - started > self.retry_window:
                    break
                time.sleep(0.1 * 2 ** (attempt - 1))
            tries += 1
            signed = self.signer.sign(method, self.host_header, path, query, dict(headers or {}), payload_sha256)
            conn, reused = self._take()
            try:
                conn, raw = self._send_or_reconnect(conn, reused, method, target, signed, body)
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                if getattr(body, "reading_failed", False):  # the client's body failed, not the store
                    raise
                failure = "%s: %s" % (type(error).__name__, error)
                continue
            except BaseException:  # an upload refused mid-way: the store never sees it whole
                conn.close()
                raise
            response = Response(self._put_back, conn, raw)
            if raw.status >= 500:
                failure = "HTTP %d %s" % (raw.status, error_code(response))
                response.release()
                continue
            if raw.status in ok or raw.status == 404:
                return response
            code = error_code(response)
            response.release()
            log.error("object store %s:%d answered %s %s with %d %s", self.host, self.port, method, key or "/",
                      raw.status, code)
            raise S3Error("the object store answered %s %s with %d %s" % (method, key or "/", raw.status, code))
        log.warning("object store %s:%d failed %s %s %d times (%s)", self.host, self.port, method, key or "/",
                    tries, failure)
        raise BackendUnavailable("the object store is not answering (%s)" % failure)

    def exists(self, key: str) -> bool:
        """True if ``key`` is in the bucket (one HEAD)."""
        response = self.request("HEAD", key)
        response.release()
        return response.status == 200

    def keys(self, prefix: str, start_after: str = "", page: Optional[int] = None) -> Iterator[Tuple[str, int]]:
        """``(key, size)`` of every key under ``prefix`` (after ``start_after``),
        in order; ``page``: keys asked for a listing at a time (1,000 at most)."""
        for key, size, _ in self._listed(prefix, start_after, page):
            yield key, size

    def listing(self, prefix: str, start_after: str = "") -> Iterator[Tuple[str, int, float]]:
        """``(key, size, last modified)``, as ``keys``; a key listed without a
        time is never taken for old (``inf``)."""
        for key, size, modified in self._listed(prefix, start_after):
            yield key, size, instant(modified) if modified else math.inf

    def _listed(self, prefix: str, start_after: str, page: Optional[int] = None) -> Iterator[Tuple[str, int, str]]:
        """Every key under ``prefix``, a ListObjectsV2 page at a time. A
        listing that is not XML, or a size that is not a number, is
        ``S3Error`` (503), never a 500."""
        token = None
        while True:
            query = {"list-type": "2", "prefix": prefix, "max-keys": str(min(page or 1000, 1000))}
            if token:
                query["continuation-token"] = token
            elif start_after:
                query["start-after"] = start_after
            response = self.request("GET", "", query=query)
            try:
                root = ElementTree.fromstring(response.read(LISTING_LIMIT))
            except ElementTree.ParseError:
                raise S3Error("the object store's listing is not XML") from None
            finally:
                response.release()
            space = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for item in root.iter(space + "Contents"):
                yield (item.findtext(space + "Key", ""), whole_number(item.findtext(space + "Size", "0"), "Size"),
                       item.findtext(space + "LastModified", ""))
            token = root.findtext(space + "NextContinuationToken")
            if root.findtext(space + "IsTruncated") != "true" or not token:
                return

    def _send(self, conn, method: str, target: str, headers: Dict[str, str], body: Body) -> http.client.HTTPResponse:
        if isinstance(body, tuple):  # a file: rewound for each try
            source, length = body
            source.seek(0)
            headers["Content-Length"] = str(length)
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            left = length
            while left:
                piece = source.read(min(left, 1 << 20))
                if not piece:
                    raise OSError("the spooled upload ended early")
                conn.send(piece)
                left -= len(piece)
        elif hasattr(body, "write_to"):
            headers["Content-Length"] = str(body.length)
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            body.write_to(conn)
        else:
            data = body or b""
            if data or method in ("PUT", "POST"):
                headers["Content-Length"] = str(len(data))
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(data or None)
        return conn.getresponse()

    def _take(self) -> Tuple[http.client.HTTPConnection, bool]:
        """A pooled connection (``True``: it may have died while idle) or a new one."""
        try:
            return self._idle.get_nowait(), True
        except queue.Empty:
            return self._connect(), False

    def _connect(self, timeout: Optional[float] = None) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return kind(self.host, self.port, timeout=timeout or self.timeout)

    def _send_or_reconnect(self, conn, reused: bool, method: str, target: str, headers: Dict[str, str],
                           body: Body) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send on ``conn``. A pooled connection that fails is most likely one
        the store dropped (a restart drops them all): the pool is emptied and
        the request sent again at once on a fresh connection, before any
        retry counts or sleeps, so a restarted store costs the next requests
        nothing. The connection the answer came on, and the answer."""
        try:
            return conn, self._send(conn, method, target, headers, body)
        except (OSError, http.client.HTTPException):
            if not reused or getattr(body, "reading_failed", False):
                raise
            conn.close()
        self._drop_idle()
        conn = self._connect()
        try:
            return conn, self._send(conn, method, target, headers, body)
        except BaseException:
            conn.close()
            raise

    def _drop_idle(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def probe(self, timeout: float) -> int:
        """One ``HEAD`` of the bucket on a connection of its own, within
        ``timeout`` seconds and without retries (for ``/healthz``: a
        balancer's health check must see a hung store as down, not wait
        for it); the status, or ``BackendUnavailable``."""
        path = self.path()
        conn = self._connect(timeout)
        try:
            conn.connect()
            raw = self._send(conn, "HEAD", path, self.signer.sign("HEAD", self.host_header, path, {}, {},
                                                                   EMPTY_SHA256), None)
            raw.read()
            return raw.status
        except (OSError, http.client.HTTPException) as error:
            raise BackendUnavailable("the object store did not answer within %g s (%s)" % (timeout, error)) from None
        finally:
            conn.close()

    def _put_back(self, conn) -> None:
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.close()

    def close(self) -> None:
        self._drop_idle()


def configured(config) -> S3Client:
    """The client of ``--s3-endpoint``, ``--s3-bucket``, ``--s3-region``, with
    the credentials of the environment."""
    return S3Client(config.s3_endpoint, config.s3_bucket, config.s3_region, *credentials())


def credentials(environ: Mapping[str, str] = os.environ) -> Tuple[str, str]:
    """``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, the standard names."""
    return environ.get("AWS_ACCESS_KEY_ID", ""), environ.get("AWS_SECRET_ACCESS_KEY", "")
