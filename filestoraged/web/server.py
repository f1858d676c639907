"""The listening server: ``ThreadingHTTPServer`` with the production knobs set.

- ``TCP_NODELAY`` on every accepted socket (small answers leave at once).
- A bound on concurrent connections per worker and per client address
  (``admission``): when slots run short the connection waits for one (at
  most ``SLOT_WAIT``), the oldest idle connection given up for it and its
  slot owed to it; past that a client gets ``503`` with ``Retry-After``.
  The per-address cap bounds the threads that wait. No handshake and no
  TLS write happen on the accept thread.
- ``drain()`` waits for in-flight connections to finish (graceful stop):
  ``daemon_threads`` alone would let ``server_close`` drop them.
- Its own accept loop (``serve_forever``, ``shutdown``): the listening
  socket's ``accept`` with a timeout, not a selector's rounds.
- A connection it cannot take (the process out of file descriptors, or
  of threads) is answered ``503``, never left unanswered.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Callable, Optional

from ..errors import OUT_OF_FILES, TooManyConnections
from ..logs import Occasional
from ..wire import response_head
from .admission import has_bytes
from .connections import Connections
from .descriptors import WAIT_FOR_A_CLOSE
from .handler import RequestHandler
from .messages import error_response, whole_parts
from .response_cache import ReadyResponses
from .site import Site
from ..wire.cors import Cors
from .tls import Refusals, server_context

log = logging.getLogger(__name__)

# At a stop: a connection silent this long (since the stop, or since it
# began waiting) with nothing to read is closed; one whose request head has
# begun gets HEAD_GRACE to finish it, then it is served (with close).
LINGER = 1.0
HEAD_GRACE = 2.0
# Memory for ready-made answers to hot small GETs (see response_cache.py).
READY_RESPONSE_BYTES = 16 * 1024 * 1024
# A connection that finds no free slot waits this long for one, giving up
# idle connections for it (silent ones may keep arriving): then 503.
SLOT_WAIT = 1.0


class FileStoreServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app, listen_socket: Optional[socket.socket] = None, site: Optional[Site] = None,
                 connections: Optional[Connections] = None) -> None:
        """``site``: what it serves (the application's main one by default);
        ``connections``: shared with the process's other server (made here,
        and closed with this server, if not given)."""
        self.app = app
        self.site = site or app.site
        self.config = app.config
        self.tls = server_context(self.config.tls_cert, self.config.tls_key)
        self.scheme = "https" if self.tls is not None else "http"
        self.cors = Cors(self.config.cors_origin)
        self.ready = ReadyResponses(READY_RESPONSE_BYTES)
        self._own_connections = connections is None
        self.connections = connections or Connections(self.config, app.worker)
        self.trusted_proxies = self.connections.trusted_proxies
        self.turns = self.connections.turns
        self.connection_threads = self.connections.threads
        self.admission = self.connections.admission
        self.waiting = self.connections.waiting
        self._active = 0
        self._idle = threading.Condition()
        self.stopping = False
        self._stop_at = 0.0
        self._accepting = False  # serve_forever is running: a connection may still come
        self._stop_asked = False  # shutdown() was called: the accept loop ends
        self._loop_ended = threading.Event()  # no accept loop runs
        self._loop_ended.set()
        self._threads_warning = Occasional(log)  # (``_no_thread_for``)
        # Refused TLS connections, answered off the accept thread (see tls.Refusals).
        self._refusals = Refusals(_refusal(), self.shutdown_request) if self.tls is not None else None
        self.tick: Optional[Callable[[], None]] = None  # run by the accept loop (a worker's heartbeat)
        if listen_socket is None:
            listen_socket = listen(self.config.host, self.config.port)
        # The socket comes bound and listening: from listen(), from systemd
        # (socket activation) or from the parent of worker processes.
        self.address_family = listen_socket.family
        super().__init__(listen_socket.getsockname()[:2], RequestHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listen_socket
        self.server_address = listen_socket.getsockname()
        self._family, self._type, self._proto = int(listen_socket.family), int(listen_socket.type), listen_socket.proto
        host, port = self.server_address[:2]
        app.ports[self.site.name] = port  # (a request for the other port is told this one: web.wrong_port)
        mode, why = self.site.resolve(host)
        # DEBUG: the start line (workers.startup) says it once, for all workers.
        log.debug("listening on %s://%s:%d (%s, backend %s, access control %s: %s)", self.scheme, host, port,
                  self.site.name, app.backend.name, mode, why)

    @property
    def url(self) -> str:
        return url_of(self.scheme, self.server_address)

    def service_actions(self) -> None:
        """Run by ``serve_forever`` after each accept and each idle half second."""
        if self.tick is not None:
            self.tick()

    def get_request(self):
        if self.admission.should_yield():
            # Full here, room in a sibling: let it accept (every worker wakes
            # for a connection). A short wait keeps this loop from spinning.
            with self._idle:
                self._idle.wait(0.005)
            raise OSError("no free slot here")  # the accept loop goes back to waiting
        try:
            return self._accept()
        except OSError as error:
            if error.errno in OUT_OF_FILES:
                self._out_of_files()
            raise

    def _accept(self):
        # socket.accept() without its wrapper, which turns the listening
        # socket's family and type into enums for every connection.
        fd, address = self.socket._accept()
        conn = socket.socket(self._family, self._type, self._proto, fileno=fd)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:  # the handshake happens in the connection's thread
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, address

    def _out_of_files(self) -> None:
        """No descriptor free for a pending connection: one is refused
        through the spare (``descriptors``), or the loop waits a moment for
        a connection to end, instead of trying again at once, for ever."""
        if not self.connections.spare.refuse_one(self._accept, lambda taken: self.refuse(taken[0], "out of files")):
            with self._idle:
                self._idle.wait(WAIT_FOR_A_CLOSE)

    def process_request(self, request, client_address) -> None:
        bucket = self.admission.admit_client(client_address[0])
        if bucket is None:
            self.refuse(request, "too many connections from %s" % client_address[0])
            return
        # Slots run short: this connection waits (briefly, in its own thread)
        # for one, the oldest idle connection given up for it once its own
        # request has begun to arrive (a silent newcomer displaces nobody,
        # however many come); while slots are owed to others or idle ones
        # may be given up, it waits. Nothing idle and nothing owed: every
        # slot serves a request, refused at once.
        waits: Optional[bool] = None  # None: it has its slot; True: one is owed to it; False: it looks for one
        if self.admission.take_slot():
            self.waiting.expect(request)
        else:
            if self._give_up_idle_for(request):
                waits = True
            elif self.admission.owing() or self.waiting.any_idle():
                waits = False
            else:
                self.admission.release_client(bucket)
                self.refuse(request, None)
                return
        with self._idle:
            self._active += 1
            # Set under the lock that counts: two threads setting the gauge
            # outside it could leave the older count standing last.
            self.app.metrics.connections(self._active)
        try:
            self.connection_threads.run(self.process_request_thread, request, client_address, waits, bucket)
        except RuntimeError as error:  # no thread could be started ("can't start new thread")
            self._no_thread_for(request, waits, bucket, error)

    def _no_thread_for(self, request, waits: Optional[bool], bucket: int, error: RuntimeError) -> None:
        """The kernel would start no thread for a connection (systemd's
        ``TasksMax=``, the machine's ``threads-max``): what it took (its
        slot, or the one owed to it; its count as its client's) is given
        back, as its thread would have, and it is answered 503, so that
        the worker keeps every slot for the connections to come."""
        self._give_back(request, waits is None, waits is True, bucket)
        self._threads_warning.say("no thread could be started for a connection (%s): it was answered 503; raise "
                                  "the service's TasksMax= (or the machine's threads-max)" % error)
        self.refuse(request, "no thread")

    def process_request_thread(self, request, client_address, waits: Optional[bool] = None,
                               bucket: int = -1) -> None:
        holds = waits is None or self._wait_for_slot(request, waits)
        if holds and waits is not None:
            self.waiting.expect(request)
        try:
            if holds:
                super().process_request_thread(request, client_address)
            else:
                self.refuse(request, None)
        finally:
            self._give_back(request, holds, False, bucket)  # (a slot owed and not had: forgiven by the wait)

    def _give_back(self, request, held: bool, owed: bool, bucket: int) -> None:
        """At a connection's end, what it took given back: its slot
        (``held``) or the one owed to it (``owed``), its count as its
        client's; one active connection fewer, told to whoever waits for one to end."""
        self.waiting.remove(request)
        if held:
            self.admission.give_slot()
        elif owed:
            self.admission.forgive_slot()
        self.admission.release_client(bucket)
        with self._idle:
            self._active -= 1
            self.app.metrics.connections(self._active)
            self._idle.notify_all()

    def _wait_for_slot(self, request, owed: bool) -> bool:
        """A slot for ``request`` within ``SLOT_WAIT``: the one owed to it
        (``owed``: an idle one was given up for it at its accept), one given
        back, or, once its request has begun to arrive, the slot of the
        oldest idle connection, given up now and owed to it (a newer
        connection cannot take it first); False if none came."""
        deadline = time.monotonic() + SLOT_WAIT
        while True:
            if owed:
                if self.admission.take_owed_slot():
                    return True
            elif self.admission.take_slot():
                return True
            elif self._give_up_idle_for(request):
                owed = True
                continue
            if time.monotonic() > deadline:
                if owed:
                    self.admission.forgive_slot()
                return False
            with self._idle:
                self._idle.wait(0.01)

    def _give_up_idle_for(self, request) -> bool:
        """Once ``request``'s bytes have begun to arrive, give up the oldest
        idle connection for it, the slot owed to it first (owed after, the
        slot could be given back and taken by another in between); False if
        it sent nothing yet or nothing is idle."""
        if not has_bytes(request):
            return False
        self.admission.owe_slot()
        if self.waiting.reclaim_oldest():
            return True
        self.admission.forgive_slot()
        return False

    def refuse(self, request, reason: Optional[str]) -> None:
        """Answer 503 and close: at once over plain HTTP (the few bytes fit the
        socket's buffer; never waited on), over TLS by ``tls.Refusals`` (the
        handshake cannot run on the accept thread)."""
        self.app.metrics.refused_connection()
        if reason is not None:
            log.debug("refused a connection: %s", reason)  # counted; a flood must not flood the log
        if self._refusals is not None:
            self._refusals.put(request)
            return
        try:
            socket.socket.send(request, _refusal(), socket.MSG_DONTWAIT)
        except OSError:
            pass
        self.shutdown_request(request)

    def connection_idle(self, sock, reader) -> None:
        """A handler is about to wait for its next request (or its first)."""
        self.waiting.add(sock, reader)

    def connection_busy(self, sock) -> None:
        """A whole request head has arrived: the request is in flight."""
        self.waiting.remove(sock)

    def begin_stop(self) -> None:
        """Make busy connections close after their current answer, and close
        waiting ones once they stay silent (see ``LINGER``): a request that
        has begun to arrive is served, so a reload drops nothing."""
        self.stopping = True
        self._stop_at = time.monotonic()
        closer = threading.Thread(target=self._close_lingering, name="stop-closer", daemon=True)
        closer.start()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept and hand over connections until ``shutdown``.

        Decision: the socket's own ``accept`` with a timeout, not
        socketserver's loop of a selector's ``select`` and then ``accept``:
        the wait, and a connection a sibling worker took first, are handled
        inside the call, with no Python between them (with the socket
        module's conversions in ``accept``, the selector's rounds cost 21k
        of the 396k instructions a connection that made one request cost:
        callgrind)."""
        with self._idle:
            self._accepting = True
        self._loop_ended.clear()
        self.socket.settimeout(poll_interval)
        try:
            while not self._stop_asked:
                try:
                    request, client_address = self.get_request()
                except OSError:  # the wait ran out; a sibling took it; no free slot here
                    self.service_actions()
                    continue
                try:
                    self.process_request(request, client_address)
                except Exception:
                    self.handle_error(request, client_address)
                    self.shutdown_request(request)
                except BaseException:
                    self.shutdown_request(request)
                    raise
                self.service_actions()
        finally:
            self._stop_asked = False
            self._loop_ended.set()
            with self._idle:
                self._accepting = False
                self._idle.notify_all()

    def shutdown(self) -> None:
        """End ``serve_forever`` (within its poll interval) and wait for it;
        from another thread."""
        self._stop_asked = True
        self._loop_ended.wait()

    def _close_lingering(self) -> None:
        # Until the accept loop has ended too: a connection accepted after
        # the stop began gets the same treatment (else it waited for its
        # head timeout, and the stop with it).
        while True:
            self.waiting.close_lingering(self._stop_at, LINGER, HEAD_GRACE)
            with self._idle:
                if not self._active and not self._accepting:
                    return
                self._idle.wait(0.05)

    def handle_error(self, request, client_address) -> None:
        log.exception("error while serving %s", client_address[0])

    def drain(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for the requests in flight to finish.
        Call after ``begin_stop()`` and ``shutdown()``."""
        deadline = time.monotonic() + grace
        with self._idle:
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def server_close(self) -> None:
        super().server_close()
        if self._own_connections:
            self.connections.close()


def url_of(scheme: str, address) -> str:
    """``scheme://host:port`` for a socket address (IPv6 hosts in brackets)."""
    host, port = address[:2]
    return "%s://%s:%d" % (scheme, "[%s]" % host if ":" in host else host, port)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host`` (IPv4, or IPv6 for an address with
    a colon) and ``port`` (0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(FileStoreServer.request_queue_size)
    except BaseException:
        sock.close()
        raise
    return sock


def _refusal() -> bytes:
    """The whole answer to a connection over ``--max-connections``."""
    headers, payload = whole_parts(error_response(TooManyConnections()), "GET")
    return response_head.head(503, response_head.fields(headers), close=True) + payload
