"""The HTTP request handler: parse, route, answer, one request at a time
on a connection.

It builds on ``BaseHTTPRequestHandler`` but dispatches every method through
the router instead of ``do_<METHOD>`` (which would answer 501 for ``BREW``
where our contract wants 405 with ``Allow``). Each request's state is an
``Exchange``; answers go out through ``writing`` (whole answers in one
write, stored objects through ``transfer``); a failure becomes its answer
in ``failures``.
"""

from __future__ import annotations

import io
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Union

from ..errors import FileStoreError, RequestTimeout
from ..wire import body, proxies, request_head
from . import tls
from .deadlines import PacedReader
from .messages import EmptyResponse, JsonResponse, ObjectResponse, Request, TextResponse, error_response
from .exchange import Exchange, log_target
from .failures import answer_failure
from .router import Scope
from .writing import AnswerWriting, sends_now

log = logging.getLogger(__name__)

# How long an early answer waits for the client to stop sending.
LINGER_SECONDS = 2.0

Response = Union[JsonResponse, TextResponse, EmptyResponse, ObjectResponse]


class Handshake:
    """A TLS connection's place among the waiting until its handshake has
    begun (``tls.handshake`` asks ``Waiting.begin`` before it reads)."""

    head_started = False
    reclaimed = False
    waiting = None


class RequestHandler(AnswerWriting, BaseHTTPRequestHandler):
    """One instance per connection; ``handle_one_request`` runs per request."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        config = self.server.config
        # The first head's deadline runs from the accept, the TLS handshake included.
        self.first_head_by = time.monotonic() + config.head_timeout
        self.timeout = config.idle_timeout
        self.handshake_failed = False
        if self.server.tls is not None:
            # Waiting for its ClientHello, the connection may be given up
            # when slots run short, as an idle one is, if it sent nothing: a
            # silent connection must not hold a slot through the handshake.
            place = Handshake()
            self.server.connection_idle(self.request, place)
            self.handshake_failed = not tls.handshake(self.request, config.head_timeout,
                                                      lambda: self.server.waiting.begin(place))
        self.peer_is_proxy = self.client_address[0] in self.server.trusted_proxies
        super().setup()
        self.rfile.close()  # the stdlib's reader; ours paces every read (see deadlines)
        self.reader = PacedReader(self.connection, config.idle_timeout, config.head_timeout, config.min_body_rate)
        self.rfile = io.BufferedReader(self.reader, 65536)
        self.sends_at_once = sends_now(self.connection)  # plain TCP: whole answers take turns (see writing)
        self.fresh = True  # no request read on this connection yet

    def handle_one_request(self) -> None:
        if self.handshake_failed:
            self.close_connection = True
            return
        self.exchange = Exchange()
        self.command = self.path = ""
        try:
            self.reader.begin_head(self.first_head_by if self.fresh else None, self.rfile.tell())
            self.server.connection_idle(self.connection, self.reader)
            line = self.rfile.readline(request_head.MAX_LINE + 1)
            if not line:
                self.close_connection = True
                return
            try:
                self.command, self.path, version = request_head.parse_request_line(line)
                self.headers = request_head.read_headers(self.rfile)
                self.fresh = False
                self.server.connection_busy(self.connection)
            except FileStoreError as error:
                self.close_connection = True  # the rest of the stream cannot be trusted
                self.write_whole(self.failed(error))
                return
            except request_head.IncompleteHead:
                self.close_connection = True  # never executed: the client did not finish asking
                self.client_fault("incomplete_head", "closed inside its request head")
                return
            self.reader.begin_body()
            self.exchange.cors_fields = self.server.cors.fields(self.headers.get("Origin"))
            # A stopping server answers every request it reads, the hot
            # ready-made ones too, with close: the client's next goes elsewhere.
            self.close_connection = self.server.stopping or not request_head.keeps_alive(version, self.headers)
            if not self.answer_ready_made():
                self.dispatch()
        except (TimeoutError, socket.timeout, ConnectionError):
            self.close_connection = True  # an idle, slow or vanished client: drop it
            sender = self.exchange.sender
            if sender is not None:  # an answer was under way: log what actually went out
                self.exchange.bytes_out = sender.sent
            if self.reader.expired == "head":
                self.client_fault("slow_head", "did not send its request head in time")
            elif sender is not None and sender.expired:
                self.client_fault("slow_reader", "read its answer below --min-send-rate")
            elif sender is not None and self.exchange.status:
                self.client_fault("client_gone", "went away after %d bytes of its answer" % sender.sent)
                self.exchange.status = 499
        finally:
            if self.exchange.status:
                self.exchange.done(self.client, self.command, self.path, self.server.app.metrics)

    def dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        app = self.server.app
        if (self.command == "OPTIONS" and self.exchange.cors_fields.startswith("Access-Control-Allow-Origin")
                and "Access-Control-Request-Method" in self.headers):
            self.answer_preflight(path)
            return
        try:
            handler, params, self.exchange.face, scope = app.router.match(self.command, path)
            if query:
                app.router.check_query(path, query)
            scopes, form_check = app.access.authorize(scope, params, self.headers, lambda: self.client)
            request = Request(self.command, path, query, self.headers, self.open_body, self.base_url(), scopes)
            request.form_check = form_check
            request.client = self.client
            request.authorize = lambda text, public=False: app.access.authorize(
                Scope(text, public), {}, self.headers, lambda: self.client)[0]
            request.holder = lambda: app.access.holder(self.headers)
            self.exchange.parsed = request
            response: Response = handler(request, **params)
        except (TimeoutError, socket.timeout):  # the body stalled: the client's doing
            self.close_connection = True
            self.client_fault("slow_body", "stopped sending its body")
            response = error_response(RequestTimeout("the body stopped arriving"))
        except ConnectionError:  # reset or gone mid-body: nobody to answer
            self.close_connection = True
            self.client_fault("client_gone", "went away mid-request")
            self.exchange.status = 499  # nginx's "client closed request", for the access log and metrics
            return
        except Exception as error:
            self.exchange.face = app.router.face_of(path)
            response = self.failed(error)
        self.decide_close(response)
        if isinstance(response, ObjectResponse):
            self.write_object(response)
        else:
            self.write_whole(response)
        if self.close_connection and body.has_unread(self.exchange.parsed, self.headers):
            linger(self.connection)

    def answer_preflight(self, path: str) -> None:
        """A browser asks whether a cross-origin request may be sent (see ``cors``)."""
        try:
            methods = self.server.app.router.methods_for(path)
            response: Response = EmptyResponse(204, self.server.cors.preflight(methods))
        except FileStoreError as error:
            response = self.failed(error)
        self.decide_close(response)
        self.write_whole(response)

    def failed(self, error: BaseException) -> JsonResponse:
        """The answer to a failure (see ``failures``)."""
        return answer_failure(error, self.server.app, self.command, self.path, getattr(self, "headers", None))

    def client_fault(self, reason: str, what: str) -> None:
        """One log line and a count for a request the client cut off or starved."""
        log.info("%s %s %s: the client %s", self.client, self.command, log_target(self.path), what)
        self.server.app.metrics.dropped(reason)

    def decide_close(self, response: Response) -> None:
        """The one place that decides, before the answer, whether the connection
        closes after it: not for a refused body (413: its rest is not read), a
        stopping server, or unread body bytes that cannot be drained cheaply."""
        if getattr(response, "status", 0) == 413 or self.server.stopping:
            self.close_connection = True
        elif not self.close_connection and not body.settle(self.exchange.parsed, self.headers):
            self.close_connection = True

    def open_body(self, limit: int) -> body.RequestBody:
        return body.RequestBody(self.rfile, self.headers, limit, self.send_continue)

    def base_url(self) -> str:
        return proxies.base_url(self.server.config.public_url, self.headers, self.peer_is_proxy, self.server.scheme,
                                self.server.server_address)

    @property
    def client(self) -> str:
        """The client's address: the peer's, or the one a trusted proxy forwarded."""
        headers = getattr(self, "headers", None)  # none yet while a head is being read
        forwarded = proxies.forwarded_for(headers, self.peer_is_proxy) if headers is not None else None
        return forwarded or self.client_address[0]

    # Logging.

    def log_message(self, format: str, *args) -> None:
        """The stdlib's own messages (timeouts, parse errors) into ``logging``."""
        log.info("%s %s", self.client_address[0], format % args)


def linger(sock) -> None:
    """After answering early (413, 400) with body bytes still coming, read and
    drop them for a moment before closing: closing a socket with unread input
    resets it, and the client might lose our answer."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(LINGER_SECONDS)
        deadline = time.monotonic() + LINGER_SECONDS
        while time.monotonic() < deadline and sock.recv(1 << 20):
            pass
    except OSError:
        pass
