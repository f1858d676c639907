"""A daemon killed with SIGKILL in the middle of an upload leaves no object,
and the next start sweeps its temporary file."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import unittest

from .support import MIB, Daemon, payload


class CrashTests(unittest.TestCase):
    def test_sigkill_mid_upload_leaves_no_object_and_tmp_is_swept(self):
        data_dir = tempfile.mkdtemp(prefix="fsd-crash-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        daemon = Daemon(data_dir).start()
        self.addCleanup(daemon.stop)
        tmp_dir = os.path.join(data_dir, ".tmp")
        sent = 20 * MIB
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
            sock.sendall(b"POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (50 * MIB))
            sock.sendall(payload(sent))
            # Wait until the daemon has written part of it to .tmp/ — the crash
            # must hit a half-written upload, not one still in socket buffers.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                sizes = [os.path.getsize(os.path.join(tmp_dir, n)) for n in os.listdir(tmp_dir)]
                if sizes and sizes[0] >= MIB:
                    break
                time.sleep(0.01)
            else:
                self.fail("the upload never reached .tmp/")
            daemon.kill()
        self.assertEqual(len(os.listdir(tmp_dir)), 1)  # the interrupted upload
        objects = [n for n in os.listdir(data_dir) if len(n) == 2]
        self.assertEqual(objects, [])
        Daemon(data_dir, port=daemon.port).start().stop()
        self.assertEqual(os.listdir(tmp_dir), [])
        self.assertEqual([n for n in os.listdir(data_dir) if len(n) == 2], [])
