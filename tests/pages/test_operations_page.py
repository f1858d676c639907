"""docs/operations.md in page order: the blocks a machine without
systemd or docker runs, as written, against a serving daemon (its data
directory put in for the page's ``/var/lib/filestoraged``, folders of the
test's for the backup's and the restored store's): an admin token, fsck,
a backup while it serves, a restore and its fsck, the metrics line.
Marked, not run here: the service's install, reload and uninstall
(systemd: ``tests.test_install`` runs them where
``FILESTORAGED_REQUIRE_INSTALL=1``), the container (docker), and the
Prometheus rules (a file for Prometheus, not a command)."""

from __future__ import annotations

import os
import shutil
import tempfile

from ..page_runs import as_reader, blocks
from ..support import ServerCase

PAGE = "docs/operations.md"
MARKED = {0: "systemd", 1: "docker", 2: "systemd", 7: "Prometheus rules"}


class OperationsPageTests(ServerCase):
    def test_the_blocks_this_machine_can_run_run_in_page_order(self):
        found = blocks(PAGE)
        self.assertEqual(len(found), 8)  # a new block: run it here, or mark it with why
        self.assertTrue(found[0][0].startswith("bin/install") and found[1][0].startswith("docker build")
                        and found[2][0].startswith("bin/install") and found[7][0] == "groups:")
        self.assertIn(self.request("POST", "/files", b"kept through a backup").status, (200, 201))
        backups, restored = tempfile.mkdtemp(prefix="fsd-backup-"), tempfile.mkdtemp(prefix="fsd-restored-")
        for folder in (backups, restored):
            self.addCleanup(shutil.rmtree, folder, True)
        script = "\n".join(line for number, block in enumerate(found) if number not in MARKED for line in block)
        script = script.replace("/var/lib/filestoraged-restored", os.path.abspath(restored))
        script = script.replace("/var/backups/filestoraged", os.path.abspath(backups))
        ran = as_reader(self, script, self.data_dir, self.port, {})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        self.assertIn("filestoraged_integrity_failures_total 0", ran.stdout)
        checked = as_reader(self, "filestoraged fsck --data-dir %s" % restored, self.data_dir, self.port, {})
        self.assertIn("1 objects", checked.stdout + checked.stderr)  # the restored store holds what was served
