"""docs/webdav.md's rclone remote, as written: its lines made the
reader's ``rclone.conf`` (the daemon's address put in for the page's
``https://files.example.com``, ``rclone obscure`` of a token for the
page's ``<rclone obscure TOKEN>``), then the commands the page names
after it: ``rclone sync ./photos drive:photos/2026`` (a second sync sends
nothing), ``rclone check`` (every file compared by hash) and ``rclone
moveto``. The page's only block; its curl, cadaver, davfs2 and Windows
lines are in prose and run by ``tests.faces.test_webdav``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from ..page_runs import blocks
from ..s3api_support import tool_or_skip
from ..support import ServerCase

PAGE = "docs/webdav.md"


class WebDavPageTests(ServerCase):
    config_overrides = {"auth": "all"}

    def test_the_rclone_remote_syncs_checks_and_moves_as_the_page_says(self):
        rclone = tool_or_skip("rclone")
        found = [[line.strip() for line in block] for block in blocks(PAGE) if block[0].strip() == "[drive]"]
        self.assertEqual(len(blocks(PAGE)), 1)  # (the addresses at its top are a list): a new block, run it here
        self.app.buckets.create("photos")
        secret = self.app.tokens.create(["data:photos:*"])[1]
        home = tempfile.mkdtemp(prefix="fsd-webdav-page-")
        self.addCleanup(shutil.rmtree, home, True)
        obscured = subprocess.run([rclone, "obscure", "-"], input=secret + "\n", capture_output=True, text=True,
                                  timeout=30, check=True).stdout.strip()
        config = "\n".join(found[0]).replace("https://files.example.com", "http://127.0.0.1:%d" % self.port)
        with open(os.path.join(home, "rclone.conf"), "w") as file:
            file.write(config.replace("<what echo TOKEN | rclone obscure - prints>", obscured) + "\n")
        os.makedirs(os.path.join(home, "photos"))
        for number in range(5):
            with open(os.path.join(home, "photos", "p%d.jpg" % number), "wb") as file:
                file.write(os.urandom(1000 + number))

        def rclone_does(*args: str) -> str:
            done = subprocess.run([rclone, "--config", os.path.join(home, "rclone.conf"), *args], cwd=home,
                                  capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=home))
            self.assertEqual(done.returncode, 0, done.stderr[-3000:])
            return done.stdout + done.stderr

        rclone_does("sync", "./photos", "drive:photos/2026")
        self.assertNotIn("Copied", rclone_does("sync", "./photos", "drive:photos/2026", "-v"))  # nothing again
        checked = rclone_does("check", "./photos", "drive:photos/2026")
        self.assertIn("5 matching files", checked)
        self.assertNotIn("could not be checked", checked)  # by hash, every one
        rclone_does("moveto", "drive:photos/2026/p0.jpg", "drive:photos/2026/first.jpg")
        self.assertIsNone(self.app.keys.get("photos", "2026/p0.jpg"))
        self.assertIsNotNone(self.app.keys.get("photos", "2026/first.jpg"))
