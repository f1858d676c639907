"""A daemon killed with SIGKILL in the middle of an upload leaves no object,
and no temporary file once the next start has swept ``.tmp``."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import unittest

from filestoraged.storage.disk.files import links_unnamed_files

from ..support import MIB, Daemon, files_being_written, payload, wait_until


class CrashTests(unittest.TestCase):
    def test_sigkill_mid_upload_leaves_no_object_and_tmp_is_swept(self):
        data_dir = tempfile.mkdtemp(prefix="fsd-crash-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        daemon = Daemon(data_dir).start()
        self.addCleanup(daemon.stop)
        tmp_dir = os.path.join(data_dir, ".tmp")
        sent = 20 * MIB
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
            sock.sendall(b"POST /files HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % (50 * MIB))
            sock.sendall(payload(sent))
            # Wait until the daemon has written part of it to .tmp/: the crash
            # must hit a half-written upload, not one still in socket buffers.
            wait_until(lambda: any(size >= MIB for _, size in files_being_written(tmp_dir, daemon.processes())),
                       "the upload reaches .tmp/")
            daemon.kill()
        # Where files can be written with no name (here, O_TMPFILE) the
        # upload went with the process; elsewhere its file waits for a start.
        left = [name for name in os.listdir(tmp_dir) if name.startswith("put-")]
        self.assertEqual(len(left), 0 if links_unnamed_files(tmp_dir) else 1, left)
        objects = [n for n in os.listdir(data_dir) if len(n) == 2]
        self.assertEqual(objects, [])
        Daemon(data_dir, port=daemon.port).start().stop()
        self.assertEqual(os.listdir(tmp_dir), [])
        self.assertEqual([n for n in os.listdir(data_dir) if len(n) == 2], [])
