"""Replication and events from two daemons over one S3 store (SeaweedFS,
``--records s3`` or PostgreSQL) to a second filestoraged and a webhook:
versions written through both at once, one of them killed (SIGKILL) and
started again midway; once the outbox is empty every version is at the
target once, with its bytes, and its event at the webhook (again only
with the same id), in the order of each key's versions: whichever daemon
holds the turn sends, and one that died hands it on."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler
from typing import Dict, List, Tuple

from filestoraged.catalog.heads import new_version_id
from filestoraged.catalog.notifications import CREATED, REMOVED, event_fields
from filestoraged.catalog.outbox import EVENT, OUTBOX, SETTLE, Outbox

from ..postgres_server import class_database
from ..s3api_support import boto3_or_skip, daemon_client
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, shared_records, shared_store
from ..support import ROOT, Daemon, free_port, serve_in_thread, wait_for_port, wait_until

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


class Hook(BaseHTTPRequestHandler):
    """A webhook that keeps every delivery."""

    got: List[Tuple[dict, bytes]] = []

    def do_POST(self) -> None:
        Hook.got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def cli(data_dir: str, *words: str, env: Dict[str, str] = {}) -> str:  # noqa: B006 (never changed)
    done = subprocess.run([sys.executable, "-m", "filestoraged", *words, "--data-dir", data_dir],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT, **env))
    if done.returncode != 0:
        raise AssertionError(done.stderr)
    return done.stdout


def key_pair(output: str) -> Tuple[str, str]:
    pairs = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return pairs["AWS_ACCESS_KEY_ID"], pairs["AWS_SECRET_ACCESS_KEY"]


class TwoDaemons:
    """Two daemons over one store, a bucket replicated to a second
    filestoraged and told to a webhook; the test both kinds of records run."""

    @classmethod
    def records(cls) -> str:
        return "s3"

    def setUp(self) -> None:
        boto3_or_skip(self)
        self.work = tempfile.mkdtemp(prefix="fsd-cluster-replication-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.shared = shared_store(self, self.records())
        self.target_s3 = free_port()
        target = Daemon(os.path.join(self.work, "target"), "--s3-api", "127.0.0.1:%d" % self.target_s3).start()
        self.addCleanup(target.stop)
        replica = key_pair(cli(target.data_dir, "token", "create", "--scope", "admin", "--name", "replica", "--s3"))
        self.credentials = os.path.join(self.work, "replica.env")
        with open(self.credentials, "w") as file:
            file.write("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % replica)
        self.copies = self.boto(self.target_s3, replica)
        self.copies.create_bucket(Bucket="copy")
        self.copies.put_bucket_versioning(Bucket="copy", VersioningConfiguration={"Status": "Enabled"})
        self.cli_dir = os.path.join(self.work, "cli")
        os.makedirs(self.cli_dir)
        self.sources: List[Tuple[Daemon, int]] = []
        for number in range(2):
            s3_port = free_port()
            daemon = Daemon(os.path.join(self.work, "source%d" % number), *self.shared, "--s3-api",
                            "127.0.0.1:%d" % s3_port, "--workers", "1", env=ENV).start()
            self.addCleanup(daemon.stop)
            self.sources.append((daemon, s3_port))
        mine = key_pair(self.cli("token", "create", "--scope", "admin", "--name", "writer", "--s3"))
        self.clients = [self.boto(s3_port, mine) for _, s3_port in self.sources]
        self.clients[0].create_bucket(Bucket="photos")
        self.clients[0].put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
        self.cli("bucket", "replicate", "photos", "http://127.0.0.1:%d/copy" % self.target_s3, self.credentials)
        Hook.got = []
        hook = serve_in_thread(self, Hook)
        secret = os.path.join(self.work, "hook.secret")
        with open(secret, "w") as file:
            file.write("s3cr3t\n")
        self.cli("bucket", "webhook", "hook", "http://127.0.0.1:%d/" % hook.server_address[1], secret)
        self.clients[1].put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": "arn:filestoraged:sqs::hook:webhook",
                                     "Events": ["s3:ObjectCreated:*"]}]})

    def cli(self, *words: str) -> str:
        return cli(self.cli_dir, *words, *self.shared, env=ENV)

    def boto(self, port: int, pair: Tuple[str, str]):
        return daemon_client(self, port, pair)

    def backlog(self) -> int:
        return int(self.cli("bucket", "replication").splitlines()[-1].rsplit(" ", 1)[1])

    def test_two_daemons_send_every_version_once_and_one_that_died_hands_the_turn_on(self):
        stop, down, lock = threading.Event(), threading.Event(), threading.Lock()
        written, failures = [0], []

        def write(writer: int) -> None:
            round_ = 0
            while not stop.is_set():
                client = self.clients[(writer + round_) % 2]
                round_ += 1
                was_down = down.is_set()
                try:
                    client.put_object(Bucket="photos", Key="w%d/k%d" % (writer, round_ % 3), Body=os.urandom(2000))
                except Exception as error:  # the killed daemon's: not kept, nor sent
                    if not (was_down or down.is_set()):
                        failures.append(error)
                    continue
                with lock:
                    written[0] += 1

        def more(count: int) -> None:
            wanted = written[0] + count
            wait_until(lambda: written[0] >= wanted, "%d more versions written" % count, timeout=60)

        writers = [threading.Thread(target=write, args=(number,)) for number in range(4)]
        for thread in writers:
            thread.start()
        try:
            more(30)
            down.set()
            daemon, s3_port = self.sources[0]
            daemon.kill()
            more(10)
            daemon.start()
            wait_for_port(s3_port)
            down.clear()
            more(30)
        finally:
            stop.set()
            for thread in writers:
                thread.join(60)
        self.assertFalse(any(thread.is_alive() for thread in writers))
        self.assertEqual(failures, [])
        wait_until(lambda: self.backlog() == 0, "the outbox is empty", timeout=120)
        versions = self.clients[1].list_object_versions(Bucket="photos")["Versions"]
        self.assertGreaterEqual(len(versions), 70)
        sent: Dict[str, List[str]] = {}
        for copy in self.copies.list_object_versions(Bucket="copy")["Versions"]:
            meta = self.copies.head_object(Bucket="copy", Key=copy["Key"], VersionId=copy["VersionId"])["Metadata"]
            sent.setdefault(meta["filestoraged-version"], []).append(meta["filestoraged-sha256"])
        for version in versions:
            body = self.clients[0].get_object(Bucket="photos", Key=version["Key"], VersionId=version["VersionId"])
            self.assertEqual(body["ReplicationStatus"], "COMPLETED")
            self.assertEqual(sent.get(version["VersionId"]), [hashlib.sha256(body["Body"].read()).hexdigest()])
        self.assertEqual(len(sent), len(versions))
        events: Dict[str, dict] = {}
        for headers, body in Hook.got:
            self.assertEqual(headers["X-Filestoraged-Signature"],
                             "sha256=" + hmac.new(b"s3cr3t", body, hashlib.sha256).hexdigest())
            events.setdefault(headers["X-Filestoraged-Event-Id"], json.loads(body)["Records"][0]["s3"]["object"])
        self.assertEqual(sorted(event["versionId"] for event in events.values()),
                         sorted(version["VersionId"] for version in versions))
        for key in {version["Key"] for version in versions}:  # in the order of the key's versions
            arrived = [event["versionId"] for event in events.values() if event["key"] == key]  # (first arrivals)
            self.assertEqual(arrived, [version["VersionId"] for version in reversed(versions)
                                       if version["Key"] == key])


class ClusterReplicationTests(TwoDaemons, unittest.TestCase):
    def test_an_event_whose_commit_never_came_is_never_told_and_one_committed_but_not_confirmed_is(self):
        """What a daemon over ``--records s3`` leaves when it dies after
        writing a change's outbox items, before confirming them: items
        pending, its change made (it died after its swap) or not."""
        records = shared_records(self, self.cli_dir, self.shared)
        outbox = Outbox(records)

        def pending(key: str, version: str, event: str) -> str:
            fields = event_fields({"hook": "hook"}, event, 4, '"etag"', "writer")
            [item] = outbox.ahead("photos", key, [(EVENT, version, fields)])
            self.assertTrue(item.pending)
            return item.id

        def older(item_id: str) -> None:  # as if written before SETTLE (60 s)
            records.update(OUTBOX + item_id, lambda value: dict(value, at=value["at"] - 2 * SETTLE))

        def told(key: str) -> List[str]:
            return [headers["X-Filestoraged-Event-Id"] for headers, body in list(Hook.got)
                    if json.loads(body)["Records"][0]["s3"]["object"]["key"] == key]

        ghost = pending("ghost", new_version_id(), CREATED)
        self.clients[0].put_object(Bucket="photos", Key="real", Body=b"real")
        wait_until(lambda: told("real"), "the event of a write made after the ghost's", timeout=60)
        self.assertEqual(told("ghost"), [])
        self.assertEqual(self.backlog(), 1)  # the ghost waits: its commit may still come
        older(ghost)
        wait_until(lambda: self.backlog() == 0, "the ghost dropped", timeout=60)
        self.assertEqual(told("ghost"), [])

        kept = self.clients[1].put_object(Bucket="photos", Key="kept", Body=b"kept")["VersionId"]
        wait_until(lambda: told("kept"), "the event of kept", timeout=60)
        made, never = pending("kept", kept, CREATED), pending("kept", kept, REMOVED)
        older(made)
        older(never)
        wait_until(lambda: self.backlog() == 0, "both judged", timeout=60)
        self.assertIn(made, told("kept"))
        self.assertNotIn(never, told("kept"))


class ClusterReplicationOverDatabaseTests(TwoDaemons, unittest.TestCase):
    @classmethod
    def records(cls) -> str:
        return class_database(cls)


if __name__ == "__main__":
    unittest.main()
