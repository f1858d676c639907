"""Real memcached processes for the tests, on free loopback ports.

Without a ``memcached`` binary the tests that need one skip — unless
``FILESTORAGED_REQUIRE_MEMCACHED=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import unittest
from typing import List, Optional
from urllib.parse import unquote

from .support import free_port, required, wait_for_port, wait_until

REQUIRED = required("MEMCACHED")


def memcached_binary() -> Optional[str]:
    return shutil.which("memcached") or (os.path.exists("/usr/bin/memcached") and "/usr/bin/memcached") or None


def live_keys(port: int, timeout: float = 20) -> List[str]:
    """Every live key of the memcached on ``port`` (``lru_crawler metadump
    all``). Its crawler does one thing at a time and answers ``BUSY`` while
    it crawls (memcached's own crawls start on their own, more often under
    load): asked again until it dumps, for at most ``timeout`` seconds."""
    dumped: List[bytes] = []

    def dumps() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"lru_crawler metadump all\r\n")
            data = b""
            while not (data.endswith(b"END\r\n") or (data.startswith((b"ERROR", b"BUSY")) and data.endswith(b"\n"))):
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
        if data.startswith(b"BUSY"):
            return False
        dumped.append(data)
        return True

    wait_until(dumps, "memcached on port %d dumps its keys (its crawler was busy)" % port, timeout)
    return [unquote(line.split()[0][4:]) for line in dumped[0].decode().splitlines() if line.startswith("key=")]


class MemcachedProcess:
    def __init__(self, *extra: str, port: int = 0) -> None:
        binary = memcached_binary()
        if binary is None:
            message = "memcached is not installed (bin/test installs it when run as root)"
            if REQUIRED:
                raise AssertionError(message + " and FILESTORAGED_REQUIRE_MEMCACHED=1")
            raise unittest.SkipTest(message)
        self.port = port or free_port()
        self.command = [binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "256", *extra]
        if os.geteuid() == 0:
            self.command += ["-u", "root"]  # memcached refuses to run as root otherwise
        self.process: Optional[subprocess.Popen] = None
        self.start()

    @property
    def address(self) -> str:
        return "127.0.0.1:%d" % self.port

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
            self.process.stderr.close()

    def stats(self) -> dict:
        from pymemcache.client.base import Client

        client = Client(("127.0.0.1", self.port))
        try:
            return client.stats()
        finally:
            client.close()

    def keys(self) -> List[str]:
        """Every live key (``lru_crawler metadump all``; flushed items excluded)."""
        return live_keys(self.port)

    def flush(self) -> None:
        from pymemcache.client.base import Client

        client = Client(("127.0.0.1", self.port), default_noreply=False)
        try:
            client.flush_all()
        finally:
            client.close()


class MemcachedMixin:
    """One memcached per test class (``servers`` of them), flushed before each test."""

    servers = 1
    server_args: List[str] = []

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.memcached = [MemcachedProcess(*cls.server_args) for _ in range(cls.servers)]

    @classmethod
    def tearDownClass(cls) -> None:
        for server in cls.memcached:
            server.stop()
        super().tearDownClass()

    def setUp(self) -> None:
        for server in self.memcached:
            if server.process.poll() is not None:
                server.start()
            server.flush()
        super().setUp()

    @property
    def addresses(self) -> List[str]:
        return [server.address for server in self.memcached]

    def keys_held(self) -> List[str]:
        return sorted(key for server in self.memcached for key in server.keys())
