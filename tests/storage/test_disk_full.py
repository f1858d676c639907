"""A full disk: writes are 507 and keep nothing, reads and /healthz (503,
saying why) go on, no process dies, and writes work again as soon as there
is room. On a real small file system (a tmpfs, which needs root) and, for
the refused upload's bytes, with the index's commit failing in-process."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

from filestoraged.errors import InsufficientStorage
from filestoraged.storage.names import DEFAULT

from ..support import ROOT, Daemon, ServerCase, payload, sha256, wait_until


class RefusedUploadTests(ServerCase):
    def test_an_upload_whose_index_commit_fails_keeps_nothing(self):
        backend = self.app.backend
        changing = backend.index.changing

        @contextlib.contextmanager
        def failing_commit():
            with changing() as change:
                yield change
                raise InsufficientStorage("the metadata database cannot grow: the disk is full")

        backend.index.changing = failing_commit
        data = payload(300000, 1)
        reply = self.request("POST", "/files", data)
        self.assertEqual(reply.status, 507, reply)
        backend.index.changing = changing
        self.assertFalse(os.path.exists(backend.object_path(DEFAULT, sha256(data))))
        self.restart_server()
        self.assertEqual(self.request("GET", "/files/" + sha256(data)).status, 404)
        self.assertEqual(self.request("POST", "/files", data).json()["created"], True)
        self.assertEqual(self.request("GET", "/files/" + sha256(data)).body, data)


class FullDiskTests(unittest.TestCase):
    def setUp(self) -> None:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            raise unittest.SkipTest("mounting a small tmpfs needs root (CI runs as root)")
        self.mount = tempfile.mkdtemp(prefix="fsd-full-")
        self.addCleanup(os.rmdir, self.mount)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", self.mount],
                              capture_output=True, timeout=30)
        if done.returncode != 0:
            raise unittest.SkipTest("cannot mount a tmpfs here: %s" % done.stderr.decode(errors="replace").strip())
        self.addCleanup(subprocess.run, ["umount", "-l", self.mount], timeout=30)
        self.log = os.path.join(tempfile.mkdtemp(prefix="fsd-full-log-"), "daemon.log")
        self.addCleanup(shutil.rmtree, os.path.dirname(self.log))

    def call(self, daemon: Daemon, method: str, path: str, body: bytes = b"", timeout: float = 10):
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=timeout)
        try:
            conn.request(method, path, body)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def said(self) -> str:
        with open(self.log, errors="replace") as log:
            return log.read()

    def test_shared_tables_made_before_the_disk_filled_are_written_after(self):
        # The workers' shared tables (connections per client, quotas, the
        # marks of changes) are files mapped into memory: a page of one
        # that only gets its first write once the disk is full had no block
        # behind it, and the kernel kills the process (SIGBUS). In a child,
        # so that a death is seen as one.
        script = textwrap.dedent("""
            import contextlib, os, sys
            from filestoraged.base.interprocess import ChangeMark, SharedCounters
            folder = sys.argv[1]
            counters = SharedCounters(os.path.join(folder, "counters"), 65536)
            mark = ChangeMark(os.path.join(folder, "changes.mark"))
            with open(os.path.join(folder, "filler"), "wb", buffering=0) as filler:
                with contextlib.suppress(OSError):
                    while filler.write(b"\\0" * 65536):
                        pass
            for slot in range(0, 65536, 512):  # a slot of every page
                counters[slot] = slot + 1
            mark.change()
            print(sum(counters[slot] for slot in range(0, 65536, 512)), mark.seen() != 0)
        """)
        done = subprocess.run([sys.executable, "-c", script, self.mount], capture_output=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(done.returncode, 0, done.stderr.decode(errors="replace")[-2000:])
        self.assertEqual(done.stdout.split(), [str(sum(range(1, 65536, 512))).encode(), b"True"])

    def test_reads_go_on_writes_are_refused_and_nothing_dies(self):
        daemon = Daemon(os.path.join(self.mount, "store"), "--workers", "2", log=self.log).start()
        self.addCleanup(daemon.stop)
        kept = payload(100000, 2)
        self.assertEqual(self.call(daemon, "POST", "/files", kept)[0], 200)
        # Unbuffered: a buffered file keeps the bytes the disk refused and
        # raises ENOSPC again when it is closed.
        with open(os.path.join(self.mount, "filler"), "wb", buffering=0) as filler:
            with contextlib.suppress(OSError):
                while filler.write(b"\0" * 65536):
                    pass
        refused = payload(2 * 1024 * 1024, 3)
        status, body = self.call(daemon, "POST", "/files", refused)
        self.assertEqual(status, 507, body)
        for _ in range(10):  # each counted: the workers' next beats write their metrics files
            self.assertEqual(self.call(daemon, "GET", "/files/" + sha256(kept)), (200, kept))
        wait_until(lambda: "cannot write the metrics file" in self.said() or "Traceback" in self.said(),
                   "a worker tried to write its metrics file on the full disk")
        for _ in range(6):  # new connections, to both workers: each still accepts
            self.assertEqual(self.call(daemon, "GET", "/files/" + sha256(kept), timeout=5), (200, kept))
        status, body = self.call(daemon, "GET", "/healthz")
        self.assertEqual(status, 503)
        self.assertIn(b"full", body)
        self.assertIsNone(daemon.process.poll())
        self.assertNotIn("Traceback", self.said())
        # Nothing of the refused upload is kept.
        self.assertEqual(self.call(daemon, "GET", "/files/" + sha256(refused))[0], 404)
        os.unlink(os.path.join(self.mount, "filler"))
        self.assertEqual(self.call(daemon, "POST", "/files", refused)[0], 200)
        self.assertEqual(self.call(daemon, "GET", "/healthz")[0], 200)
        self.assertEqual(daemon.stop(), 0)
