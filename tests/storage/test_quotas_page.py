"""docs/quotas.md's commands run as written, in page order, against a
store with buckets ``photos`` and ``albums`` (its data directory put in
for the page's ``/var/lib/filestoraged``): what ``bucket usage`` and
``bucket owners`` print is what the page shows, the bytes and quotas in it."""

from __future__ import annotations

from ..page_runs import as_reader, blocks
from ..support import ServerCase


class QuotasPageTests(ServerCase):
    def test_the_pages_commands_run_in_page_order(self):
        for name in ("photos", "albums"):
            self.app.buckets.create(name)
        self.assertEqual(self.request("PUT", "/data/photos", b"x" * 2000).status, 201)
        found = blocks("docs/quotas.md")
        commands = [block for block in found if block[0].startswith("filestoraged ")]
        self.assertEqual(len(commands), 2)
        ran = as_reader(self, "\n".join(commands[0]), self.data_dir, self.port, {})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        shown = next(block for block in found if block[0].startswith("bucket\t"))
        printed = ran.stdout.splitlines()
        self.assertIn(shown[0], printed)  # the heading, as the page shows it
        self.assertIn("photos\t2000\t0\t21474836480\t-", printed)  # as the page's line: 20G, in bytes
        self.assertRegex(shown[1], r"^photos\t\d+\t0\t21474836480\t-$")
        self.assertIsNone(self.app.buckets.get("photos").quota)  # the last line took it away
        ran = as_reader(self, "\n".join(commands[1]), self.data_dir, self.port, {})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        shown = next(block for block in found if block[0].startswith("owner\t"))
        printed = ran.stdout.splitlines()
        self.assertIn(shown[0], printed)
        self.assertIn("alice\t2000\t0\t53687091200\talbums,photos", printed)  # 50G, both buckets
        self.assertRegex(shown[1], r"^alice\t\d+\t0\t53687091200\talbums,photos$")
        self.assertEqual(self.app.buckets.get("albums").owner, "alice")
