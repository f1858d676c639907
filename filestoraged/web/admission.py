"""Which connections get a thread: the per-worker slots, a cap per client
address counted across workers, idle connections given up first when slots
run short, and a worker with no free slot leaving new connections to the
others. As nginx does it (``worker_connections`` reclaiming idle keep-alive
connections, ``limit_conn`` per address).

Shared across worker processes through ``<data-dir>/run/connections`` (a
``SharedCounters`` file): each worker's free slots (written by that worker
alone, read by the others), and connections per client address, kept as a
total per bucket plus each worker's share of it, so that the parent can
give back what a dead worker held.
"""

from __future__ import annotations

import hashlib
import os
import select
import threading
import time
from collections import OrderedDict
from typing import Dict, Optional

from ..base.interprocess import WORKER_SLOTS, SharedCounters, run_dir

CONNECTIONS_FILE = "connections"
# Client addresses are counted in buckets chosen by a keyed hash: the key is
# made once in the process that forks the workers, so a client cannot aim
# its connections at another address's bucket.
BUCKETS = 4096
_KEY = os.urandom(16)
_FREE = 0  # WORKER_SLOTS entries: each worker's free slots
_TOTALS = _FREE + WORKER_SLOTS  # BUCKETS entries: connections per bucket, all workers
_SHARES = _TOTALS + BUCKETS  # WORKER_SLOTS x BUCKETS: each worker's part of the totals
_SIZE = _SHARES + WORKER_SLOTS * BUCKETS
# A worker with no free slot lets its siblings take new connections, but
# not for ever: past this it accepts again (and reclaims or refuses).
YIELD_LIMIT = 0.2


def bucket_of(address: str) -> int:
    bucket = _BUCKET_OF.get(address)
    if bucket is None:
        if len(_BUCKET_OF) >= _BUCKETS_KEPT:
            _BUCKET_OF.clear()  # (a flood of addresses costs a hash each, as without the cache)
        digest = hashlib.blake2b(address.encode("ascii", "replace"), key=_KEY, digest_size=4).digest()
        bucket = _BUCKET_OF[address] = int.from_bytes(digest, "little") % BUCKETS
    return bucket


# The buckets of the addresses seen last: most connections come from
# addresses that connected a moment ago.
_BUCKET_OF: Dict[str, int] = {}
_BUCKETS_KEPT = 4096


def open_counters(data_dir: Optional[str]) -> SharedCounters:
    """The shared table (private memory for a process that serves alone)."""
    path = None if data_dir is None else os.path.join(run_dir(data_dir), CONNECTIONS_FILE)
    return SharedCounters(path, _SIZE)


def start_afresh(data_dir: str) -> None:
    """Before a daemon's first worker: no connection of an earlier run is held."""
    try:
        os.unlink(os.path.join(run_dir(data_dir), CONNECTIONS_FILE))
    except FileNotFoundError:
        pass


def recover(data_dir: str, slot: int) -> None:
    """Give back what the dead worker in ``slot`` held (see ``forget_worker``)."""
    counters = open_counters(data_dir)
    try:
        forget_worker(counters, slot)
    finally:
        counters.close()


def forget_worker(counters: SharedCounters, slot: int) -> None:
    """Give back what the worker in ``slot`` held (it died, or its slot is
    being reused): its connections per client and its free slots."""
    base = _SHARES + slot * BUCKETS
    with counters.lock:
        for index in range(BUCKETS):
            held = counters[base + index]
            if held:
                counters[_TOTALS + index] -= held
                counters[base + index] = 0
        counters[_FREE + slot] = 0


class Admission:
    """The slots of one worker (or of the single process) and the shared
    per-client counts. Thread-safe."""

    def __init__(self, slots: int, per_client: int, exempt: frozenset, data_dir: Optional[str],
                 slot: Optional[int]) -> None:
        """``slot``: this worker's slot among workers (None: serving alone,
        nothing shared); ``exempt``: addresses never capped (trusted proxies)."""
        self.slots = slots
        self.per_client = per_client
        self.exempt = exempt
        self._slot = slot or 0
        self._shared = slot is not None
        self.counters = open_counters(data_dir if self._shared else None)
        if self._shared:
            forget_worker(self.counters, self._slot)
        self._used = 0
        self._owed = 0  # slots promised to connections that gave up an idle one for theirs
        self._closed = False
        self._lock = threading.Lock()
        self._publish()
        self._full_since: Optional[float] = None

    # Slots of this worker.
    def take_slot(self) -> bool:
        """A free slot, unless every free one is owed to a waiting connection."""
        with self._lock:
            if self._used + self._owed >= self.slots:
                return False
            self._used += 1
            self._publish()
            return True

    def owe_slot(self) -> None:
        """The next slot given back is this connection's: it gave up an idle
        connection for it (else a newer connection could take that slot
        first, and this one, the real client, be refused)."""
        with self._lock:
            self._owed += 1
            self._publish()

    def owing(self) -> bool:
        """Whether slots are owed: idle connections were given up for newer
        ones, which may soon be idle in turn."""
        return self._owed > 0

    def take_owed_slot(self) -> bool:
        """The slot ``owe_slot`` promised, once one is free; False until then."""
        with self._lock:
            if self._used >= self.slots:
                return False
            self._used += 1
            self._owed -= 1
            self._publish()
            return True

    def forgive_slot(self) -> None:
        """A promised slot no longer waited for."""
        with self._lock:
            self._owed -= 1
            self._publish()

    def give_slot(self) -> None:
        with self._lock:
            self._used -= 1
            self._publish()

    def _publish(self) -> None:
        if self._shared and not self._closed:
            self.counters[_FREE + self._slot] = max(0, self.slots - self._used - self._owed)

    def should_yield(self) -> bool:
        """True if this worker is full and a sibling has a free slot: leave
        the next connection to it (for at most ``YIELD_LIMIT`` in a row)."""
        if not self._shared or self._used + self._owed < self.slots:
            self._full_since = None
            return False
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = now
        elif now - self._full_since > YIELD_LIMIT:
            self._full_since = None
            return False
        counters = self.counters
        return any(counters[_FREE + other] > 0 for other in range(WORKER_SLOTS) if other != self._slot)

    # Connections per client address.
    def admit_client(self, address: str) -> Optional[int]:
        """Count a connection from ``address``: its bucket (-1 if it is not
        counted), for ``release_client``; None if the address is at its cap."""
        if not self.per_client or address in self.exempt:
            return -1
        index = bucket_of(address)
        counters = self.counters
        with counters.lock:
            if counters[_TOTALS + index] >= self.per_client:
                return None
            self._add(index, 1)
        return index

    def release_client(self, bucket: int) -> None:
        """Give back what ``admit_client`` counted (its answer, ``bucket``)."""
        if bucket < 0:
            return
        with self.counters.lock:
            if not self._closed:  # else the connection outlived the server: all was given back
                self._add(bucket, -1)

    def _add(self, index: int, delta: int) -> None:
        self.counters.add(_TOTALS + index, delta)
        self.counters.add(_SHARES + self._slot * BUCKETS + index, delta)

    def close(self) -> None:
        """Give back all this server counted. The table stays mapped: threads
        of connections that outlive the server may still release theirs."""
        if self._shared:
            forget_worker(self.counters, self._slot)
        with self.counters.lock:
            self._closed = True


class WaitingPlace:
    """A connection's place among the waiting (``Waiting``), kept by its
    reader: the connection's ``deadlines.PacedReader``, or a plain place
    while its TLS handshake has not begun. The reader takes the first bytes
    of a head (or of a handshake) only through ``Waiting.begin``, and the
    reclaimer judges and marks under the same lock: so a connection is given
    up only while its handler has taken nothing, never in between."""

    head_started = False  # a byte of the current head (or handshake) has been taken
    reclaimed = False  # given up by the table: read nothing more, close
    waiting: Optional["Waiting"] = None  # the table it is registered with (set by Waiting.add)


class Waiting:
    """Connections waiting for a request head (a new one, or keep-alive
    between requests), oldest first: the ones to give up when slots run
    short, or when the server stops. Each entry is a socket and its
    ``WaitingPlace``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: "OrderedDict[object, tuple]" = OrderedDict()  # sock -> (since, place)
        # Connections given a slot whose handler has not yet come to wait
        # for their first head (``expect``): idle too, for a newcomer's
        # choice between waiting and a refusal.
        self._expected: set = set()

    def expect(self, sock) -> None:
        """``sock`` was given a slot: its handler is about to wait for its
        first request (``add``). Until then it is counted as idle by
        ``any_idle``, though it cannot be given up yet: a newcomer that
        meets only such connections waits for them, not a 503 (a burst of
        silent connections had just taken every slot, their threads not yet
        running)."""
        with self._lock:
            self._expected.add(sock)

    def add(self, sock, reader: WaitingPlace) -> None:
        with self._lock:
            reader.waiting, reader.reclaimed = self, False
            self._entries[sock] = (time.monotonic(), reader)
            self._expected.discard(sock)

    def remove(self, sock) -> None:
        with self._lock:
            self._entries.pop(sock, None)
            self._expected.discard(sock)

    def begin(self, reader: WaitingPlace) -> bool:
        """The reader's handler is about to take the first bytes of a head
        (or of a handshake) off its socket: mark it begun; False if it was
        given up meanwhile (then it must read nothing and close)."""
        with self._lock:
            if reader.reclaimed:
                return False
            reader.head_started = True
            return True

    def reclaim_oldest(self) -> bool:
        """Close the oldest connection that has not sent a byte of its next
        request; False if there is none. Bytes the client sent that its
        handler has not read yet count as sent: that request is under way."""
        with self._lock:
            for sock, (_, reader) in self._entries.items():
                if not reader.head_started and not has_bytes(sock):
                    del self._entries[sock]
                    reader.reclaimed = True
                    break
            else:
                return False
        close_reading(sock)
        return True

    def any_idle(self) -> bool:
        """Whether a connection waits that has not begun its next request
        (one that may be given up for a newer one), or is about to wait for
        its first (``expect``)."""
        with self._lock:
            return bool(self._expected) or any(not reader.head_started for _, reader in self._entries.values())

    def close_lingering(self, stop_at: float, linger: float, head_grace: float) -> None:
        """At a stop: close connections silent for ``linger`` (since the stop
        or since they began waiting) with nothing queued to read, and those
        whose head has not arrived whole ``head_grace`` after the stop. A
        request whose head arrives meanwhile is served (with ``Connection:
        close``): a stop never drops a request it received."""
        now = time.monotonic()
        chosen = []
        with self._lock:
            for sock, (since, reader) in list(self._entries.items()):
                if reader.head_started:
                    late = now - stop_at >= head_grace
                else:
                    late = now - max(since, stop_at) >= linger and not has_bytes(sock)
                if late:
                    del self._entries[sock]
                    reader.reclaimed = True
                    chosen.append(sock)
        for sock in chosen:
            close_reading(sock)

    def __len__(self) -> int:
        return len(self._entries)


def has_bytes(sock) -> bool:
    """True if bytes (TLS records included), or the client's close, wait to
    be read on ``sock``. (A poll: a recv on a socket with a timeout would
    wait for that timeout first, whatever its flags.)"""
    try:
        return wait_readable(sock, 0)
    except (OSError, ValueError):
        return True  # closed meanwhile: its handler will find out


def close_reading(sock) -> None:
    """End the pending read of the connection's handler: it sees EOF and closes."""
    import socket

    try:
        socket.socket.shutdown(sock, socket.SHUT_RD)
    except OSError:
        pass


def wait_readable(sock, timeout: float) -> bool:
    """True once bytes (or the client's close) wait on ``sock``'s descriptor,
    without reading them; False after ``timeout`` seconds."""
    poll = select.poll()  # not select(): descriptors past 1023 are common here
    poll.register(sock.fileno(), select.POLLIN)
    return bool(poll.poll(max(timeout, 0) * 1000))
