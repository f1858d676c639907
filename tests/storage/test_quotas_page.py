"""docs/quotas.md's commands run as written, in page order, against a
store with a bucket ``photos`` (its data directory put in for the page's
``/var/lib/filestoraged``): what ``bucket usage`` prints is what the page
shows, the bucket's bytes and quota in it."""

from __future__ import annotations

import os
import subprocess

from ..s3api.test_s3_page import reader_home, sections
from ..support import ROOT, ServerCase

PAGE = os.path.join(ROOT, "docs", "quotas.md")


class QuotasPageTests(ServerCase):
    def test_the_pages_commands_run_in_page_order(self):
        self.app.buckets.create("photos")
        self.assertEqual(self.request("PUT", "/data/photos", b"x" * 2000).status, 201)
        with open(PAGE, encoding="utf-8") as page:
            blocks = [block for _, found in sections(page.read()) for block in found]
        commands = [block for block in blocks if block[0].startswith("filestoraged ")]
        self.assertEqual(len(commands), 1)
        home, bin_dir = reader_home(self, {})
        script = "set -euo pipefail\n" + "\n".join(commands[0]).replace("/var/lib/filestoraged", self.data_dir)
        env = dict(os.environ, HOME=home, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), PYTHONPATH=ROOT)
        ran = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        shown = next(block for block in blocks if block[0].startswith("bucket\t"))
        printed = ran.stdout.splitlines()
        self.assertIn(shown[0], printed)  # the heading, as the page shows it
        self.assertIn("photos\t2000\t0\t21474836480", printed)  # as the page's line: 20G, in bytes
        self.assertRegex(shown[1], r"^photos\t\d+\t0\t21474836480$")
        self.assertIsNone(self.app.buckets.get("photos").quota)  # the last line took it away
