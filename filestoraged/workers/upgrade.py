"""An upgrade in place, on SIGHUP (``systemctl reload``) once new code is
installed: the parent runs the installed code in its own process (``exec``:
the same pid, so systemd's ``MAINPID`` stays), handing it what must not be
closed or taken twice: the listening sockets, the data directory's lock and
the running workers with their heartbeat pipes. The new parent takes the
workers as its own and replaces them one at a time, as a reload does, with
workers of the new code; each old one drains. No socket closes, so no
connection is refused, and nothing of the run is swept as if it had ended.

Workers are forked from their parent, so without this a reload would
start workers of the code the parent was started with. Whether the code
changed is told by a stamp of the package's files (path, size, time),
taken when this parent started. Before the ``exec`` the installed code is
tried in a process of its own (it imports and reads the configuration):
code that does not start is logged and the running code kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional

from .. import __version__

log = logging.getLogger(__name__)

HANDOVER = "FILESTORAGED_HANDOVER"  # what the old parent hands the new one, as JSON
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRY_SECONDS = 60.0
_VERSION = re.compile(r'^__version__\s*=\s*"([^"]+)"', re.MULTILINE)


@dataclass
class Handover:
    lock: int  # the data directory's lock (``dirlock``)
    sockets: Dict[str, socket.socket]  # "main", and "s3" with --s3-api
    workers: List[List[int]]  # [pid, slot, heartbeat pipe's read end, retiring (0/1)] of each worker
    was: str  # the version the old parent ran


def code_stamp() -> str:
    """What the package's files are now: their paths, sizes and times."""
    digest = hashlib.sha256()
    for folder, names, files in os.walk(PACKAGE):
        names[:] = sorted(name for name in names if name != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found = os.stat(path)
                digest.update(b"%s %d %d\n" % (os.path.relpath(path, PACKAGE).encode(), found.st_size,
                                                found.st_mtime_ns))
    return digest.hexdigest()


def installed_version() -> str:
    """The version the installed code says it is."""
    try:
        with open(os.path.join(PACKAGE, "__init__.py")) as init:
            found = _VERSION.search(init.read())
    except OSError:
        found = None
    return found.group(1) if found else "unknown"


def tried(argv: List[str]) -> Optional[str]:
    """None if the installed code imports and takes the configuration;
    else what it said."""
    check = ("import sys\n"
             "import filestoraged.app, filestoraged.cli, filestoraged.workers.arbiter\n"
             "from filestoraged import config\n"
             "config.load(sys.argv[1:])\n")
    environment = {name: value for name, value in os.environ.items() if name != HANDOVER}
    try:
        done = subprocess.run([sys.executable, "-c", check, *argv], capture_output=True, text=True,
                              timeout=TRY_SECONDS, env=environment)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return lines[-1] if lines else "exit status %d" % done.returncode
    return None


def hand_over(argv: List[str], lock: int, sockets: Dict[str, socket.socket], workers: List[List[int]],
              blocked: set) -> None:
    """Become the installed code (never returns): ``blocked`` signals stay
    blocked across the ``exec`` (a SIGTERM meanwhile waits for the new
    parent instead of ending the process with its workers)."""
    kept = [lock] + [sock.fileno() for sock in sockets.values()] + [worker[2] for worker in workers]
    for fd in kept:
        os.set_inheritable(fd, True)
    handed = {"lock": lock, "sockets": {name: sock.fileno() for name, sock in sockets.items()},
              "workers": workers, "was": __version__}
    environment = dict(os.environ, **{HANDOVER: json.dumps(handed)})
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os.execve(sys.executable, [sys.executable, "-m", "filestoraged", *argv], environment)


def taken_over() -> Optional[Handover]:
    """What an old parent handed this process, if it is the new code of an
    upgrade (the variable is dropped: no worker inherits it)."""
    value = os.environ.pop(HANDOVER, None)
    if value is None:
        return None
    handed = json.loads(value)
    sockets = {name: socket.socket(fileno=fd) for name, fd in handed["sockets"].items()}
    for fd in [handed["lock"]] + [worker[2] for worker in handed["workers"]] + [s.fileno() for s in sockets.values()]:
        os.set_inheritable(fd, False)
    return Handover(handed["lock"], sockets, handed["workers"], handed["was"])
