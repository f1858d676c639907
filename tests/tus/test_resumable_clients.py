"""Resumable uploads driven by tuspy (PyPI), a tus client nobody here
wrote, against the daemon as a user starts it; and what a killed daemon
keeps between two PATCHes."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import shutil
import tempfile
import unittest

from filestoraged.cli import main

from ..support import MIB, CuttingProxy, Daemon, payload, required, sha256

try:
    from tusclient import client as tus_client
except ImportError:  # bin/test installs it into .venv
    tus_client = None

REQUIRED = required("TUSPY")


def call(port: int, method: str, path: str, body: bytes = b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


class DaemonCase(unittest.TestCase):
    def setUp(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="fsd-tus-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.daemon = Daemon(self.data_dir, "--max-size", str(256 * MIB)).start()
        self.addCleanup(self.daemon.stop)
        self.source = os.path.join(self.data_dir, "source.bin")


@unittest.skipIf(tus_client is None and not REQUIRED, "tuspy is not installed (bin/test installs it)")
class TuspyTests(DaemonCase):
    def upload_with_tuspy(self, data: bytes, chunks: int = 0, **metadata: str):
        with open(self.source, "wb") as out:
            out.write(data)
        client = tus_client.TusClient(self.daemon.url + "/uploads")
        uploader = client.uploader(self.source, chunk_size=4 * MIB, metadata=metadata)
        if chunks:
            for _ in range(chunks):
                uploader.upload_chunk()
        else:
            uploader.upload()
        return uploader

    def test_tuspy_uploads_in_chunks_and_the_result_is_the_repositorys_object(self):
        data = payload(21 * MIB + 3, seed=31)
        uploader = self.upload_with_tuspy(data, target="data/videos", filetype="video/mp4")
        path = uploader.url.split(str(self.daemon.port), 1)[1]
        status, _, body = call(self.daemon.port, "GET", path)
        self.assertEqual((status, json.loads(body)), (200, {"oid": sha256(data), "size": len(data)}))
        status, headers, body = call(self.daemon.port, "GET", "/data/videos/" + sha256(data))
        self.assertEqual((status, headers["Content-Type"], sha256(body)), (200, "video/mp4", sha256(data)))

    def test_tuspy_resumes_after_the_daemon_was_killed_between_two_patches(self):
        data = payload(30 * MIB, seed=32)
        first = self.upload_with_tuspy(data, chunks=3)
        self.assertEqual(first.offset, 12 * MIB)
        self.daemon.kill()
        self.daemon.start()
        # A new client run that knows only the upload's URL asks where to go on.
        client = tus_client.TusClient(self.daemon.url + "/uploads")
        resumed = client.uploader(self.source, chunk_size=4 * MIB, url=first.url)
        self.assertEqual(resumed.get_offset(), 12 * MIB)  # all that HEAD said before the kill
        resumed.upload()
        path = first.url.split(str(self.daemon.port), 1)[1]
        status, _, body = call(self.daemon.port, "GET", path)
        self.assertEqual(json.loads(body)["hash"], sha256(data))
        status, _, body = call(self.daemon.port, "GET", "/files/" + sha256(data))
        self.assertEqual((status, sha256(body)), (200, sha256(data)))


class ResumedPutTests(unittest.TestCase):
    """``filestoraged put`` of a big file, cut mid-way, run again: it goes on
    from what the server kept instead of starting over."""

    def setUp(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="fsd-put-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.daemon = Daemon(os.path.join(self.data_dir, "store"), "--max-size", str(256 * MIB)).start()
        self.addCleanup(self.daemon.stop)
        cache = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = os.path.join(self.data_dir, "cache")
        self.addCleanup(lambda: os.environ.pop("XDG_CACHE_HOME") if cache is None
                        else os.environ.__setitem__("XDG_CACHE_HOME", cache))

    def run_client(self, port: int, *args: str):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["--url", "http://127.0.0.1:%d" % port, *args])
        return status, out.getvalue(), err.getvalue()

    def test_a_cut_put_goes_on_where_the_server_stopped(self):
        data = payload(40 * MIB + 99, seed=33)
        path = os.path.join(self.data_dir, "video.bin")
        with open(path, "wb") as out:
            out.write(data)
        proxy = CuttingProxy(self.daemon.port, 4 * MIB)
        self.addCleanup(proxy.close)
        status, _, err = self.run_client(proxy.port, "put", path)
        self.assertEqual(status, 1, err)
        self.assertIn("run the same command again", err)
        first = proxy.sent
        status, out, err = self.run_client(proxy.port, "put", path)
        self.assertEqual(status, 0, err)
        self.assertEqual(out.strip(), "%s/files/%s" % ("http://127.0.0.1:%d" % proxy.port, sha256(data)))
        # The second run sent only what the server did not have (the first
        # PATCH, 16 MiB, and the cut one's first bytes were kept).
        self.assertLess(proxy.sent - first, len(data) - 16 * MIB + MIB)
        status, _, body = call(self.daemon.port, "GET", "/files/" + sha256(data))
        self.assertEqual((status, sha256(body)), (200, sha256(data)))
        with open(os.path.join(self.data_dir, "cache", "filestoraged", "uploads.json")) as state:
            self.assertEqual(json.load(state), {})  # forgotten once done
