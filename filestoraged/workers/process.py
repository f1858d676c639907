"""One serving process: the whole daemon when it runs alone (``Alone``), or
one worker under the arbiter (``Worker``). Both build the application
(after the fork, so nothing with threads or open databases is ever forked),
serve until SIGTERM or SIGINT, then drain (``ServingProcess.run``); what
differs is each role's: who holds the data directory, where the listener
comes from, and who is told it is ready (systemd, or the arbiter's pipe).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import List, Optional, Set, Tuple

from . import affinity, systemd
from ..app import App
from ..base.interprocess import run_dir
from ..web.connections import Connections
from ..web.server import FileStoreServer
from . import dirlock
from .startup import start_line
from .listeners import Listeners
from .metrics_files import FLUSH_EVERY, MetricsFiles

log = logging.getLogger(__name__)

# Decision: how long a thread may hold the GIL while others wait for it:
# CPython's default, 5 ms, said here because it was once 0.2 ms. That was
# set when, with the default, a thread that kept winning the GIL back after
# its short syscalls starved the others (64 connections: the slowest 1 % of
# 1 KiB GETs over 100 ms). Measured again on 2026-11-26 (2 cores, the code
# of then), 5 ms did better everywhere: 1 KiB GETs over 64 connections
# 12,709 -> 13,956 req/s with the p99 9.2 -> 8.9 ms (with --workers 1:
# 7,124 -> 7,917 req/s, 13.4 -> 12.0 ms), and 16 clients' 4 KiB S3 PUTs
# 515-599 -> 631-654 per CPU-second with no worse p99: each forced switch
# is a futex wake and a context switch, a fifth of the daemon's CPU under
# that load.
GIL_SWITCH_SECONDS = 0.005

# Decision: pymemcache reads values 4 KiB per recv (a module constant). Raw
# get_many of 1 MiB chunks more than doubles with 64 KiB (776 -> 1,911 MiB/s
# measured), so the daemon, which owns its process, sets it once here, at
# start-up; importing the memcached library (as its users do) never changes it.
MEMCACHED_RECV_SIZE = 64 * 1024
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@dataclass(frozen=True)
class WorkerRole:
    """What makes a process one of several workers: its slot in shared
    tables, the pipe its heartbeat goes to, and its parent."""

    slot: int
    beat_fd: int
    parent: int


def serve_process(config, listeners: Optional[Listeners] = None, role: Optional[WorkerRole] = None) -> int:
    """Serve as the daemon alone (no ``role``) or as one worker; 0 once stopped."""
    return (Alone(config, listeners) if role is None else Worker(config, listeners, role)).run()


class ServingProcess:
    """Serving until a stop signal, then draining: the part every role shares."""

    waits_for: Set[int] = set()  # signals besides the stop signals this role takes (``signalled``)

    def __init__(self, config, listeners: Optional[Listeners]) -> None:
        self.config, self.listeners = config, listeners

    def run(self) -> int:
        # SIGTERM/SIGINT are blocked in every thread (threads inherit the mask, so
        # this comes before any is started) and taken synchronously by sigwait in
        # the main thread. A Python signal handler would not do: the kernel may
        # deliver the signal to another thread, and the main thread, blocked in a
        # lock, would never run the handler.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        if "memcached" in (self.config.backend, self.config.cache):
            import pymemcache.client.base

            pymemcache.client.base.RECV_SIZE = MEMCACHED_RECV_SIZE
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS | self.waits_for)
        self.hold()
        try:
            return self._serve()
        finally:
            self.let_go()

    def _serve(self) -> int:
        app, servers = self.build()
        stop = threading.Event()
        for server in servers:
            threading.Thread(target=server.serve_forever, name="accept-" + server.site.name, daemon=True).start()
        self.ready(servers, stop)
        while True:
            received = signal.sigwait(STOP_SIGNALS | self.waits_for)
            if received in STOP_SIGNALS:
                break
            self.signalled(received)
        stop.set()
        log.info("%s received", signal.Signals(received).name)
        log.info("stopping: no new connections, draining in-flight requests")
        for server in servers:
            server.begin_stop()  # idle keep-alive connections close; busy ones after their answer
        self.stopping()
        for server in servers:
            server.shutdown()  # from the main thread, never the one in serve_forever
            # Close the listener now, not after the drain: new connections are
            # then refused at once (under socket activation systemd keeps the
            # socket, and they wait for the next start; among workers, the
            # others take them) instead of hanging in this process's backlog.
            server.socket.close()
        deadline = time.monotonic() + self.config.shutdown_grace
        if not all([server.drain(max(0.0, deadline - time.monotonic())) for server in servers]):
            log.warning("grace period over with requests still running")
        for server in servers:
            server.server_close()
        servers[0].connections.close()
        self.stopped(app)
        app.close()
        log.info("stopped")
        return 0

    def build(self) -> Tuple[App, List[FileStoreServer]]:
        """The application and its servers: the main port's and, with
        ``--s3-api``, the S3 API's, sharing the process's connections."""
        app = self.make_app()
        servers: List[FileStoreServer] = []
        try:
            listeners = self.listening()
            connections = Connections(self.config, app.worker)
            servers.append(FileStoreServer(app, listeners.main, connections=connections))
            if listeners.s3 is not None:
                servers.append(FileStoreServer(app, listeners.s3, app.s3_site, connections))
            return app, servers
        except BaseException:
            for server in servers:
                server.server_close()
            app.close()
            raise

    # What each role fills in.

    def hold(self) -> None:
        """Take what this process holds while it serves."""

    def let_go(self) -> None:
        """Give back what ``hold`` took, whatever happened."""

    def make_app(self) -> App:
        raise NotImplementedError

    def listening(self) -> Listeners:
        raise NotImplementedError

    def ready(self, servers: List[FileStoreServer], stop: threading.Event) -> None:
        """The servers accept: say so to whoever waits for it."""

    def stopping(self) -> None:
        """A stop signal came: say so before the drain."""

    def stopped(self, app: App) -> None:
        """The drain is over: the last words before the application closes."""


class Alone(ServingProcess):
    """The whole daemon in one process: it holds the data directory, takes
    its socket from systemd or binds it, and tells systemd how it goes
    (READY, STOPPING, the watchdog)."""

    _lock = None
    _watchdog: Optional[threading.Thread] = None
    waits_for = {signal.SIGHUP}  # systemctl reload: left to its default, it would end the daemon

    def __init__(self, config, listeners: Optional[Listeners]) -> None:
        super().__init__(config, listeners)
        # With --cpu-affinity one, its own threads keep one CPU as a worker's
        # do, its helpers the rest (taken here: before any thread starts).
        self._cpus = ""  # what the start line says of it
        given = affinity.given()
        if config.cpu_affinity == "one" and given and len(given) > 1:
            affinity.Placement.of(given, 1, 0, one=True).take()
            self._cpus = affinity.described(given, 1, "one")

    def signalled(self, number: int) -> None:
        log.warning("SIGHUP: a daemon of one process (--workers 1) cannot replace itself while it serves: it "
                    "goes on with its configuration and code; restart it to apply new ones (under socket "
                    "activation no connection is refused meanwhile)")

    def hold(self) -> None:
        self._lock = dirlock.hold(self.config.data_dir)

    def let_go(self) -> None:
        if self._lock is not None:
            dirlock.release(self._lock)

    def make_app(self) -> App:
        return App(self.config, worker=None)

    def listening(self) -> Listeners:
        return self.listeners or Listeners.open(self.config)

    def ready(self, servers: List[FileStoreServer], stop: threading.Event) -> None:
        main = servers[0]
        start_line(self.config, main.url, main.server_address[0], s3_url=servers[1].url if servers[1:] else None,
                   cpus=self._cpus)
        systemd.notify("READY=1\nSTATUS=serving on %s" % main.url)
        self._watchdog = systemd.start_watchdog(stop)

    def stopping(self) -> None:
        systemd.notify("STOPPING=1")

    def stopped(self, app: App) -> None:
        if self._watchdog is not None:
            self._watchdog.join(1)


class Worker(ServingProcess):
    """One of several workers: the arbiter holds the data directory and the
    socket; this process beats to it through a pipe and shares its metrics
    with the other workers through files."""

    def __init__(self, config, listeners: Optional[Listeners], role: WorkerRole) -> None:
        super().__init__(config, listeners)
        self.role = role
        self._metrics_files = MetricsFiles(run_dir(config.data_dir))

    def make_app(self) -> App:
        app = App(self.config, worker=self.role.slot)
        app.peer_metrics = lambda: self._metrics_files.others(os.getpid())
        return app

    def listening(self) -> Listeners:
        # Every worker waits on the same sockets; all wake for a connection and
        # one takes it. Non-blocking (the accept loop then gives each a
        # timeout), the others' accept finds nothing and goes back to waiting,
        # inside the call, instead of blocking in accept.
        assert self.listeners is not None, "a worker is given the arbiter's sockets"
        for sock in self.listeners.all():
            sock.setblocking(False)
        return self.listeners

    def ready(self, servers: List[FileStoreServer], stop: threading.Event) -> None:
        servers[0].tick = Heartbeat(self.role, servers[0].app, self._metrics_files)
        _send(self.role.beat_fd, b"R")  # listening: the parent counts this worker ready

    def stopped(self, app: App) -> None:
        self._metrics_files.write(app.metrics.snapshot())


class Heartbeat:
    """Called from the accept loop (``FileStoreServer.service_actions``) at
    least twice a second: a byte to the parent, which proves that this
    worker still accepts (a side thread would go on beating in a worker
    whose accept loop hangs), and this worker's metrics for the others."""

    def __init__(self, role: WorkerRole, app, metrics_files: MetricsFiles) -> None:
        self._role = role
        self._metrics = app.metrics
        self._files = metrics_files
        self._last = 0.0
        self._written = -1

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last < FLUSH_EVERY:
            return
        self._last = now
        if os.getppid() != self._role.parent:  # the parent died without taking us along
            log.error("the parent process is gone; stopping")
            os.kill(os.getpid(), signal.SIGTERM)
            return
        _send(self._role.beat_fd, b".")
        events = self._metrics.events
        if events != self._written and self._files.write(self._metrics.snapshot()):
            self._written = events  # a write that failed is tried again at the next beat


def _send(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    except BlockingIOError:
        pass  # the parent has not read the last beats yet: it knows we live
    except OSError as error:
        log.debug("heartbeat not sent: %s", error)
