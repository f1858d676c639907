"""Worker processes as the parent sees them: made with ``fork`` from a
parent that has no thread and no open database, each with a pipe back for
its heartbeat; plus what the parent readies before the first one starts."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..base.interprocess import run_dir
from ..deployment import deployment_for
from . import affinity
from .metrics_files import MetricsFiles
from .process import WorkerRole, serve_process
from .startup import guarded

log = logging.getLogger(__name__)

_WORKER_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD}
# What a worker must not inherit: the parent's systemd duties.
_PARENTS_ONLY = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


@dataclass
class Child:
    pid: int
    slot: int
    pipe: int  # read end of its heartbeat pipe
    started: float = field(default_factory=time.monotonic)
    last_beat: float = field(default_factory=time.monotonic)
    ready: bool = False
    retiring: bool = False  # sent SIGTERM on purpose: not restarted when it exits


def prepare(config) -> None:
    """Before the first worker: the metrics of an earlier run forgotten, and
    what the deployment's subsystems left (see ``Deployment.prepare``).
    Workers started later never do this: their siblings' uploads and
    reservations are live."""
    os.makedirs(config.data_dir, exist_ok=True)
    MetricsFiles(run_dir(config.data_dir)).clear()
    deployment_for(config).prepare()


def finish(config) -> None:
    """Every worker drained and exited 0: the run ended cleanly (see
    ``Deployment.finish``)."""
    deployment_for(config).finish()


def give_back(config, pid: int, slot: int) -> None:
    """What a dead worker held: its metrics' gauges, and what the
    deployment's subsystems kept for it (see ``Deployment.recover``)."""
    MetricsFiles(run_dir(config.data_dir)).retire(pid)
    deployment_for(config).recover(pid, slot)


def spawn(config, listeners, slot: int, siblings: Iterable[int],
          placement: Optional[affinity.Placement] = None) -> Child:
    """Fork a worker serving ``listeners``; ``siblings``: descriptors of the
    parent's that the worker must close (the other pipes, the wake-up pipe);
    ``placement``: the CPUs it keeps (``affinity``; None: the parent's)."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    # Signals wait while the fork happens: one arriving in the new worker
    # before it drops the parent's handlers would be lost in them.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_SIGNALS)
    pid = os.fork()
    if pid == 0:  # the worker
        status = 1
        try:
            os.close(read_end)
            for fd in siblings:
                os.close(fd)
            _become_worker(parent)
            if placement is not None:
                placement.take()
            os.set_blocking(write_end, False)
            status = guarded(config, lambda: serve_process(config, listeners, WorkerRole(slot, write_end, parent)))
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            logging.shutdown()
            os._exit(status)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.close(write_end)
    os.set_blocking(read_end, False)
    return Child(pid, slot, read_end)


def _become_worker(parent: int) -> None:
    """Drop the parent's signal handlers. SIGTERM and SIGINT stay blocked:
    one sent while the worker starts waits for serve_process()'s sigwait."""
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the parent's: it reloads
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP, signal.SIGCHLD})
    for name in _PARENTS_ONLY:
        os.environ.pop(name, None)
    _die_with(parent)


def _die_with(parent: int) -> None:
    """Ask the kernel to kill this worker when the parent dies (a parent
    killed with SIGKILL cannot take its workers along); the heartbeat also
    notices a changed parent, where prctl is not to be had."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def signal_quietly(pid: int, number: int) -> None:
    """Send a signal to a worker that may have exited meanwhile."""
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def describe(status: int) -> str:
    """A wait status in words: ``status 1``, ``killed by SIGKILL``."""
    code = os.waitstatus_to_exitcode(status)
    return "killed by %s" % signal.Signals(-code).name if code < 0 else "status %d" % code
