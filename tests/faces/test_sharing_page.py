"""docs/sharing.md run as a reader runs it: its shell examples, in page
order, in one shell, against a daemon under ``--auth all`` with a bucket
``inbox``, with only the daemon's address and data directory put in for
the page's ``127.0.0.1:8080`` and ``/var/lib/filestoraged``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from ..s3api.test_s3_page import reader_home, sections
from ..support import ROOT, ServerCase

PAGE = os.path.join(ROOT, "docs", "sharing.md")


class SharingPageTests(ServerCase):
    config_overrides = {"auth": "all"}

    def test_the_pages_examples_run_in_page_order(self):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        self.app.buckets.create("inbox")
        with open(PAGE, encoding="utf-8") as page:
            blocks = [block for _, found in sections(page.read()) for block in found]
        self.assertGreaterEqual(len(blocks), 4)
        home, bin_dir = reader_home(self, {})
        work = os.path.join(home, "here")
        os.makedirs(work)
        with open(os.path.join(work, "report.pdf"), "wb") as report:
            report.write(b"%PDF the quarter's statements")
        script = "\n".join(["set -euo pipefail", "set -x"] + ["\n".join(block) for block in blocks])
        script = script.replace("/var/lib/filestoraged", self.data_dir).replace("127.0.0.1:8080",
                                                                               "127.0.0.1:%d" % self.port)
        env = dict(os.environ, HOME=home, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), PYTHONPATH=ROOT)
        ran = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=120)
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
