"""One or several memcached servers behind a thread-safe, store-safe client.

Keys are spread with pymemcache's ``RendezvousHash`` — the hasher its
``HashClient`` uses — over one ``PooledClient`` per server (the plain
``Client`` is not thread-safe), with ``noreply`` off so every write is
confirmed.

Decision: ``HashClient`` itself is not used. Its failover is built for
caches: while a server is "failing" it answers ``add`` with ``False`` (which
we would read as "already exists") and ``get_many`` with ``{}`` (which we
would read as "evicted, corrupt"), and once a server is "dead" it remaps that
server's keys to the others, so a manifest would be looked for on the wrong
machine. Its failure bookkeeping is also shared, unlocked state. For a store,
a server that cannot be reached must be an error: ``BackendUnavailable``
(HTTP 503), and the pool simply reconnects on the next call once it is back.
"""

from __future__ import annotations

import select
import socket
from collections import defaultdict
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

from pymemcache.client.base import Client, PooledClient
from pymemcache.client.rendezvous import RendezvousHash
from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheError,
    MemcacheIllegalInputError,
    MemcacheUnexpectedCloseError,
)

from ...errors import BackendUnavailable, BadRequest
from .replies import BufferFor, Replies, meta_gets

CONNECT_TIMEOUT = 2.0  # seconds to open a connection
IO_TIMEOUT = 10.0  # seconds for one command's reply
# Decision: pymemcache's pool raises "Too many objects" when it is empty
# instead of waiting. A request holds at most two connections to a server at
# once (the read-ahead's and its own), so the daemon sizes the pool from the
# connections it admits (``pool_size_for``): no request it lets in can fail
# for want of one. They are opened only when needed, and closed after
# POOL_IDLE_SECONDS unused.
POOL_SIZE = 64  # connections per server, when the caller does not say
POOL_IDLE_SECONDS = 60.0
# What a connection the server ended shows when it is used: its end read, or a reset.
_ENDED = (MemcacheUnexpectedCloseError, ConnectionResetError, BrokenPipeError)
T = TypeVar("T")


def pool_size_for(max_connections: int) -> int:
    """Connections per server enough for ``max_connections`` requests at once."""
    return 2 * max_connections + 8


def parse_servers(servers: Sequence[str]) -> List[Tuple[str, int]]:
    """``["host:port", ...]`` as address tuples; ``BadRequest`` for a bad spec."""
    parsed = []
    for spec in servers:
        host, sep, port = spec.rpartition(":")
        if not sep or not host or not (port.isascii() and port.isdigit()):
            raise BadRequest("memcached server %r is not HOST:PORT" % spec)
        parsed.append((host.strip("[]"), int(port)))
    if not parsed:
        raise BadRequest("no memcached server given")
    return parsed


class Cluster:
    """The memcached servers, addressed by key. Every method raises
    ``BackendUnavailable`` when a server involved cannot be reached or fails."""

    def __init__(self, servers: Sequence[str], pool_size: int = POOL_SIZE) -> None:
        self.addresses = parse_servers(servers)
        self._only = "%s:%d" % self.addresses[0] if len(self.addresses) == 1 else ""
        self._hasher = RendezvousHash()
        self._clients: Dict[str, PooledClient] = {}
        for host, port in self.addresses:
            name = "%s:%d" % (host, port)
            self._hasher.add_node(name)
            self._clients[name] = PooledClient(
                (host, port),
                connect_timeout=CONNECT_TIMEOUT,
                timeout=IO_TIMEOUT,
                no_delay=True,
                max_pool_size=pool_size,
                pool_idle_timeout=POOL_IDLE_SECONDS,
                default_noreply=False,  # a store must hear "STORED"
            )

    def node_of(self, key: str) -> str:
        # pymemcache's rendezvous hash is murmur3 in pure Python, per node and
        # per key: with one server there is nothing to choose.
        return self._only if self._only else self._hasher.get_node(key)

    def client_for(self, key: str) -> Tuple[str, PooledClient]:
        name = self.node_of(key)
        return name, self._clients[name]

    def _by_server(self, keys: Iterable[str]) -> Dict[str, List[str]]:
        groups: Dict[str, List[str]] = defaultdict(list)
        for key in keys:
            groups[self.node_of(key)].append(key)
        return groups

    def set_chunk(self, key: str, value) -> None:
        """Store one value (``bytes`` or a buffer) or raise, sending it as it is:
        pymemcache's ``set_many`` would first join a window of commands and
        values into one new buffer."""
        name, pooled = self.client_for(key)
        header = b"set %s 0 0 %d\r\n" % (key.encode("ascii"), len(value))
        reply = _exchange(name, pooled, lambda client: _pipelined(client, (header, value, b"\r\n"), b"\r\n"))
        if reply != b"STORED\r\n":
            raise BackendUnavailable("memcached %s did not store %s: %s" % (name, key, reply.strip()[:100]))

    def get_many(self, keys: Sequence[str]) -> Dict[str, bytes]:
        """The values of the ``keys`` present (small ones: each is a copy)."""
        found = self.values_into(keys, lambda size: bytearray(size + 2))  # the value and its CRLF
        return {key: bytes(value) for key, value in found.items()}

    def values_into(self, keys: Sequence[str], buffer_for: BufferFor) -> Dict[str, memoryview]:
        """The values of the ``keys`` present, each received into a buffer from
        ``buffer_for(size)`` (see ``replies``): one pipelined round trip per
        server, no copy beyond the kernel's."""
        found: Dict[str, memoryview] = {}
        for name, group in self._by_server(keys).items():
            def ask(client, group=group) -> List[Optional[memoryview]]:
                client.sock.sendall(meta_gets(group))
                return Replies(client.sock).values(len(group), buffer_for)
            values = _exchange(name, self._clients[name], ask)
            found.update((key, value) for key, value in zip(group, values) if value is not None)
        return found

    def get(self, key: str):
        name, pooled = self.client_for(key)
        return _exchange(name, pooled, lambda client: client.get(key))

    def gets(self, key: str):
        """``(value, cas token)``, or ``(None, None)`` if absent."""
        name, pooled = self.client_for(key)
        return _exchange(name, pooled, lambda client: client.gets(key))

    def cas(self, key: str, value: bytes, token) -> bool:
        """Replace ``key`` only if unchanged since ``gets`` gave ``token``."""
        name, pooled = self.client_for(key)
        return bool(_exchange(name, pooled, lambda client: client.cas(key, value, token, noreply=False)))

    def add(self, key: str, value: bytes) -> bool:
        """Store only if absent: the atomic commit point. False if it existed."""
        name, pooled = self.client_for(key)
        return bool(_exchange(name, pooled, lambda client: client.add(key, value, noreply=False)))

    def delete(self, key: str) -> bool:
        name, pooled = self.client_for(key)
        return bool(_exchange(name, pooled, lambda client: client.delete(key, noreply=False)))

    def delete_many(self, keys: Sequence[str]) -> None:
        for name, group in self._by_server(keys).items():
            _exchange(name, self._clients[name], lambda client, group=group: client.delete_many(group, noreply=False))

    def touch(self, key: str) -> bool:
        """True if the key is present (and keeps it so: no expiry is set)."""
        name, pooled = self.client_for(key)
        return bool(_exchange(name, pooled, lambda client: client.touch(key, 0, noreply=False)))

    def sizes(self, keys: Sequence[str]) -> Dict[str, int]:
        """The value size of each key present (absent keys are left out), with
        one pipelined meta-get per server that fetches no value: ``mg <key> s``
        answers ``HD s<size>`` or ``EN`` (memcached 1.6+)."""
        found: Dict[str, int] = {}
        for name, group in self._by_server(keys).items():
            command = ("".join("mg %s s\r\n" % key for key in group) + "mn\r\n").encode("ascii")
            reply = _exchange(name, self._clients[name],
                              lambda client, command=command: _pipelined(client, command, b"MN\r\n"))
            lines = [line for line in reply.split(b"\r\n")[:-2] if line]
            if len(lines) != len(group):
                raise BackendUnavailable("memcached %s answered %d of %d meta-gets" % (name, len(lines), len(group)))
            for key, line in zip(group, lines):
                if line.startswith(b"HD"):
                    found[key] = int(line.split(b" s", 1)[1].split()[0])
        return found

    def cas_token(self, key: str) -> Optional[bytes]:
        """The item's CAS token as ``gets`` gives it, without fetching the value
        (``mg <key> c``); None if the item is absent."""
        name, pooled = self.client_for(key)
        reply = _exchange(name, pooled, lambda client: _pipelined(client, b"mg %s c\r\n" % key.encode("ascii"),
                                                                  b"\r\n"))
        if not reply.startswith(b"HD"):
            return None
        return reply.split(b" c", 1)[1].split()[0]

    def item_size_max(self) -> int:
        """The smallest ``item_size_max`` among the servers (``stats settings``)."""
        sizes = []
        for name, client in self._clients.items():
            with _failures(name):
                sizes.append(int(client.stats("settings")[b"item_size_max"]))
        return min(sizes)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _exchange(name: str, pooled: PooledClient, action: Callable[[Client], T]) -> T:
    """``action(client)`` on a pooled connection of the server ``name``,
    its failure ``BackendUnavailable`` (``_failures``). A reused connection
    that the server turns out to have ended before answering (memcached
    restarted, and its close reached us after the look ``_connection``
    takes) is replaced and the command sent once more, on a new
    connection: the old server never carried it out, or carried it out
    and then forgot it with everything else."""
    retried = False
    while True:
        held = _connection(pooled, fresh=retried)
        try:
            with _failures(name), held as client:
                return action(client)
        except BackendUnavailable as failed:
            if retried or not held.reused or not isinstance(failed.__cause__, _ENDED):
                raise
            retried = True


def _pipelined(client: Client, command: Iterable, end: bytes) -> bytes:
    """Send ``command`` (bytes, or a sequence of buffers sent one after the
    other, never joined) on a connection and read until the reply ends
    with ``end``.

    Decision: pymemcache's ``raw_command`` is not used: its reader keeps only
    the last ``recv`` of a reply that arrives in several (4.0.0 replaces its
    buffer instead of appending to it), so a pipelined reply came back empty
    in the tests."""
    sock = client.sock
    for piece in ([command] if isinstance(command, bytes) else command):
        sock.sendall(piece)
    reply = bytearray()
    while not reply.endswith(end):
        piece = sock.recv(65536)
        if not piece:
            raise MemcacheUnexpectedCloseError()
        reply += piece
    return bytes(reply)


class _connection:
    """A pooled connection (pymemcache's ``Client``), connected, never one
    memcached closed while it sat idle; a connection whose exchange fails
    is destroyed, not pooled (it may hold half a reply). A class, not
    pymemcache's ``get_and_release``: this runs on every hot small GET's
    revalidation, and two generator context managers cost a fifth of it."""

    def __init__(self, pooled: PooledClient, fresh: bool = False) -> None:
        """``fresh``: a new connection, whatever the pool holds."""
        self.pool = pooled.client_pool
        self.fresh = fresh

    def __enter__(self) -> socket.socket:
        while True:
            self.client = self.pool.get()
            if self.client.sock is None or not _closed_by_peer(self.client.sock):
                break
            # memcached closed it while it sat in the pool (a restart): never
            # used, dropped, and the next one looked at (a new one at last).
            self.pool.destroy(self.client)
        if self.fresh and self.client.sock is not None:
            self.client.close()
        self.reused = self.client.sock is not None
        try:
            if self.client.sock is None:
                self.client._connect()
        except BaseException:
            self.pool.destroy(self.client)
            raise
        return self.client

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.pool.release(self.client)
        else:
            self.pool.destroy(self.client)


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server closed this idle connection (or broke it): an idle
    memcached connection has nothing to read, one the server closed reads
    its end."""
    # A zero-timeout poll: a socket with a timeout would wait that long in
    # recv, MSG_DONTWAIT or not. Readable means its end (closed), or bytes
    # nobody asked for: out of step either way.
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _failures:
    """Turn a server's failure into ``BackendUnavailable`` naming the server.
    Our own mistakes (bad keys, bad values) stay programming errors."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, (MemcacheClientError, MemcacheIllegalInputError)):
            return False
        if isinstance(error, (MemcacheError, OSError, socket.timeout)):
            raise BackendUnavailable("memcached %s: %s" % (self.name, _reason(error))) from error
        return False


def _reason(error: BaseException) -> str:
    """What went wrong, never empty (pymemcache's errors often say nothing)."""
    if isinstance(error, MemcacheUnexpectedCloseError):
        return "it closed the connection (%s)" % (str(error) or "no answer")
    if isinstance(error, socket.timeout):
        return "no answer within %s s" % IO_TIMEOUT
    return str(error) or type(error).__name__
