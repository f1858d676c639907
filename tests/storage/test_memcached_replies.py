"""Reading meta-get replies into lent buffers (storage/memcached/replies.py):
the stream split anywhere, misses, and broken or cut streams, which must fail
and never hand back a wrong value."""

from __future__ import annotations

import socket
import threading
import unittest

from pymemcache.exceptions import MemcacheUnexpectedCloseError, MemcacheUnknownError

from filestoraged.errors import BackendUnavailable
from filestoraged.storage.memcached.cluster import Cluster
from filestoraged.storage.memcached.replies import Replies, meta_gets

from ..support import free_port


class ScriptedSocket:
    """Gives back ``data`` in pieces of at most ``step`` bytes, then end of stream."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = data
        self.step = step

    def recv(self, size: int) -> bytes:
        piece, self.data = self.data[:min(size, self.step)], self.data[min(size, self.step):]
        return piece

    def recv_into(self, view) -> int:
        piece = self.recv(len(view))
        view[:len(piece)] = piece
        return len(piece)


def read(data: bytes, count: int, step: int):
    return Replies(ScriptedSocket(data, step)).values(count, lambda size: bytearray(size + 2))


class RepliesTests(unittest.TestCase):
    def test_values_and_misses_come_back_in_order_however_the_stream_is_cut(self):
        stream = b"VA 5\r\nhello\r\nEN\r\nVA 0\r\n\r\nVA 12\r\nline\r\nbreaks\r\nMN\r\n"
        for step in (1, 2, 3, 7, len(stream)):
            with self.subTest(step=step):
                found = read(stream, 4, step)
                self.assertEqual([None if v is None else bytes(v) for v in found],
                                 [b"hello", None, b"", b"line\r\nbreaks"])

    def test_a_value_lands_in_the_lent_buffer(self):
        buffer = bytearray(100)
        found = Replies(ScriptedSocket(b"VA 3\r\nabc\r\nMN\r\n", 4)).values(1, lambda size: buffer)
        self.assertIs(found[0].obj, buffer)
        self.assertEqual(bytes(buffer[:3]), b"abc")

    def test_broken_streams_fail(self):
        cases = {
            "cut in a value": (b"VA 10\r\nabc", MemcacheUnexpectedCloseError),
            "cut before the end marker": (b"VA 3\r\nabc\r\n", MemcacheUnexpectedCloseError),
            "a server error": (b"SERVER_ERROR out of memory\r\n", MemcacheUnknownError),
            "a value without CRLF": (b"VA 3\r\nabcde\r\nMN\r\n", MemcacheUnknownError),
            "a size that is no number": (b"VA x3\r\nabc\r\nMN\r\n", MemcacheUnknownError),
            "a line with no end": (b"VA " + b"9" * 5000, MemcacheUnknownError),
            "more answers than asked": (b"VA 1\r\na\r\nEN\r\nMN\r\n", MemcacheUnknownError),
        }
        for name, (stream, error) in cases.items():
            with self.subTest(name):
                with self.assertRaises(error):
                    read(stream, 1, 3)

    def test_the_commands_end_with_the_marker(self):
        self.assertEqual(meta_gets(["a", "b:1"]), b"mg a v\r\nmg b:1 v\r\nmn\r\n")


class CutServerTests(unittest.TestCase):
    """A server that hangs up in the middle of a value: ``BackendUnavailable``,
    and the broken connection is not pooled (the next call opens a new one)."""

    def test_a_cut_reply_is_unavailable_and_the_connection_is_dropped(self):
        listener = socket.create_server(("127.0.0.1", free_port()))
        listener.settimeout(10)
        self.addCleanup(listener.close)
        accepted = []

        def serve() -> None:
            for _ in range(2):
                connection, _ = listener.accept()
                accepted.append(connection)
                request = b""
                while not request.endswith(b"mn\r\n"):
                    request += connection.recv(4096)
                connection.sendall(b"VA 10\r\nabc")
                connection.close()

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        cluster = Cluster(["127.0.0.1:%d" % listener.getsockname()[1]])
        self.addCleanup(cluster.close)
        for _ in range(2):
            with self.assertRaises(BackendUnavailable):
                cluster.values_into(["k"], lambda size: bytearray(size + 2))
        server.join(10)
        if server.is_alive():
            raise AssertionError("server did not end in time")
        self.assertEqual(len(accepted), 2)  # a fresh connection for the second call


if __name__ == "__main__":
    unittest.main()
