"""What the daemon keeps in memory is bounded in bytes: its caches count
what an entry costs, not only the bytes it was told of, and a remembered
answer holds no more than its bytes and a small proof."""

from __future__ import annotations

import gc
import http.client
import json
import shutil
import struct
import socket
import tempfile
import unittest

from filestoraged.base.lru import ENTRY_OVERHEAD, BoundedCache
from filestoraged.base.memory import ARENAS
from filestoraged.storage.interface import StoredObject

from ..support import MIB, Daemon, ServerCase, Threads, payload, wait_until


class BoundedCacheTests(unittest.TestCase):
    def test_entries_of_no_bytes_are_bounded_too(self):
        cache: BoundedCache[bytes] = BoundedCache(1024 * 1024)
        for number in range(10000):
            cache.put("/files/%064d" % number, b"", 0)
        kept = sum(cache.get("/files/%064d" % number) is not None for number in range(10000))
        self.assertLessEqual(kept, 1024 * 1024 // ENTRY_OVERHEAD)
        self.assertGreater(kept, 500)


class RememberedAnswersTests(ServerCase):
    def test_a_ready_made_answer_keeps_no_opened_object(self):
        """Hot small GETs are answered ready-made (see web.response_cache);
        what is kept for each is its bytes, its header lines and a proof
        that needs no opened object (an object kept alive per entry cost
        ~1.5 KiB beyond what the cache counted)."""
        oids = [self.request("POST", "/files", b"tiny %d" % number).json()["hash"] for number in range(40)]
        for _ in range(2):
            for oid in oids:
                self.assertEqual(self.request("GET", "/files/" + oid).status, 200)
        self.assertIsNotNone(self.server.ready.get("/files/" + oids[0], _Plain()))  # they were remembered
        gc.collect()
        opened = [obj for obj in gc.get_objects() if isinstance(obj, StoredObject)]
        self.assertLess(len(opened), 5, opened[:3])


class GivenBackTests(unittest.TestCase):
    def test_memory_a_burst_of_stalled_downloads_took_is_given_back(self):
        """60 downloads whose clients stop reading pin ~1.5 MiB each; once
        they are gone the worker's RSS falls back (it kept the peak: glibc's
        moving mmap threshold, see base/memory.py)."""
        folder = tempfile.mkdtemp(prefix="fsd-memory-")
        self.addCleanup(shutil.rmtree, folder, True)
        daemon = Daemon(folder, "--workers", "1").start()
        self.addCleanup(daemon.stop)
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
        conn.request("POST", "/files", payload(24 * MIB))
        oid = json.loads(conn.getresponse().read())["hash"]
        conn.close()
        before = rss_mib(daemon.process.pid)
        stalled = []
        for number in range(60):
            sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /files/%s HTTP/1.1\r\nHost: localhost\r\nRange: bytes=%d-\r\n\r\n"
                         % (oid.encode(), number * 300000))
            stalled.append(sock)
        try:
            wait_until(lambda: rss_mib(daemon.process.pid) > before + 40, "the stalled downloads take memory")
        finally:
            for sock in stalled:
                sock.close()
        wait_until(lambda: rss_mib(daemon.process.pid) < before + 20, "their memory is given back", timeout=10)

    def test_request_threads_share_two_arenas(self):
        """glibc gives a thread that finds its arena locked an arena of its
        own, up to eight per core, and each keeps the free chunks its
        threads left: a worker's RSS grew for as long as it ran. The daemon
        allows two (base/memory.py)."""
        folder = tempfile.mkdtemp(prefix="fsd-memory-")
        self.addCleanup(shutil.rmtree, folder, True)
        daemon = Daemon(folder, "--workers", "1").start()
        self.addCleanup(daemon.stop)

        def client(number: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
            try:
                for round_ in range(15):
                    conn.request("POST", "/files", payload(70000 + number * 100 + round_))
                    oid = json.loads(conn.getresponse().read())["hash"]
                    conn.request("GET", "/files/" + oid)
                    self.assertEqual(len(conn.getresponse().read()), 70000 + number * 100 + round_)
            finally:
                conn.close()

        with Threads(60) as threads:
            for number in range(24):
                threads.start(client, number)
        self.assertLessEqual(arenas(daemon.process.pid), ARENAS - 1)  # the main arena is not one of them


def rss_mib(pid: int) -> float:
    with open("/proc/%d/status" % pid) as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


class _Plain:
    """The headers of a plain request: nothing that makes it a miss."""

    def has_any(self, names) -> bool:
        return False


if __name__ == "__main__":
    unittest.main()


def arenas(pid: int) -> int:
    """glibc's arenas besides the main one. Each lives in heaps mapped at
    addresses aligned to 64 MiB (HEAP_MAX_SIZE on 64-bit), and each heap
    begins with its ``heap_info``, whose first field points to its arena:
    just past that header in the arena's first heap, elsewhere in the heaps
    it added when it grew. So an arena is a heap that points into its own
    first page; an arena's later heaps, and maps that start on such an
    address by chance (a thread's stack), are not counted."""
    starts = []
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            fields = line.split()
            start = int(fields[0].split("-")[0], 16)
            if len(fields) == 5 and fields[1] == "rw-p" and start % (64 * MIB) == 0:
                starts.append(start)
    count = 0
    with open("/proc/%d/mem" % pid, "rb") as memory:
        for start in starts:
            memory.seek(start)
            arena = struct.unpack("<Q", memory.read(8))[0]
            count += 0 < arena - start < 4096
    return count
