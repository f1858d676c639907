"""A wake-up across the processes of one machine: one process waits by a
doorbell (``listen``, then ``wait``), and any process that opened the same
``path`` rings it once something the waiter acts on happened (a commit
that wrote to the outbox), so that it acts at once instead of looking
again and again whether anything happened (an idle daemon then sleeps).

The waiter binds a Unix datagram socket under a random name in Linux's
abstract namespace and writes that name into ``path`` (mode 0600, under
the daemon's ``run/``). Decision: not a socket file: a crash leaves none
behind, no data directory's path is too long for a socket's address, and
only who may read ``path`` learns the name. A ring is one datagram sent
without waiting; with nobody listening, or the waiter's queue full (rings
wait there already), it is dropped. The waiter empties its queue on each
wake: any number of rings wake it once, and a ring that came while it
acted on the last wakes it again.
"""

from __future__ import annotations

import errno
import os
import secrets
import select
import socket
from typing import Optional

_NAME = b"\0filestoraged-bell-"


class Doorbell:
    """The doorbell named by ``path`` (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        self._address: Optional[bytes] = None  # the waiter's, as last read from ``path``
        self._in: Optional[socket.socket] = None
        self._poll: Optional[select.poll] = None

    def listen(self) -> "Doorbell":
        """This process waits by the doorbell from now on (a waiter of
        another process, if any, is rung no more)."""
        name = _NAME + secrets.token_hex(16).encode("ascii")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        sock.bind(name)
        written = "%s.%d" % (self.path, os.getpid())
        fd = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, name[1:])
        finally:
            os.close(fd)
        os.replace(written, self.path)
        self._in, self._address = sock, name
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        return self

    def ring(self) -> None:
        """Wake the waiter, if one listens; never waits, never raises."""
        known = self._address
        if known is not None and self._send(known):
            return
        # Not read yet, or the name read before is nobody's now (a new waiter wrote its own).
        self._address = self._read()
        if self._address is not None and self._address != known:
            self._send(self._address)

    def _send(self, address: bytes) -> bool:
        """One ring sent to ``address``; False only where nobody binds it
        (dropped otherwise too: EAGAIN means rings wait already)."""
        try:
            self._out.sendto(b"!", address)
        except OSError as error:
            return error.errno != errno.ECONNREFUSED
        return True

    def _read(self) -> Optional[bytes]:
        try:
            with open(self.path, "rb") as handle:
                name = handle.read()
        except OSError:
            return None
        return b"\0" + name if name.startswith(_NAME[1:]) else None

    def wait(self, timeout: float) -> bool:
        """Until rung or ``timeout`` seconds passed (only after ``listen``);
        whether it was rung. Every ring waiting is taken."""
        assert self._in is not None and self._poll is not None
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return False
        while True:
            try:
                self._in.recv(64)
            except BlockingIOError:
                return True

    def wake(self) -> None:
        """Wake this process's own wait (whatever ``path`` names now)."""
        if self._in is not None:
            self._send(self._in.getsockname())

    def close(self) -> None:
        if self._in is not None:
            if self._read() == self._in.getsockname():
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
            self._in.close()
            self._in = None
        self._out.close()
