"""docs/replication.md's commands run as written, in page order: the
target's setup on a second daemon (its data directory and S3 port put in
for the page's ``/var/lib/filestoraged`` and ``10.0.0.2:9000``), the
source's rule, what it says, a key the source held before found at the
target with its bytes; then the rule with a prefix and markers, and the
one to SeaweedFS."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

from ..page_runs import as_reader, blocks
from ..s3api_support import REGION, boto3_or_skip, tool_or_skip
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, seaweed
from ..support import Daemon, exchange, free_port, wait_until

PAGE = "docs/replication.md"


class ReplicationPageTests(unittest.TestCase):
    def test_the_pages_commands_run_in_page_order(self):
        boto3 = boto3_or_skip(self)
        tools = {"aws": tool_or_skip("aws")}
        work = tempfile.mkdtemp(prefix="fsd-replication-page-")
        self.addCleanup(shutil.rmtree, work, True)
        ports = {name: free_port() for name in ("target", "source")}
        daemons = {}
        for name, s3_port in ports.items():
            daemons[name] = Daemon(os.path.join(work, name), "--s3-api", "127.0.0.1:%d" % s3_port).start()
            self.addCleanup(daemons[name].stop)
        for path in ("/photos", "/photos/dog.jpg"):  # the page's bucket, holding a key before the rule
            self.assertEqual(exchange(ports["source"], "PUT", path, b"woof" if "." in path else b"")[0], 200)
        target_setup, source_setup, shown, with_prefix, to_seaweed = [
            block for block in blocks(PAGE) if block[0].startswith(("filestoraged ", "bucket\t"))]

        def as_here(lines) -> str:
            script = "\n".join(lines).replace("/etc/filestoraged/", "$HOME/")
            return script.replace("10.0.0.2:9000", "127.0.0.1:%d" % ports["target"])

        script = as_here(target_setup).replace("/var/lib/filestoraged", os.path.join(work, "target"))
        ran = as_reader(self, script + "\n" + as_here(source_setup) + "\ncat replica.env",
                        os.path.join(work, "source"), daemons["source"].port, {}, tools)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        printed = ran.stdout.splitlines()
        pairs = dict(line.split("=", 1) for line in printed[-3:])
        self.assertEqual(printed[-6:-4], [line.replace("10.0.0.2:9000", "127.0.0.1:%d" % ports["target"])
                                          for line in shown[:2]])
        self.assertRegex(shown[2], r"^waiting to be sent: \d+$")
        self.assertRegex(printed[-4], r"^waiting to be sent: [01]$")  # (dog.jpg: sent already, or not yet)
        from botocore.config import Config

        copies = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % ports["target"], region_name=REGION,
                              aws_access_key_id=pairs["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=pairs["AWS_SECRET_ACCESS_KEY"],
                              config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
        wait_until(lambda: copies.list_objects_v2(Bucket="copy").get("KeyCount") == 1, "dog.jpg at the target",
                   timeout=30)
        self.assertEqual(copies.get_object(Bucket="copy", Key="dog.jpg")["Body"].read(), b"woof")
        store = seaweed()
        bucket = store.new_bucket()
        self.addCleanup(store.drop_bucket, bucket)
        script = as_here(with_prefix + to_seaweed).replace("http://10.0.0.3:8333/photos-copy",
                                                            "%s/%s" % (store.endpoint, bucket))
        keys = {"replica.env": "".join("%s=%s\n" % pair for pair in pairs.items()).encode(),
                "seaweed.env": b"AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (ACCESS_KEY.encode(),
                                                                                     SECRET_KEY.encode())}
        ran = as_reader(self, script, os.path.join(work, "source"), daemons["source"].port, keys, tools)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        self.assertEqual(ran.stdout.splitlines(), [
            "bucket photos: new versions under albums/ copied to http://127.0.0.1:%d/copy, delete markers too"
            % ports["target"],
            "bucket photos: new versions copied to %s/%s" % (store.endpoint, bucket)])


if __name__ == "__main__":
    unittest.main()
