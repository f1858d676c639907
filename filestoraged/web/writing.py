"""How an answer goes out on a connection: a whole answer in one write
(status line, headers and body together: with ``TCP_NODELAY`` that is the
difference between ~900 and thousands of requests per second), a hot small
object from the ready-made answers, a stored object through ``transfer``
at the paced sender's minimum rate, and the head they share.

Whole answers are sent in the worker's turn (``base/turns``: in the order
they were ready, which keeps the slowest answers near the median under
load), but only what the socket takes at once: the rest, for a client that
reads slowly, is written after the turn is handed on, at the client's pace.

A part of ``handler.RequestHandler``, kept in its own room: it uses the
handler's ``wfile``, ``reader``, ``connection``, ``sends_at_once``,
``server``, ``command``, ``path``, ``headers``, ``close_connection``,
``exchange`` and ``failed``.
"""

from __future__ import annotations

import logging
import os
import ssl
from typing import Union

from ..errors import FileStoreError
from ..wire import response_head
from .deadlines import PacedSender
from .exchange import log_target
from .messages import EmptyResponse, JsonResponse, ObjectResponse, TextResponse, whole_parts
from .transfer import Wire, serve_object

log = logging.getLogger(__name__)


class AnswerWriting:
    def answer_ready_made(self) -> bool:
        """Answer a plain GET/HEAD of a hot small object in one write, without
        routing (see ``response_cache``); False to take the full path."""
        if self.command != "GET" and self.command != "HEAD":
            return False
        if self.server.app.access.mode == "all":  # every read needs a token: no shortcut past the check
            return False
        ready = self.server.ready.get(self.path, self.headers)
        if ready is None:
            return False
        self.exchange.face = ready.face
        payload = ready.body if self.command == "GET" else b""
        self.send_in_turn(200, ready.fields, payload)
        self.exchange.bytes_out = len(payload)
        return True

    def write_whole(self, response: Union[JsonResponse, TextResponse, EmptyResponse]) -> None:
        """Status, headers and body in one write."""
        headers, payload = whole_parts(response, self.command)
        self.send_in_turn(response.status, response_head.fields(headers), payload)
        self.exchange.bytes_out += len(payload)

    def send_in_turn(self, status: int, fields: str, payload: bytes) -> None:
        """Head and body in one write: what the socket takes at once in this
        worker's turn, the rest after it (see the module docstring). Over
        TLS nothing can be sent without a possible wait: no turn."""
        if not self.sends_at_once:
            self.wfile.write(self.head(status, fields) + payload)
            return
        with self.server.turns:
            data = self.head(status, fields) + payload
            sent = send_now(self.connection, data)
        if sent < len(data):
            self.wfile.write(memoryview(data)[sent:])

    def write_object(self, response: ObjectResponse) -> None:
        config = self.server.config
        sender = PacedSender(self.connection, config.idle_timeout, config.head_timeout, config.min_send_rate)
        self.exchange.sender = sender
        wire = Wire(self.wfile.write, sender, self.head)
        try:
            served = serve_object(response, self.command, self.headers, wire, self.remember)
        except FileStoreError as error:  # found before anything was written
            self.write_whole(self.failed(error))
            return
        self.exchange.bytes_out += served.bytes_out
        if sender.abandoned:  # a counted download the client did not acknowledge whole: given back
            self.close_connection = True
            self.client_fault("client_gone", "did not take the whole of a counted download")
            self.exchange.status = 499
        if served.cut_by is not None:
            self.failed(served.cut_by)
            log.error("%s %s: %s mid-stream, connection cut", self.command, log_target(self.path), served.cut_by.text)
            self.close_connection = True

    def remember(self, fields: str, payload: bytes, still_current) -> None:
        self.server.ready.remember(self.path, self.exchange.face, fields, payload, still_current)

    def head(self, status: int, fields: str) -> bytes:
        self.reader.for_writing()
        self.exchange.status = status
        return response_head.head(status, fields + self.exchange.cors_fields, self.close_connection)

    def send_continue(self) -> None:
        """Answer ``Expect: 100-continue`` once the face starts reading the body."""
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def sends_now(sock) -> bool:
    """True if ``send_now`` can write to ``sock``: a plain socket with a
    timeout (non-blocking underneath, the socket module's documented model).
    Never over TLS: the bytes would bypass the cipher. Asked once per
    connection: its timeouts change, but never to none (all are positive)."""
    return not isinstance(sock, ssl.SSLSocket) and bool(sock.gettimeout())


def send_now(sock, data: bytes) -> int:
    """How much of ``data`` the kernel took without waiting (0 if none), in
    one ``write`` (a socket's ``send`` with a timeout would first poll for up
    to that timeout). Only where ``sends_now(sock)``."""
    try:
        return os.write(sock.fileno(), data)
    except (BlockingIOError, InterruptedError):
        return 0
