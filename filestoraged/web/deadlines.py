"""Reading a connection against deadlines, so a client that drips bytes
cannot hold a connection slot (or a temporary file) for ever.

A socket timeout alone is per read: one byte every 20 s keeps it happy
indefinitely. ``PacedReader`` is the raw stream under the handler's buffered
``rfile`` and gives every ``recv`` only the time left:

- between requests: ``--idle-timeout`` per read (a keep-alive connection may
  wait that long for its next request);
- a request head: once its first byte arrived, the whole head within
  ``--head-timeout`` seconds; a connection's first head within that time
  from the accept (a connection that never sends a byte goes then);
- a body: at least ``--min-body-rate`` bytes a second on average, after a
  grace of ``--head-timeout`` seconds from its start.

When a deadline passes, the read raises ``socket.timeout`` and ``expired``
says which; the handler counts and logs it.

``PacedSender`` does the same for what we send: a client must keep reading
a response at ``--min-send-rate`` on average (after the same grace), so a
reader that stalls or trickles cannot hold a slot, and the buffers of its
download, for ever.
"""

from __future__ import annotations

import fcntl
import io
import os
import select
import socket
import struct
import termios
import time
from typing import Optional

from .admission import WaitingPlace


class PacedReader(io.RawIOBase, WaitingPlace):
    """The paced raw stream of one connection, and its place among the
    waiting: while it is registered there (``admission.Waiting.add`` sets
    ``waiting``), it takes the first bytes of a head only after that table
    agrees (``Waiting.begin``): a connection is never given up once its
    handler has bytes of a request."""

    def __init__(self, sock: socket.socket, idle: float, head: float, min_rate: float) -> None:
        self._sock = sock
        self._idle = idle
        self._head = head
        self._min_rate = min_rate
        self._timeout = sock.gettimeout()
        self._mode = "idle"
        self._deadline: Optional[float] = None
        self._body_start = 0.0
        self._body_received = 0
        self._received = 0
        self._pending = getattr(sock, "pending", None)  # TLS: decrypted bytes held unread
        self._fd = sock.fileno()
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        self.expired: Optional[str] = None  # "head" or "body" once a deadline passed
        self.head_started = False
        self.waiting = None
        self.reclaimed = False

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes received so far: the buffered reader above subtracts what it
        holds unread, so its ``tell()`` says how far the handler has read."""
        return self._received

    def begin_head(self, deadline: Optional[float] = None, consumed: Optional[int] = None) -> None:
        """The next bytes are a request head: its clock starts with its first
        byte, or runs to ``deadline`` (a new connection's: from the accept).
        ``consumed``: how far the handler has read (its buffered reader's
        ``tell()``); bytes received beyond it, or held decrypted by TLS, are
        the head begun already."""
        self._mode, self._deadline, self.expired = "head", deadline, None
        self.head_started = (consumed is not None and consumed < self._received) or self._held_decrypted()

    def begin_body(self) -> None:
        """The head is read; what follows is its body (if any)."""
        self._mode = "body"
        self._body_start = time.monotonic()
        self._body_received = 0

    def for_writing(self) -> None:
        """Give writes the plain idle timeout again (reads may have shortened it)."""
        self._set_timeout(self._idle)

    def readinto(self, buffer) -> int:
        deadline = None
        if self._mode == "head" and self._deadline is not None:
            deadline = self._deadline
        elif self._mode == "body":
            deadline = self._body_start + self._head + self._body_received / self._min_rate
        left = self._idle if deadline is None else deadline - time.monotonic()
        try:
            if left <= 0:
                raise socket.timeout("the %s deadline passed" % self._mode)
            wait = min(self._idle, left)
            if self._mode == "head" and not self.head_started:
                # Wait without taking anything, then claim the head: from
                # then on the connection is busy for whoever gives slots up.
                if not self._readable(wait):
                    raise socket.timeout("no request arrived")
                if not self._begin_reading():
                    return 0  # given up meanwhile: as if the client had closed
            count = self._receive(buffer, wait)
        except socket.timeout:
            if deadline is not None and left < self._idle:
                self.expired = self._mode  # the deadline, not the idle timeout, ran out
            raise
        self._received += count
        if self._mode == "head":
            if self._deadline is None:
                self._deadline = time.monotonic() + self._head
        elif self._mode == "body":
            self._body_received += count
        return count

    def _receive(self, buffer, wait: float) -> int:
        """What has arrived, or, where nothing has, what arrives within
        ``wait`` seconds. Decision: on plain TCP, a read of what is there
        first: a socket with a timeout polls before every receive, and
        bytes are nearly always there already (a head once polled for, a
        body sent with its head); the socket's timeout is set (a system
        call) only for a receive that may wait."""
        if self._pending is None:
            try:
                return os.readv(self._fd, (buffer,))
            except BlockingIOError:
                pass
        self._set_timeout(wait)
        return self._sock.recv_into(buffer)

    def _readable(self, timeout: float) -> bool:
        """True once bytes (or the client's close) wait to be read, without
        reading them; False after ``timeout`` seconds."""
        return self._held_decrypted() or bool(self._poll.poll(timeout * 1000))

    def _held_decrypted(self) -> bool:
        return self._pending is not None and self._pending() > 0

    def _begin_reading(self) -> bool:
        if self.waiting is None:
            self.head_started = True
            return True
        return self.waiting.begin(self)

    def _set_timeout(self, timeout: float) -> None:
        # settimeout is a syscall: skip it while the timeout barely moves.
        if abs(timeout - self._timeout) > 0.01:
            self._sock.settimeout(timeout)
            self._timeout = timeout


_TCP_CLOSE = 7  # tcpi_state after a reset (TCP_INFO's first byte)
_OPEN_STATES = (1, 8)  # ESTABLISHED, CLOSE_WAIT (the client closed after reading: fine)


def acknowledged(sock, idle: float) -> bool:
    """See ``PacedSender.acknowledged``; polls every 1-20 ms."""
    fd = sock.fileno()
    wait, last, stalled_since = 0.001, None, time.monotonic()
    while True:
        try:
            state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
            left = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return False
        if state not in _OPEN_STATES:
            return False  # reset or closed before every byte was acknowledged
        if left == 0:
            return True
        now = time.monotonic()
        if left != last:
            last, stalled_since = left, now
        elif now - stalled_since > idle:
            return False
        time.sleep(wait)
        wait = min(wait * 2, 0.02)


class PacedSender:
    """What streaming a response needs of the socket (``sendall``), with the
    minimum send rate: each piece may take the time its bytes (and all sent
    before) are allowed at ``min_rate`` after ``grace``, and never more than
    ``idle`` seconds."""

    def __init__(self, sock: socket.socket, idle: float, grace: float, min_rate: float) -> None:
        self._sock = sock
        self._idle = idle
        self._start = time.monotonic() + grace
        self._min_rate = min_rate
        self._sent = 0
        self.expired = False
        self.abandoned = False  # reset before the client acknowledged the answer

    def sendall(self, data) -> None:
        allowed = self._start + (self._sent + len(data)) / self._min_rate - time.monotonic()
        timeout = min(self._idle, allowed)
        if timeout <= 0:
            self.expired = True
            raise socket.timeout("the client reads too slowly")
        self._sock.settimeout(timeout)
        try:
            self._sock.sendall(data)
        except socket.timeout:
            self.expired = True
            raise
        finally:
            self._sock.settimeout(self._idle)  # what the reader's pacing expects to find
        self._sent += len(data)

    def acknowledged(self) -> bool:
        """Wait until the client's side has acknowledged every byte written
        (the kernel's send queue is empty, ``SIOCOUTQ``) on a connection still
        open; False if it was reset or closed first, or ``idle`` seconds pass
        with the queue not moving. Bytes the kernel took are not bytes the
        client has: a client that read 1 KiB of a 100 KiB answer and reset
        left the rest in our send queue."""
        return acknowledged(self._sock, self._idle)

    def abandon(self) -> None:
        """Reset the connection, dropping what the kernel still holds for it."""
        self.abandoned = True
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @property
    def sent(self) -> int:
        """Bytes of the body handed to the socket whole (a piece cut in the
        middle is not counted)."""
        return self._sent
