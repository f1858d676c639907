"""What the accept loop does once its process has no file descriptor free
(``EMFILE``: the process's open-files limit; ``ENFILE``: the system's).

A pending connection cannot be accepted then, and the listening socket
stays readable: a loop that only tried again would spin a core while its
clients waited, unanswered, in the backlog. So each process keeps one
descriptor spare from the start. Given up for a moment, it lets one
pending connection in, to be answered 503 and closed at once, and is then
taken back. Where it cannot be taken back (a connection's answer still
holds the slot, or another thread took it), the loop waits for a
connection to end, at most ``WAIT_FOR_A_CLOSE`` seconds, and looks again. The
operator is told at most once a minute: the limit is too low for the load
(``LimitNOFILE=`` in the systemd unit, ``ulimit -n`` in a shell).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Optional, TypeVar

from ..logs import Occasional

log = logging.getLogger(__name__)

WAIT_FOR_A_CLOSE = 0.1  # seconds the loop waits for a connection to end when no descriptor could be freed

C = TypeVar("C")


class SpareDescriptor:
    """One process's spare descriptor (shared by its servers: the main port's
    and the S3 API's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd = _open_spare()
        self._warning = Occasional(log)

    def refuse_one(self, accept: Callable[[], C], refuse: Callable[[C], None]) -> bool:
        """With the process out of descriptors: the spare given up,
        ``accept()`` tried once and what it took ``refuse``d (answered and
        closed), the spare taken back; whether a connection was refused."""
        self._warning.say("out of file descriptors: new connections are answered 503 until some close; raise "
                          "the open-files limit (LimitNOFILE= in the systemd unit, ulimit -n)")
        with self._lock:
            if self._fd is None:
                self._fd = _open_spare()  # given back since (a refusal closed, a connection ended)
                if self._fd is None:
                    return False
            os.close(self._fd)
            self._fd = None
            try:
                try:
                    taken = accept()
                except OSError:
                    return False  # another thread took the slot first, or the client left
                refuse(taken)
                return True
            finally:
                self._fd = _open_spare()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _open_spare() -> Optional[int]:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
