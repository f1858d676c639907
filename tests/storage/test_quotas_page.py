"""docs/quotas.md's commands run as written, in page order, against a
store with buckets ``photos`` and ``albums`` (its data directory put in
for the page's ``/var/lib/filestoraged``): what ``bucket usage`` and
``bucket owners`` print is what the page shows, the bytes and quotas in it."""

from __future__ import annotations

import os
from unittest import mock

from filestoraged.catalog.buckets import Buckets
from filestoraged.holds.ledger import Ledger
from filestoraged.records.bucket import BucketRecords
from filestoraged.storage.names import repository
from filestoraged.storage.s3.backend import S3Backend

from ..page_runs import as_reader, blocks
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, seaweed
from ..support import BytesSource, ServerCase

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


class QuotasPageTests(ServerCase):
    def test_the_pages_commands_run_in_page_order(self):
        for name in ("photos", "albums"):
            self.app.buckets.create(name)
        self.assertEqual(self.request("PUT", "/data/photos", b"x" * 2000).status, 201)
        found = blocks("docs/quotas.md")
        commands = [block for block in found if block[0].startswith("filestoraged ")]
        self.assertEqual(len(commands), 3)  # the third: over an S3 store (below)
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

    def test_the_several_daemons_command_counts_a_bucket_of_an_s3_store(self):
        """The section's command against a real S3 store (SeaweedFS), its
        records in the store's bucket, with a bucket ``photos`` holding
        2000 bytes: it sets the quota and says what it counted."""
        store = seaweed()
        bucket = store.new_bucket()
        self.addCleanup(store.drop_bucket, bucket)
        client = store.client(bucket)
        self.addCleanup(client.close)
        Buckets(BucketRecords(client)).create("photos")
        S3Backend(client, self.data_dir, 1 << 30).put(repository("photos"), BytesSource(b"x" * 2000))
        command = [block for block in blocks("docs/quotas.md") if block[0].startswith("filestoraged ")][2]
        script = "\n".join(command).replace("https://s3.example.net", store.endpoint)
        script = script.replace("--s3-bucket filestoraged", "--s3-bucket " + bucket)
        with mock.patch.dict(os.environ, ENV):
            ran = as_reader(self, script, self.data_dir, self.port, {})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        self.assertEqual(ran.stdout, "bucket photos: quota 21474836480 bytes, 2000 stored\n")
        self.assertIn("# bucket photos: quota 21474836480 bytes, ", script)  # as the page shows it
        self.assertEqual(Ledger(BucketRecords(client)).count("photos"), (2000, 0))
