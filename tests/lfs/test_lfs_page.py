"""docs/git-lfs.md's road run in page order, as its reader runs it: the
server as its first block starts it (on a port of the test's), a token,
the repository's ``.lfsconfig``, ``git lfs install`` and ``track``, the
token handed to git's credential store as the page's second way shows
(the first asks at a terminal), a push, and the locks. The page's
``https://files.example.org`` is the daemon's ``http://127.0.0.1:PORT``
(``protocol=https`` with it); the repository and its remote are made
first, as "In the repository" presumes. Marked, not run: the last locks
line (``--force``: a maintainer's token, which alice's is not) and the
nginx block (``tests.test_behind_nginx`` serves behind nginx)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unittest

from ..page_runs import as_reader, blocks
from ..support import Daemon
from .test_lfs_client import REQUIRED, have_git_lfs

PAGE = "docs/git-lfs.md"


class GitLfsPageTests(unittest.TestCase):
    def setUp(self) -> None:
        if not have_git_lfs():
            if REQUIRED:
                raise AssertionError("git and git-lfs are needed and FILESTORAGED_REQUIRE_GIT_LFS=1")
            self.skipTest("needs git and git-lfs (bin/test installs them as root)")

    def test_the_whole_road_runs_in_page_order(self):
        found = blocks(PAGE)
        self.assertEqual(len(found), 8)  # a new block: run it here, or mark it with why
        server, token, lfsconfig, track, remember, approve, locks, nginx = found
        self.assertTrue(nginx[0].startswith("location /") and locks[-1].startswith("git lfs unlock --force"))
        start = server[0].split()
        self.assertEqual(start[:3], ["filestoraged", "--data-dir", "/var/lib/filestoraged"])
        work = tempfile.mkdtemp(prefix="fsd-lfs-page-")
        self.addCleanup(shutil.rmtree, work, True)
        store = os.path.join(work, "store")
        daemon = Daemon(store, *start[3:]).start()  # as the page starts it
        self.addCleanup(daemon.stop)
        made = as_reader(self, "\n".join(token), store, daemon.port, {})
        self.assertEqual(made.returncode, 0, made.stderr)
        secret = made.stdout.strip()
        here = "http://127.0.0.1:%d" % daemon.port
        remote = os.path.join(work, "remote.git")
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", remote], check=True)
        script = "\n".join([
            "export TOKEN=%s GIT_CONFIG_NOSYSTEM=1" % secret,
            "git config --global user.name alice && git config --global user.email alice@example.org",
            "git init -q -b main game && cd game && git remote add origin %s" % remote,
            "mkdir art && head -c 300000 /dev/urandom > art/hero.psd",
            "cat > .lfsconfig <<'EOF'", *lfsconfig, "EOF",
            *track, "git add art && git commit -q -m 'The hero'",
            remember[0], *approve, "git push -q origin main",
            *locks[:-1], "sha256sum art/hero.psd | cut -d' ' -f1"])
        script = script.replace("protocol=https\\nhost=files.example.org",
                                "protocol=http\\nhost=127.0.0.1:%d" % daemon.port)
        script = script.replace("https://files.example.org", here)
        ran = as_reader(self, script, store, daemon.port, {}, {"git": shutil.which("git")})
        self.assertEqual(ran.returncode, 0, ran.stdout + ran.stderr)
        self.assertIn("Locked art/hero.psd", ran.stdout + ran.stderr)
        self.assertRegex(ran.stdout, r"art/hero\.psd\s+alice\s+ID:")
        oid = ran.stdout.split()[-1]
        stored = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", here + "/data/game/" + oid],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(stored.stdout, "200")  # the pushed object is /data/game's
