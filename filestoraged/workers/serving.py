"""One serving process: the whole daemon when it runs alone, or one worker
under the arbiter. It builds the application (after the fork, so nothing
with threads or open databases is ever forked), serves until SIGTERM or
SIGINT, then drains."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional

from .. import systemd
from ..app import App
from ..base.interprocess import run_dir
from ..web.server import FileStoreServer
from . import dirlock
from .startup import start_line
from .metrics_files import FLUSH_EVERY, MetricsFiles

log = logging.getLogger(__name__)

# Decision: how long a thread may hold the GIL while others wait for it
# (CPython's default is 5 ms). Every connection has its own thread; with the
# default, a thread that keeps winning the GIL back after its short syscalls
# starves the others, and with 64 connections the slowest 1% of 1 KiB GETs
# waited over 100 ms. At 0.2 ms they wait about a third of that, for about
# a tenth less throughput; big transfers are unaffected (hashing, file
# and socket I/O run without the GIL).
GIL_SWITCH_SECONDS = 0.0002

# Decision: pymemcache reads values 4 KiB per recv (a module constant). Raw
# get_many of 1 MiB chunks more than doubles with 64 KiB (776 -> 1,911 MiB/s
# measured), so the daemon, which owns its process, sets it once here, at
# start-up; importing the library (seed 000's users do) never changes it.
MEMCACHED_RECV_SIZE = 64 * 1024
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@dataclass(frozen=True)
class WorkerRole:
    """What makes a process one of several workers: its slot in shared
    tables, the pipe its heartbeat goes to, and its parent."""

    slot: int
    beat_fd: int
    parent: int


def serve(config, listener: Optional[socket.socket] = None, role: Optional[WorkerRole] = None) -> int:
    # SIGTERM/SIGINT are blocked in every thread (threads inherit the mask, so
    # this comes before any is started) and taken synchronously by sigwait in
    # the main thread. A Python signal handler would not do: the kernel may
    # deliver the signal to another thread, and the main thread, blocked in a
    # lock, would never run the handler.
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    if "memcached" in (config.backend, config.cache):
        import pymemcache.client.base

        pymemcache.client.base.RECV_SIZE = MEMCACHED_RECV_SIZE
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    # Alone, this process holds the data directory (a worker's parent does).
    lock = dirlock.hold(config.data_dir) if role is None else None
    try:
        return _serve(config, listener, role)
    finally:
        if lock is not None:
            dirlock.release(lock)


def _serve(config, listener: Optional[socket.socket], role: Optional[WorkerRole]) -> int:
    app = App(config, worker=None if role is None else role.slot)
    if role is not None:
        # Every worker waits on the same socket; all wake for a connection and
        # one takes it. Non-blocking, the others' accept fails at once (and
        # socketserver goes back to waiting) instead of blocking in accept.
        listener.setblocking(False)
    try:
        if listener is None:
            listener = systemd.activation_socket(config.host, config.port)
        server = FileStoreServer(app, listener)
    except BaseException:
        app.close()
        raise
    metrics_files = None
    if role is None:
        start_line(config, server.url, server.server_address[0])
    else:
        metrics_files = MetricsFiles(run_dir(config.data_dir))
        app.peer_metrics = lambda: metrics_files.others(os.getpid())
        server.tick = Heartbeat(role, app, metrics_files)
    stop = threading.Event()
    serving = threading.Thread(target=server.serve_forever, name="accept", daemon=True)
    serving.start()
    if role is None:
        systemd.notify("READY=1\nSTATUS=serving on %s" % server.url)
        watchdog = systemd.start_watchdog(stop)
    else:
        watchdog = None
        _send(role.beat_fd, b"R")  # listening: the parent counts this worker ready
    received = signal.sigwait(STOP_SIGNALS)
    stop.set()
    log.info("%s received", signal.Signals(received).name)
    log.info("stopping: no new connections, draining in-flight requests")
    server.begin_stop()  # idle keep-alive connections close; busy ones after their answer
    if role is None:
        systemd.notify("STOPPING=1")
    server.shutdown()  # from the main thread, never the one in serve_forever
    # Close the listener now, not after the drain: new connections are then
    # refused at once (under socket activation systemd keeps the socket, and
    # they wait for the next start; among workers, the others take them)
    # instead of hanging in this process's backlog.
    server.socket.close()
    drained = server.drain(config.shutdown_grace)
    if not drained:
        log.warning("grace period over with requests still running")
    server.server_close()
    if watchdog is not None:
        watchdog.join(1)
    if metrics_files is not None:
        metrics_files.write(app.metrics.snapshot())
    app.close()
    log.info("stopped")
    return 0


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
        if self._metrics.events != self._written:
            self._written = self._metrics.events
            self._files.write(self._metrics.snapshot())


def _send(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    except BlockingIOError:
        pass  # the parent has not read the last beats yet: it knows we live
    except OSError as error:
        log.debug("heartbeat not sent: %s", error)
