"""docs/sharing.md run as a reader runs it: its shell examples, in page
order, in one shell, against a daemon under ``--auth all`` with a bucket
``inbox``, with only the daemon's address and data directory put in for
the page's ``127.0.0.1:8080`` and ``/var/lib/filestoraged``."""

from __future__ import annotations

import json

from ..page_runs import as_reader, blocks
from ..support import ServerCase


class SharingPageTests(ServerCase):
    config_overrides = {"auth": "all"}

    def test_the_pages_examples_run_in_page_order(self):
        self.app.buckets.create("inbox")
        found = blocks("docs/sharing.md")
        self.assertGreaterEqual(len(found), 4)
        ran = as_reader(self, "set -x\n" + "\n".join("\n".join(block) for block in found), self.data_dir,
                        self.port, {"report.pdf": b"%PDF the quarter's statements"})
        self.assertEqual(ran.returncode, 0, "docs/sharing.md stopped here:\n%s" % ran.stderr[-4000:])
        # What the page did, as a reader would check it.
        sent = [line for line in ran.stdout.splitlines() if line.startswith(("{", "["))]
        self.assertEqual(json.loads(sent[0]), {"name": "report.pdf", "size": 29})
        self.assertEqual(json.loads(sent[1]), {"name": "report (2).pdf", "size": 29})
        listed = json.loads(sent[2])
        self.assertEqual([(link["name"], link["files"]) for link in listed], [("Acme, Q3 documents", 2)])
        self.assertEqual(json.loads(sent[4])["error"], "gone")  # revoked (sent[3]: the revocation's answer)
        entry = self.app.keys.get("inbox", "acme/report.pdf")
        self.assertEqual(entry.maker, "Bob via upload link 'Acme, Q3 documents'")
        self.assertIsNotNone(self.app.keys.get("inbox", "acme/report (2).pdf"))
