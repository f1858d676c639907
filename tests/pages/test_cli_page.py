"""docs/cli.md run in page order: its "Try it" block as written, against
a daemon of the defaults (its address put in for the page's
``127.0.0.1:8080``, the client's default, as ``FILESTORAGED_URL``): each upload's URL printed, the listing, a download
with the same bytes, a share link, the delete. The "Every form" block is
a synopsis (placeholders, ``|`` between choices): not run, each of its
commands run by the block before or by ``tests.client``."""

from __future__ import annotations

import hashlib
import os
from unittest import mock

from ..page_runs import as_reader, blocks
from ..support import ServerCase

PAGE = "docs/cli.md"


class CliPageTests(ServerCase):
    def test_the_try_it_block_runs_as_written(self):
        found = blocks(PAGE)
        self.assertEqual(len(found), 2)  # a new block: run it here, or say why not
        try_it, every_form = found
        self.assertIn("filestoraged get <sha256>|<url>|/data/photos/<oid> [-o FILE|-] [--force] [--password PW]",
                      [line.split("  ")[0].strip() for line in every_form][3])
        with mock.patch.dict(os.environ, {"FILESTORAGED_URL": "http://127.0.0.1:%d" % self.port}):  # (its 8080)
            ran = as_reader(self, "\n".join(try_it), self.data_dir, self.port, {})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        oid = hashlib.sha256(b"the quarterly report\n").hexdigest()
        lines = ran.stdout.splitlines()
        self.assertEqual(lines[:2], ["http://127.0.0.1:%d/files/%s" % (self.port, oid),
                                     "http://127.0.0.1:%d/data/photos/%s" % (self.port, oid)])
        self.assertIn("%s\t21" % oid, lines)
        self.assertIn("same bytes", lines)
        self.assertTrue(any(line.startswith("delete token: ") and "filestoraged rm " in line for line in lines), lines)
        self.assertEqual(self.request("GET", "/files/" + oid).status, 404)  # the last line deleted it
        self.assertEqual(self.request("GET", "/data/photos/" + oid).status, 200)
