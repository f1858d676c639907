"""docs/restic.md's backup-host and pruning-host blocks run in page order,
as a reader runs them: the bucket made first by an admin, as the page
says; each ``token create`` line as written (its secret taken for the
page's ``TOKEN``, "what that printed"), ``store:8080`` and ``laptop`` /
``pruner``'s host being this test's daemon, ``~`` a small tree, and
restic's password given as its reader would type it (``RESTIC_PASSWORD``).
The backup host backs up and checks; the pruning host forgets and
prunes. What the backup host's token may not do is
``tests.faces.test_restic``'s (``AppendOnlyTests``)."""

from __future__ import annotations

import os
import re

from unittest import mock

from ..page_runs import as_reader, blocks
from .test_restic import PASSWORD, ResticCase

PAGE = "docs/restic.md"


class ResticPageTests(ResticCase):
    def run_block(self, lines) -> str:
        """A block whose first command is a ``token create`` (continued over
        lines): it runs, and its secret stands for ``TOKEN`` in the rest."""
        first = next(number for number, line in enumerate(lines) if not line.endswith("\\")) + 1
        made = as_reader(self, "\n".join(lines[:first]), self.data_dir, self.port, {})
        self.assertEqual(made.returncode, 0, made.stderr)
        secret = made.stdout.strip()
        self.assertRegex(secret, r"^[A-Za-z0-9_-]{20,}$")  # the secret alone on standard output
        rest = "\n".join(lines[first:]).replace("TOKEN", secret).replace("store:8080", "127.0.0.1:%d" % self.port)
        rest = re.sub(r"backup ~(?= |$)", "backup " + self.tree, rest)
        typed = {"RESTIC_PASSWORD": PASSWORD, "RESTIC_CACHE_DIR": os.path.join(self.work, "cache")}
        with mock.patch.dict(os.environ, typed):
            ran = as_reader(self, rest, self.data_dir, self.port, {}, {"restic": self.restic_path})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        return ran.stdout

    def test_the_backup_host_and_the_pruning_host_run_as_written(self):
        found = blocks(PAGE)
        self.assertEqual(len(found), 2)  # a new block: run it here, or say why not
        backup_host, pruning_host = found
        self.run_block(backup_host)
        listed = self.restic(self.url(self.token("data:backups:read")), "snapshots", "--json", "--no-lock")
        self.assertEqual(listed.stdout.count(b'"short_id"'), 1)  # the laptop's backup
        self.run_block(pruning_host)
        self.assertIsNotNone(self.app.keys.get("backups", "config"))
