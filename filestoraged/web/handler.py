"""The HTTP request handler: parse, route, map errors, write responses, log.

It builds on ``BaseHTTPRequestHandler`` but dispatches every method through
the router instead of ``do_<METHOD>`` (which would answer 501 for ``BREW``
where our contract wants 405 with ``Allow``). Responses of known size go out
in one write (status line, headers and small body together): with
``TCP_NODELAY`` that is the difference between ~900 and thousands of
requests per second.
"""

from __future__ import annotations

import logging
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Dict, Optional

from . import ranges as download
from . import request_head as requesthead
from . import response_head as responsehead
from ..errors import BadRequest, CorruptObject, FileStoreError, extra_headers, http_status
from .messages import (
    EmptyResponse,
    JsonResponse,
    ObjectResponse,
    Request,
    TextResponse,
    error_body,
)

log = logging.getLogger("filestoraged")
access_log = logging.getLogger("filestoraged.access")

# An unread request body smaller than this is read and dropped after the
# answer so the connection can be kept alive; a bigger one closes it.
DRAIN_LIMIT = 64 * 1024
# How long an early answer waits for the client to stop sending.
LINGER_SECONDS = 2.0


class RequestHandler(BaseHTTPRequestHandler):
    """One instance per connection; ``handle_one_request`` runs per request."""

    protocol_version = "HTTP/1.1"
    server_version = "filestoraged"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.config.idle_timeout
        super().setup()

    # -- the request cycle ----------------------------------------------------

    def handle_one_request(self) -> None:
        started = time.monotonic()
        self.status = 0
        self.bytes_out = 0
        self.face = "other"
        self.command = self.path = ""
        self.request_obj: Optional[Request] = None
        try:
            if not self.server.connection_idle(self.connection):
                self.close_connection = True  # the server is stopping
                return
            line = self.rfile.readline(requesthead.MAX_LINE + 1)
            self.server.connection_busy(self.connection)
            if not line:
                self.close_connection = True
                return
            if not self.parse_head(line):
                return
            if not self.answer_ready_made():
                self.dispatch()
        except (TimeoutError, socket.timeout):
            self.close_connection = True  # an idle or slow client: drop it
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True  # the client went away
        finally:
            if self.status:
                self.finish_request(time.monotonic() - started)

    def parse_head(self, line: bytes) -> bool:
        """Parse the request line and headers; answer 400/414/505 and return False if bad."""
        try:
            if len(line) > requesthead.MAX_LINE:
                self.close_connection = True
                self.send_whole_error(BadRequest("request line too long"), 414)
                return False
            self.command, self.path, self.request_version = requesthead.parse_request_line(line)
            self.requestline = line.decode("latin-1").rstrip("\r\n")
            self.headers = requesthead.read_headers(self.rfile)
        except BadRequest as error:
            self.close_connection = True
            unsupported = isinstance(error, requesthead.VersionNotSupported)
            self.send_whole_error(error, 505 if unsupported else None)
            return False
        self.close_connection = not requesthead.keeps_alive(self.request_version, self.headers)
        return True

    def answer_ready_made(self) -> bool:
        """Answer a plain GET/HEAD of a hot small object in one write, without
        routing (see ``responses``); False to take the full path."""
        if self.command != "GET" and self.command != "HEAD":
            return False
        ready = self.server.ready.get(self.path, self.headers)
        if ready is None:
            return False
        self.face = ready.face
        body = ready.body if self.command == "GET" else b""
        self.wfile.write(self.head_from_fields(200, ready.fields) + body)
        self.bytes_out = len(body)
        return True

    def dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        app = self.server.app
        try:
            handler, params, self.face = app.router.match(self.command, path)
            self.request_obj = Request(self, self.command, path, query)
            response = handler(self.request_obj, **params)
        except FileStoreError as error:
            self.face = app.router.face_of(path)
            response = self.error_response(error)
        except Exception as error:  # a bug: log it with its traceback, answer 500
            log.exception("unhandled error in %s %s", self.command, _redact(self.path))
            response = self.error_response(error)
        self.settle_body(response)
        self.write_response(response)
        if self.close_connection and self.has_unread_body():
            self.linger()

    def has_unread_body(self) -> bool:
        body = self.request_obj.body_opened if self.request_obj else None
        if body is not None:
            return not body.finished
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        return chunked or self.headers.get("Content-Length", "0").strip() not in ("", "0")

    def settle_body(self, response) -> None:
        """Make sure no unread body bytes are left to be parsed as the next request:
        drop a small rest, else close the connection after the answer."""
        if self.close_connection or not self.has_unread_body():
            return
        if self.request_obj is None:
            self.close_connection = True
            return
        try:
            if not self.request_obj.body(DRAIN_LIMIT).drain(DRAIN_LIMIT):
                self.close_connection = True
        except FileStoreError:
            self.close_connection = True

    def linger(self) -> None:
        """After answering early (413, 400) with body bytes still coming, read
        and drop them for a moment before closing: closing a socket with
        unread input resets it, and the client might lose our answer."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.connection.recv(1 << 20):
                pass
        except OSError:
            pass

    # -- writing ----------------------------------------------------------------

    def write_response(self, response) -> None:
        if isinstance(response, ObjectResponse):
            self.write_object(response)
        elif isinstance(response, JsonResponse):
            self.send_whole(response.status, response.encode(), "application/json", response.headers)
        elif isinstance(response, TextResponse):
            self.send_whole(response.status, response.text.encode("utf-8"), response.content_type, {})
        elif isinstance(response, EmptyResponse):
            self.send_whole(response.status, b"", None, response.headers)
        else:
            raise TypeError("a face returned %r" % (response,))

    def error_response(self, error: BaseException) -> JsonResponse:
        status, code = http_status(error)
        if status >= 500:
            log.error("%s %s: %s %s", self.command, _redact(self.path), code, error)
        if status == 413:
            self.close_connection = True  # do not read the rest of a refused body
        return JsonResponse(status, error_body(error, code), extra_headers(error))

    def send_whole(self, status: int, body: bytes, content_type: Optional[str], headers: Dict[str, str]) -> None:
        """Status, headers and body in one write. 204 and 304 carry no length."""
        all_headers = dict(headers)
        if content_type and body:
            all_headers["Content-Type"] = content_type
        if status not in (204, 304):
            all_headers["Content-Length"] = str(len(body))
        head = self.head_bytes(status, all_headers)
        if self.command == "HEAD" or status in (204, 304):
            body = b""
        self.wfile.write(head + body)
        self.bytes_out += len(body)

    def write_object(self, response: ObjectResponse) -> None:
        obj = response.obj
        complete = False
        try:
            try:
                obj.preflight()
                plan = download.plan(obj.info, self.headers, response.content_type, response.ranges)
            except FileStoreError as error:
                self.send_whole_error(error)
                return
            headers = dict(plan.headers)
            headers.update(response.headers)
            fields = responsehead.fields(headers)
            head = self.head_from_fields(plan.status, fields)
            if self.command == "HEAD" or plan.status == 304:
                self.wfile.write(head)
                return
            in_memory = obj.verified_bytes(plan.start, plan.end)
            if in_memory is not None:  # a small object: one write for all
                self.wfile.write(head + in_memory)
                self.bytes_out += len(in_memory)
                complete = self.command == "GET"
                if plan.status == 200 and not response.headers and response.on_done is None:
                    self.server.ready.remember(self.path, self.face, fields, in_memory, obj.still_current)
                return
            self.wfile.write(head)
            try:
                self.bytes_out += obj.send(self.connection, plan.start, plan.end)
            except CorruptObject as error:
                # Headers are gone: cutting the connection before the last byte
                # is the only way left to tell the client the copy is bad.
                log.error("%s %s: corrupt mid-stream, connection cut: %s", self.command, _redact(self.path), error)
                self.server.app.metrics.integrity_failure()
                self.close_connection = True
                return
            complete = self.command == "GET"
        finally:
            obj.close()
            if response.on_done is not None:
                response.on_done(complete)

    def send_whole_error(self, error: FileStoreError, status: Optional[int] = None) -> None:
        if isinstance(error, CorruptObject):
            self.server.app.metrics.integrity_failure()
        response = self.error_response(error)
        self.send_whole(status or response.status, response.encode(), "application/json", response.headers)

    def head_bytes(self, status: int, headers: Dict[str, str]) -> bytes:
        return self.head_from_fields(status, responsehead.fields(headers))

    def head_from_fields(self, status: int, fields: str) -> bytes:
        """Status line, Server, Date, the given header lines, Connection if closing."""
        self.status = status
        if self.server.stopping:
            self.close_connection = True
        return responsehead.head(status, fields, self.close_connection)

    def send_continue(self) -> None:
        """Answer ``Expect: 100-continue`` once the face starts reading the body."""
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    # -- logging ------------------------------------------------------------------

    def finish_request(self, duration: float) -> None:
        received = 0
        if self.request_obj is not None and self.request_obj.body_opened is not None:
            received = self.request_obj.body_opened.received
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                '%s "%s %s" %d %d %.1fms',
                self.client_address[0], self.command, _redact(self.path), self.status,
                self.bytes_out, duration * 1000,
            )
        self.server.app.metrics.request(self.face, self.command, self.status, received, self.bytes_out, duration)

    def log_message(self, format: str, *args) -> None:
        """The stdlib's own messages (timeouts, parse errors) into ``logging``."""
        log.info("%s %s", self.client_address[0], format % args)

    def base_url(self) -> str:
        configured = self.server.config.public_url
        if configured:
            return configured.rstrip("/")
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return "http://" + host


def _redact(path: str) -> str:
    """The path with its query string hidden (it may carry a password)."""
    base, sep, _ = path.partition("?")
    return base + ("?[redacted]" if sep else "")
