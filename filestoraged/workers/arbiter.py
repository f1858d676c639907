"""The parent of the worker processes (``--workers N|auto``).

It binds the socket (or takes the one systemd passed), readies the data
directory, forks the workers and then only watches: it serves nothing and
opens nothing a worker could inherit half-used. Each worker accepts from the
shared socket. The parent

- restarts a worker that dies, after a pause that doubles (to 10 s) while
  workers keep dying young, and gives back what the dead one held;
- kills a worker whose accept loop stopped beating for ``SILENT_LIMIT``;
- sends ``READY=1`` once every worker listens, pings the systemd watchdog
  only while every worker beats, and ``STOPPING=1`` on SIGTERM/SIGINT, which
  it passes on, then waits for every worker to drain (exit 0 if all did);
- on SIGHUP re-reads the configuration and replaces the workers one at a
  time, each old one stopped only once its replacement listens, so no
  connection is refused (the socket itself never closes); when new code was
  installed since it started, it first becomes that code (``upgrade``), and
  the workers are replaced by workers of the new code.

``MAINPID`` is the parent; workers never talk to systemd.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import time
from collections import deque
from typing import Deque, Dict, List, Optional

from . import affinity, systemd
from .. import config as config_module
from ..base.interprocess import WORKER_SLOTS
from ..deployment import deployment_for
from ..web.server import url_of
from ..web.tls import server_context
from . import worker_count
from . import dirlock, upgrade
from .. import __version__
from .startup import start_line
from .children import Child, describe, finish, give_back, prepare, signal_quietly, spawn
from .listeners import Listeners
from .metrics_files import FLUSH_EVERY

log = logging.getLogger(__name__)

SILENT_LIMIT = 30.0  # seconds without a heartbeat before a worker is taken for hung
START_LIMIT = 60.0  # seconds a new worker gets to start listening
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 10.0
YOUNG = 10.0  # a worker that dies younger than this doubles the pause before the next start
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)


class Arbiter:
    def __init__(self, config, argv: List[str]) -> None:
        self.config = config
        self.argv = argv
        self.children: Dict[int, Child] = {}
        self._selector = selectors.DefaultSelector()
        self._pending: List[int] = []  # signals received, handled by the loop
        self._restart_at: Dict[int, float] = {}  # slot -> when its next worker may start
        self._backoff = BACKOFF_FIRST
        self._swaps: Deque[Child] = deque()  # old workers to replace (SIGHUP)
        self._swap: Optional[tuple] = None  # (old, new) while the new one starts
        # An upgrade in place over records of an older form: every old worker
        # drains and exits before the records are converted and new ones start.
        self._converting = False
        self._stopping = False
        self._cpus: Optional[List[int]] = None  # the CPUs given, shared out among the workers (affinity)
        self._count = 1  # workers the configuration asks for (read at start and at each reload: not each round)
        self._lock = -1  # the data directory's lock
        self._code = upgrade.code_stamp()  # the code this parent runs, to tell an upgrade on SIGHUP

    def run(self) -> int:
        config = self.config
        if "memcached" in (config.backend, config.cache):
            import pymemcache  # noqa: F401  (missing: one line and exit 1, before any fork)
        server_context(config.tls_cert, config.tls_key)  # a bad certificate: exit 2 here, not in each worker
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        self._wake = (wake_read, wake_write)
        self._selector.register(wake_read, selectors.EVENT_READ)
        signal.set_wakeup_fd(wake_write)
        for number in _SIGNALS:
            signal.signal(number, lambda number, frame: self._pending.append(number))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # blocked across an upgrade's exec
        handover = upgrade.taken_over()
        if handover is None:
            self._lock = dirlock.hold(config.data_dir)  # kept until exit; the workers inherit it
            prepare(config)  # (not in an upgrade: the old workers' uploads and reservations are live)
            self.listeners = Listeners.open(config)
        else:
            self._lock = dirlock.adopt(handover.lock, config.data_dir)
            self.listeners = Listeners(handover.sockets["main"], handover.sockets.get("s3"))
        count = worker_count(config.workers)
        self._cpus = affinity.given() if config.cpu_affinity in ("auto", "one") else None
        self._count = count
        scheme = "https" if config.tls_cert else "http"
        url = url_of(scheme, self.listeners.main.getsockname())
        s3 = self.listeners.s3
        # Connections wait in the sockets' backlogs until the first worker takes them.
        start_line(config, url, self.listeners.main.getsockname()[0], count,
                   s3_url=url_of(scheme, s3.getsockname()) if s3 is not None else None,
                   cpus=affinity.described(self._cpus, count, config.cpu_affinity))
        if handover is None:
            for slot in range(count):
                self._start(slot)
        else:
            self._adopt(handover)
        status = self._until_ready()
        if status is not None:
            self._stop()
            return status
        systemd.notify("READY=1\nMAINPID=%d\nSTATUS=serving on %s with %d workers"
                       % (os.getpid(), url, len(self.children)))
        return self._serve()

    def _until_ready(self) -> Optional[int]:
        """None once every first worker listens; else the exit status of the
        first that failed to start (it said why on stderr). One killed by a
        signal meanwhile is started again."""
        deadline = time.monotonic() + START_LIMIT
        while not all(child.ready for child in self.children.values()):
            if time.monotonic() > deadline:
                log.error("workers did not start listening within %d s", START_LIMIT)
                return 1
            self._wait(0.5)
            for child, status in self._reap():
                code = os.waitstatus_to_exitcode(status)
                if code > 0:
                    give_back(self.config, child.pid, child.slot)
                    return code
                self._died(child, status)
            self._restart_due(time.monotonic())
            if self._handle_signals():
                return 0
        return None

    def _serve(self) -> int:
        watchdog = systemd.watchdog_interval()
        # A worker beats every FLUSH_EVERY: silent for three beats, it is not serving.
        fresh = max(watchdog / 2, 3 * FLUSH_EVERY)
        next_ping = time.monotonic()
        while True:
            self._wait(min(0.5, watchdog / 2) if watchdog else 0.5)
            if self._handle_signals():
                return self._stop()
            for child, status in self._reap():
                self._died(child, status)
            now = time.monotonic()
            self._restart_due(now)
            self._advance_swap(now)
            for child in list(self.children.values()):
                # (A retiring worker stopped accepting on purpose: it drains.)
                if child.ready and not child.retiring and now - child.last_beat > SILENT_LIMIT:
                    log.error("worker %d has not accepted for %d s: killing it", child.pid, SILENT_LIMIT)
                    signal_quietly(child.pid, signal.SIGKILL)
                    child.last_beat = now  # once; it is reaped and replaced
            if watchdog and now >= next_ping:
                next_ping = now + watchdog / 2
                if self._all_beating(now, fresh):
                    systemd.notify("WATCHDOG=1")
                else:
                    log.warning("watchdog not pinged: a worker is missing or silent")

    def _start(self, slot: int) -> Child:
        siblings = [child.pipe for child in self.children.values()] + list(self._wake)
        placement = (affinity.Placement.of(self._cpus, self._count, slot, self.config.cpu_affinity == "one")
                     if self._cpus else None)
        child = spawn(self.config, self.listeners, slot, siblings, placement)
        self.children[child.pid] = child
        self._selector.register(child.pipe, selectors.EVENT_READ, child)
        return child

    def _wait(self, timeout: float) -> None:
        """Wait for a heartbeat, a signal or ``timeout``; read what came."""
        for key, _ in self._selector.select(timeout):
            try:
                data = os.read(key.fd, 4096)
            except BlockingIOError:
                continue
            child = key.data
            if child is not None and data:
                child.last_beat = time.monotonic()
                child.ready = child.ready or b"R" in data

    def _handle_signals(self) -> bool:
        """Each signal received to its own method (``handle_term``,
        ``handle_hup``, ..., as gunicorn's arbiter names them); True once a
        stop was asked for."""
        pending, self._pending = self._pending, []
        for number in pending:
            getattr(self, "handle_" + signal.Signals(number).name[3:].lower())()
        return self._stopping

    def handle_term(self) -> None:
        """Stop: drain the workers, then exit 0 (systemd's stop)."""
        log.info("SIGTERM received: stopping the workers")
        self._stopping = True

    def handle_int(self) -> None:
        """Ctrl-C: as SIGTERM."""
        log.info("SIGINT received: stopping the workers")
        self._stopping = True

    def handle_hup(self) -> None:
        """Reload: read the configuration again and replace the workers one by one."""
        self._reload()

    def handle_chld(self) -> None:
        """A worker exited: it only wakes the loop, which reaps it (``_reap``)."""

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                self._selector.unregister(child.pipe)
                os.close(child.pipe)
                yield child, status

    def _died(self, child: Child, status: int) -> None:
        give_back(self.config, child.pid, child.slot)
        if self._swap is not None and self._swap[1] is child:
            log.error("the new worker %d exited while starting (%s): reload abandoned, the old workers keep serving",
                      child.pid, describe(status))
            self._swaps.clear()
            self._swap = None
            return
        if child.retiring:
            log.info("worker %d stopped (%s)", child.pid, describe(status))
            return
        now = time.monotonic()
        if now - child.started < YOUNG:
            delay, self._backoff = self._backoff, min(self._backoff * 2, BACKOFF_MAX)
        else:
            delay = self._backoff = BACKOFF_FIRST
        log.warning("worker %d exited (%s): starting another in %.1f s", child.pid, describe(status), delay)
        self._restart_at[child.slot] = now + delay

    def _restart_due(self, now: float) -> None:
        for slot, when in list(self._restart_at.items()):
            if now >= when:
                del self._restart_at[slot]
                self._start(slot)

    # Reload (SIGHUP): replace the workers one by one.
    def _reload(self) -> None:
        try:
            config = config_module.load(self.argv)
        except config_module.ConfigError as error:
            log.error("SIGHUP: the configuration does not load (%s); keeping the running one", error)
            return
        if (config.host, config.port) != (self.config.host, self.config.port):
            log.warning("SIGHUP: a new address needs a restart; still listening where we were")
        self.config = config
        self._count = worker_count(config.workers)
        if upgrade.code_stamp() != self._code:
            self._upgrade()  # returns only if the new code does not start
        self._swaps = deque(child for child in self.children.values() if not child.retiring)
        log.info("SIGHUP: replacing %d workers one by one", len(self._swaps))

    def _upgrade(self) -> None:
        """Become the code installed since this parent started, handing it
        the sockets, the lock and the workers (see ``upgrade``)."""
        version = upgrade.installed_version()
        failed = upgrade.tried(self.argv)
        if failed:
            log.error("SIGHUP: the code installed (filestoraged %s) does not start (%s): keeping filestoraged %s",
                      version, failed, __version__)
            self._code = upgrade.code_stamp()  # said once; a later reload tries what is installed then
            return
        log.info("SIGHUP: filestoraged %s installed (this is %s): upgrading in place, the workers of %s drain as "
                 "those of %s replace them", version, __version__, __version__, version)
        sockets = {"main": self.listeners.main}
        if self.listeners.s3 is not None:
            sockets["s3"] = self.listeners.s3
        workers = [[child.pid, child.slot, child.pipe, int(child.retiring)] for child in self.children.values()]
        upgrade.hand_over(self.argv, self._lock, sockets, workers, set(_SIGNALS))

    def _adopt(self, handover: upgrade.Handover) -> None:
        """The old code's workers, now this parent's: each replaced by one of
        this code, one at a time (as a reload replaces them)."""
        for pid, slot, pipe, retiring in handover.workers:
            os.set_blocking(pipe, False)
            child = Child(pid, slot, pipe, ready=True, retiring=bool(retiring))
            self.children[pid] = child
            self._selector.register(pipe, selectors.EVENT_READ, child)
        behind = deployment_for(self.config).forms_behind()
        if behind:
            # Old workers would read and write records in the form being
            # converted: all of them stop first (connections wait in the
            # socket's backlog).
            log.info("upgraded in place from filestoraged %s: its %s change form, so its %d workers stop "
                     "before the new ones start", handover.was, " and ".join(behind), len(self.children))
            for child in list(self.children.values()):
                self._retire(child)
            self._converting = True
            return
        self._swaps = deque(child for child in self.children.values() if not child.retiring)
        log.info("upgraded in place from filestoraged %s: replacing its %d workers one by one", handover.was,
                 len(self._swaps))

    def _advance_swap(self, now: float) -> None:
        if self._converting:
            if self.children:
                return  # the old workers still drain
            prepare(self.config)  # as at a start: nothing of the old workers' is live
            self._converting = False
        if self._swap is not None:
            old, new = self._swap
            if new.ready:
                self._retire(old)
                self._swap = None
            elif now - new.started > START_LIMIT:
                log.error("the new worker %d did not start listening: reload abandoned", new.pid)
                signal_quietly(new.pid, signal.SIGKILL)
                self._swaps.clear()
                self._swap = None
            return
        while self._swaps:
            old = self._swaps.popleft()
            if old.pid in self.children:
                self._swap = (old, self._start(self._free_slot()))
                return
        wanted = self._count
        serving = [child for child in self.children.values() if not child.retiring]
        for child in serving[wanted:]:
            self._retire(child)
        for _ in range(wanted - len(serving) - len(self._restart_at)):
            self._start(self._free_slot())

    def _retire(self, child: Child) -> None:
        child.retiring = True
        signal_quietly(child.pid, signal.SIGTERM)

    def _free_slot(self) -> int:
        taken = {child.slot for child in self.children.values()} | set(self._restart_at)
        return min(set(range(WORKER_SLOTS)) - taken)

    def _all_beating(self, now: float, within: float) -> bool:
        serving = [child for child in self.children.values() if not child.retiring]
        return (len(serving) >= self._count
                and all(child.ready and now - child.last_beat <= within for child in serving))

    def _stop(self) -> int:
        """Pass the stop on, wait for every worker to drain; 0 if all did."""
        systemd.notify("STOPPING=1")
        self._stopping = True
        self.listeners.close()  # the sockets close once the workers close theirs too
        for child in self.children.values():
            signal_quietly(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.shutdown_grace + 5
        status = 0
        while self.children:
            if time.monotonic() > deadline:
                for child in self.children.values():
                    log.error("worker %d still running after the grace period: killing it", child.pid)
                    signal_quietly(child.pid, signal.SIGKILL)
                deadline = float("inf")
                status = 1
            self._wait(0.2)
            self._pending.clear()
            for child, code in self._reap():
                if os.waitstatus_to_exitcode(code) != 0:
                    log.warning("worker %d exited (%s)", child.pid, describe(code))
                    status = 1
        if status == 0:
            finish(self.config)
        log.info("stopped")
        return status
