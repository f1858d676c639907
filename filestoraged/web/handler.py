"""The HTTP request handler: one connection, one request at a time on it:
read the head, route, authorize, let the face answer, write the answer,
and turn any failure into its answer.

It builds on ``BaseHTTPRequestHandler`` but dispatches every method through
the router instead of ``do_<METHOD>`` (which would answer 501 for ``BREW``
where our contract wants 405 with ``Allow``). Each request's state is an
``Exchange``, made anew per request and closed with its access line.

How answers go out: a whole answer in one write (status line, headers and
body together: with ``TCP_NODELAY`` that is the difference between ~900
and thousands of requests per second), a hot small object from the
ready-made answers, a stored object through ``transfer`` at the paced
sender's minimum rate. Whole answers are sent in the worker's turn
(``base/turns``: in the order they were ready, which keeps the slowest
answers near the median under load), but only what the socket takes at
once: the rest, for a client that reads slowly, is written after the turn
is handed on, at the client's pace.
"""

from __future__ import annotations

import io
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Callable, Optional

from ..errors import CorruptObject, FileStoreError, RequestTimeout, http_status, log_level, named
from ..wire import body, proxies, request_head, response_head
from . import tls
from .admission import WaitingPlace
from .connection_io import SocketWriter, linger, send_now, sends_now
from .deadlines import PacedReader, PacedSender
from .exchange import Exchange, log_target
from .messages import (EmptyResponse, ObjectResponse, PreparedResponse, Request, Response, StreamResponse,
                       error_response, whole_parts)
from .streaming import serve_stream
from .transfer import Wire, serve_object

log = logging.getLogger(__name__)


class RequestHandler(BaseHTTPRequestHandler):
    """One instance per connection; ``handle_one_request`` runs per request."""

    protocol_version = "HTTP/1.1"
    # ``server`` (the stdlib's): the ``server.FileStoreServer`` that accepted the connection.
    reader: PacedReader  # the paced raw stream under ``rfile``
    exchange: Exchange  # the request being answered
    sends_at_once: bool  # plain TCP: whole answers take turns (see send_in_turn)
    fresh: bool  # no request read on this connection yet
    first_head_by: float  # the first head's deadline (from the accept, the TLS handshake included)
    handshake_failed: bool
    peer_is_proxy: bool  # the peer is a --trusted-proxy: its X-Forwarded-* headers are believed

    def setup(self) -> None:
        config = self.server.config
        self.first_head_by = time.monotonic() + config.head_timeout
        self.timeout = config.idle_timeout
        self.handshake_failed = False
        if self.server.tls is not None:
            # Waiting for its ClientHello, the connection may be given up
            # when slots run short, as an idle one is, if it sent nothing: a
            # silent connection must not hold a slot through the handshake.
            place = WaitingPlace()
            self.server.connection_idle(self.request, place)
            self.handshake_failed = not tls.handshake(self.request, config.head_timeout,
                                                      lambda: self.server.waiting.begin(place))
        self.peer_is_proxy = self.client_address[0] in self.server.trusted_proxies
        # The stdlib's setup, less its reader: ours paces every read (see deadlines).
        self.connection = self.request
        self.connection.settimeout(config.idle_timeout)
        self.wfile = SocketWriter(self.connection)
        self.reader = PacedReader(self.connection, config.idle_timeout, config.head_timeout, config.min_body_rate)
        self.rfile = io.BufferedReader(self.reader, 65536)
        self.sends_at_once = sends_now(self.connection)
        self.fresh = True

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
                self.request_version = version
                self.headers = request_head.read_headers(self.rfile)
                self.path = request_head.origin_form(self.path, self.headers)
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
            # Asked once a request: the ready-made answers and routing both go by it.
            self.host_known = self.server.app.access.knows_host(self.headers, self.reached_as())
            if not (self.host_known and self.answer_ready_made()):
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
        site = self.server.site
        access = self.server.app.access
        if (self.command == "OPTIONS" and self.exchange.cors_fields.startswith("Access-Control-Allow-Origin")
                and "Access-Control-Request-Method" in self.headers and self.host_known):
            self.answer_preflight(path)
            return
        try:
            if not self.host_known:
                access.hosts.check(self.reached_as())  # Misdirected (421), naming the name
            site.check_port(self.headers, query)  # WrongPort (421), naming the right one
            handler, captures, self.exchange.face, need = site.router.match(self.command, path)
            if query:
                site.router.check_query(path, query)
            grant = site.grant(need, captures, self.headers, lambda: self.client)
            request = Request(self.command, path, query, self.headers, self.open_body, self.base_url(),
                              self.client, grant)
            self.exchange.parsed = request
            response: Response = handler(request, **captures)
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
            self.exchange.face = site.router.face_of(path)
            response = self.failed(error)
        self.decide_close(response)
        if isinstance(response, ObjectResponse):
            self.write_object(response)
        elif isinstance(response, PreparedResponse):
            payload = response.body if self.command != "HEAD" else b""
            self.send_in_turn(response.status, response.fields + response_head.fields(response.headers), payload)
            self.exchange.bytes_out += len(payload)
        elif isinstance(response, StreamResponse):
            self.write_stream(response)
        else:
            self.write_whole(response)
        if self.close_connection and body.has_unread(self.exchange.parsed, self.headers):
            linger(self.connection)

    def answer_preflight(self, path: str) -> None:
        """A browser asks whether a cross-origin request may be sent (see ``cors``)."""
        try:
            methods = self.server.site.router.methods_for(path)
            response: Response = EmptyResponse(204, self.server.cors.preflight(methods))
        except FileStoreError as error:
            response = self.failed(error)
        self.decide_close(response)
        self.write_whole(response)

    def failed(self, error: BaseException) -> Response:
        """The one place a failure becomes an answer: logged as loud as it
        is the operator's concern (``errors.log_level``: a bug with its
        traceback), counted when it is corruption, and answered as the site
        answers failures."""
        error = named(error)
        if isinstance(error, CorruptObject):
            self.server.app.metrics.integrity_failure()
        _, code = http_status(error)
        target = log_target(self.path)
        level = log_level(error)
        if code == "internal":
            log.error("unhandled error in %s %s", self.command, target, exc_info=error)
        elif level is not None:
            log.log(level, "%s %s: %s %s", self.command, target, code, error)
        return self.server.site.answer_failure(error, getattr(self, "headers", None), self.path,
                                               self.exchange.parsed)

    def client_fault(self, reason: str, what: str) -> None:
        """One log line and a count for a request the client cut off or starved."""
        log.info("%s %s %s: the client %s", self.client, self.command, log_target(self.path), what)
        self.server.app.metrics.dropped(reason)

    def decide_close(self, response: Response) -> None:
        """The one place that decides, before the answer, whether the connection
        closes after it: not for a refused body (413, or 507 for a quota or a
        full disk: its rest is not read), a stopping server, or unread body
        bytes that cannot be drained cheaply."""
        if getattr(response, "status", 0) in (413, 507) or self.server.stopping:
            self.close_connection = True
        elif not self.close_connection and not body.settle(self.exchange.parsed, self.headers):
            self.close_connection = True

    def open_body(self, limit: int) -> body.RequestBody:
        return body.RequestBody(self.rfile, self.headers, limit, self.send_continue)

    def reached_as(self) -> Optional[str]:
        """The name the client used for us: a trusted proxy's
        ``X-Forwarded-Host``, else the Host header (None without one)."""
        return proxies.forwarded_origin(self.headers, self.peer_is_proxy)[1] or self.headers.get("Host")

    def base_url(self) -> Callable[[], str]:
        """This request's base URL when asked (``Request.base_url``), from its own headers."""
        config, headers, trusted, server = self.server.config, self.headers, self.peer_is_proxy, self.server
        return lambda: proxies.base_url(config.public_url, headers, trusted, server.scheme, server.server_address)

    @property
    def client(self) -> str:
        """The client's address: the peer's, or the one a trusted proxy forwarded."""
        headers = getattr(self, "headers", None)  # none yet while a head is being read
        forwarded = proxies.forwarded_for(headers, self.peer_is_proxy) if headers is not None else None
        return forwarded or self.client_address[0]

    # Answers.

    def answer_ready_made(self) -> bool:
        """Answer a plain GET/HEAD of a hot small object in one write, without
        routing (see ``response_cache``); False to take the full path."""
        if self.command != "GET" and self.command != "HEAD":
            return False
        if self.server.site.settled is not None:
            return self.answer_settled(self.server.site.settled)
        if not self.server.site.ready_made or self.server.app.access.mode == "all":
            return False  # every read needs a token (or its own check): no shortcut past it
        ready = self.server.ready.get(self.path, self.headers)
        if ready is None:
            return False
        self.exchange.face = ready.face
        payload = ready.body if self.command == "GET" else b""
        self.send_in_turn(200, ready.fields, payload)
        self.exchange.bytes_out = len(payload)
        return True

    def answer_settled(self, settled) -> bool:
        """Answer from a site's own kept answer (``Site.settled``) in one
        write, without routing; False to take the full path."""
        found = settled(self.command, self.path, self.headers, lambda: self.client)
        if found is None:
            return False
        exchange = self.exchange
        exchange.face, exchange.operation, exchange.request_id, exchange.who = \
            found.face, found.operation, found.request_id, found.who
        payload = found.body if self.command == "GET" else b""
        self.send_in_turn(200, found.fields, payload)
        self.exchange.bytes_out = len(payload)
        return True

    def write_whole(self, response: Response) -> None:
        """Status, headers and body in one write."""
        headers, payload = whole_parts(response, self.command)
        self.send_in_turn(response.status, response_head.fields(headers), payload, getattr(response, "reason", None))
        self.exchange.bytes_out += len(payload)

    def send_in_turn(self, status: int, fields: str, payload: bytes, reason: Optional[str] = None) -> None:
        """Head and body in one write (``send_whole``)."""
        self.send_whole(self.head(status, fields, reason) + payload)

    def send_whole(self, data: bytes) -> None:
        """A whole answer, head and body, in one write: what the socket takes
        at once in this worker's turn, the rest after it (see the module
        docstring), with no poll before it. Over TLS nothing can be sent
        without a possible wait: no turn."""
        if not self.sends_at_once:
            self.wfile.write(data)
            return
        with self.server.turns:
            sent = send_now(self.connection, data)
        if sent < len(data):
            self.wfile.write(memoryview(data)[sent:])

    def write_object(self, response: ObjectResponse) -> None:
        config = self.server.config
        sender = PacedSender(self.connection, config.idle_timeout, config.head_timeout, config.min_send_rate)
        self.exchange.sender = sender
        wire = Wire(self.wfile.write, sender, self.head, self.send_whole)
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

    def write_stream(self, response: StreamResponse) -> None:
        config = self.server.config
        sender = PacedSender(self.connection, config.idle_timeout, config.head_timeout, config.min_send_rate)
        self.exchange.sender = sender
        chunked = self.request_version == "HTTP/1.1"
        if not chunked:
            self.close_connection = True  # the end of the body is the end of the connection
        wire = Wire(self.wfile.write, sender, self.head, self.send_whole)
        try:
            streamed = serve_stream(response, self.command, chunked, wire)
        except Exception as error:  # found before anything was written
            self.write_whole(self.failed(error))
            return
        self.exchange.bytes_out += streamed.bytes_out
        if streamed.gone:
            self.close_connection = True
            self.client_fault("client_gone", "stopped taking a streamed answer")
        if streamed.cut_by is not None:
            self.failed(streamed.cut_by)
            log.error("%s %s: %s mid-stream, connection cut", self.command, log_target(self.path), streamed.cut_by)
            self.close_connection = True

    def remember(self, fields: str, payload: bytes, still_current) -> None:
        self.server.ready.remember(self.path, self.exchange.face, fields, payload, still_current)

    def head(self, status: int, fields: str, reason: Optional[str] = None) -> bytes:
        self.reader.for_writing()
        self.exchange.status = status
        return response_head.head(status, fields + self.exchange.cors_fields, self.close_connection, reason)

    def send_continue(self) -> None:
        """Answer ``Expect: 100-continue`` once the face starts reading the body."""
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def log_message(self, format: str, *args) -> None:
        """The stdlib's own messages (timeouts, parse errors) into ``logging``."""
        log.info("%s %s", self.client_address[0], format % args)
