"""docs/quotas.md's commands run as written, in page order, against a
store with a bucket ``photos`` (its data directory put in for the page's
``/var/lib/filestoraged``): what ``bucket usage`` prints is what the page
shows, the bucket's bytes and quota in it."""

from __future__ import annotations

from ..page_runs import as_reader, blocks
from ..support import ServerCase


class QuotasPageTests(ServerCase):
    def test_the_pages_commands_run_in_page_order(self):
        self.app.buckets.create("photos")
        self.assertEqual(self.request("PUT", "/data/photos", b"x" * 2000).status, 201)
        found = blocks("docs/quotas.md")
        commands = [block for block in found if block[0].startswith("filestoraged ")]
        self.assertEqual(len(commands), 1)
        ran = as_reader(self, "\n".join(commands[0]), self.data_dir, self.port, {})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        shown = next(block for block in found if block[0].startswith("bucket\t"))
        printed = ran.stdout.splitlines()
        self.assertIn(shown[0], printed)  # the heading, as the page shows it
        self.assertIn("photos\t2000\t0\t21474836480", printed)  # as the page's line: 20G, in bytes
        self.assertRegex(shown[1], r"^photos\t\d+\t0\t21474836480$")
        self.assertIsNone(self.app.buckets.get("photos").quota)  # the last line took it away
