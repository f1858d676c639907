"""The cluster soak, run by hand: ``python -m bench.cluster_soak [--seconds 300]``.

Loopback only and bounded in time. A SeaweedFS cluster with replication
(a master with ``-defaultReplication=001``, two volume servers, a filer and
the S3 gateway), three daemons with ``--records s3`` over its bucket, and
nginx in front running docs/SCALING.md's balancer block. Client threads
put mixed load on every face through the balancer (uploads read back by
hash, KV keys set, committed and read, share links raced by concurrent
downloads); meanwhile one daemon is killed (``kill -9``) and restarted, and
later one volume server likewise.

At the end, after the leases ran out: every acknowledged upload and KV
commit is read back, and every share link is drained, so that its complete
downloads over its whole life can be counted. The summary counts
requests, answers by kind, wrong bytes, lost acknowledged writes and share
links whose count is not exactly their ``max_downloads``. The daemons run
as shipped but for the flags a cluster needs (``--backend s3 --records s3``,
``--trusted-proxy``, ``--auth writes``); the dead daemon's reservations
come back after the default lease, 60 s, waited for before the check.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Dict, List, Optional, Tuple

from filestoraged.storage.s3.fsck import fsck
from tests.nginx_server import Nginx, balancer_block
from tests.seaweed_server import ACCESS_KEY, SECRET_KEY, SeaweedCluster
from tests.support import ROOT, Daemon, multipart

from .common import ensure_tools

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
LEASE = 60  # --share-lease's default
CLIENTS = 4


class ClusterSoak:
    def __init__(self, port: int, token: str, deadline: float) -> None:
        self.port, self.token, self.deadline = port, token, deadline
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.files: Dict[str, str] = {}  # acknowledged: oid -> sha256
        self.keys: Dict[str, int] = {}  # acknowledged commits: key -> value
        self.links: Dict[str, Tuple[int, int]] = {}  # path -> (max_downloads, complete downloads seen)
        self.wrong: List[str] = []
        self.phase = "steady"

    def call(self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[dict] = None,
             token: bool = True) -> Tuple[int, bytes]:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = "Bearer " + self.token
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body, headers)
            reply = conn.getresponse()
            data, status = reply.read(), reply.status
        except (OSError, http.client.HTTPException) as error:
            self.count("broken:%s" % type(error).__name__)
            return 0, b""
        finally:
            conn.close()
        self.count("answers:%d" % status)
        return status, data

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1
            self.counts["phase %s requests" % self.phase] += what.startswith("answers")

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < self.deadline:
            data = rng.randbytes(rng.choice((1024, 200 * 1024, 1024 * 1024 + 5)))
            digest = hashlib.sha256(data).hexdigest()
            status, body = self.call("POST", "/files", data)
            if status == 200:
                if json.loads(body)["hash"] != digest:
                    self.wrong.append("upload id")
                with self.lock:
                    self.files[digest] = digest
                self.check_file(digest)
            key = "soak-%d-%d" % (seed, rng.getrandbits(32))
            value = rng.getrandbits(20)
            if (self.call("POST", "/kv/set", json.dumps({key: value}).encode())[0] in (200, 201)
                    and self.call("POST", "/kv/commit")[0] == 204):
                with self.lock:
                    self.keys[key] = value
                status, body = self.call("GET", "/kv/" + key, token=False)
                if status == 200 and json.loads(body) != {key: value}:
                    self.wrong.append("/kv/" + key)
            self.race_link(rng, data, digest)

    def check_file(self, oid: str) -> None:
        status, body = self.call("GET", "/files/" + oid, token=False)
        if status == 200 and hashlib.sha256(body).hexdigest() != oid:
            self.wrong.append("/files/" + oid)

    def race_link(self, rng: random.Random, data: bytes, digest: str) -> None:
        most = rng.randint(1, 3)
        form, content_type = multipart({"max_downloads": str(most), "file": ("f.bin", data, "text/plain")})
        status, body = self.call("PUT", "/file", form, {"Content-Type": content_type})
        if status != 201:
            return
        path = "/file/" + json.loads(body)["url"].rsplit("/", 1)[1]
        complete = []

        def download() -> None:
            got, content = self.call("GET", path, token=False)
            if got == 200:
                if hashlib.sha256(content).hexdigest() != digest:
                    self.wrong.append(path)
                with self.lock:
                    complete.append(1)

        threads = [threading.Thread(target=download) for _ in range(most + 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        with self.lock:
            self.links[path] = (most, len(complete))

    def drain_links(self) -> int:
        """Download every link until it answers 410; the links whose complete
        downloads over their life are not exactly their max_downloads."""
        wrong_counts = 0
        for path, (most, seen) in sorted(self.links.items()):
            for _ in range(most + 1):
                status, _ = self.call("GET", path, token=False)
                if status == 410:
                    break
                if status == 200:
                    seen += 1
                else:  # the store answering 503 at the end would be a finding of its own
                    self.count("drain:%d" % status)
            if seen != most:
                wrong_counts += 1
                print("share link %s...: %d complete downloads of %d" % (path[:14], seen, most), file=sys.stderr)
        return wrong_counts


def token(cluster: SeaweedCluster, s3: List[str], work: str) -> str:
    done = subprocess.run([sys.executable, "-m", "filestoraged", "token", "create", "--scope", "admin",
                           "--name", "soak", "--data-dir", os.path.join(work, "cli"), *s3],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT, **ENV))
    if done.returncode:
        sys.exit("cluster soak: could not make a token: " + done.stderr.strip())
    return done.stdout.split()[-1]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the load, seconds")
    args = parser.parse_args(argv)
    ensure_tools("nginx")
    work = tempfile.mkdtemp(prefix="fsd-cluster-soak-")
    os.makedirs(os.path.join(work, "cli"))
    cluster = SeaweedCluster(volumes=200)  # 2 x 200 x 64 MB: room for the whole run's uploads
    daemons: List[Daemon] = []
    balancer = None
    try:
        s3 = ["--backend", "s3", "--s3-endpoint", cluster.endpoint, "--s3-bucket", cluster.bucket, "--records", "s3"]
        flags = [*s3, "--trusted-proxy", "127.0.0.1", "--auth", "writes"]
        for number in range(3):
            daemons.append(Daemon(os.path.join(work, "daemon%d" % number), *flags, env=ENV,
                                  log=os.path.join(work, "daemon%d.log" % number)).start())
        balancer = Nginx(balancer_block([daemon.port for daemon in daemons]))
        started = time.monotonic()
        soak = ClusterSoak(balancer.port, token(cluster, s3, work), started + args.seconds)
        threads = [threading.Thread(target=soak.client, args=(seed,)) for seed in range(CLIENTS)]
        for thread in threads:
            thread.start()
        events: List[str] = []
        failed: List[str] = []

        def at(fraction: float, what: str, action) -> None:
            wait = started + args.seconds * fraction - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # a timeline, not a wait for a condition
            soak.phase = what
            try:
                action()
            except Exception as error:  # the load goes on; the run fails
                failed.append("%s: %s" % (what, error))
            events.append("%5.0f s  %s" % (time.monotonic() - started, what))

        victim = daemons[1]

        def restart() -> None:
            daemons[1] = Daemon(victim.data_dir, *flags, env=ENV, port=victim.port, log=victim.log).start()

        at(0.2, "daemon 1 killed (kill -9)", victim.kill)
        at(0.3, "daemon 1 restarted", restart)
        at(0.5, "volume server 1 killed (kill -9)", lambda: cluster.kill("volume1"))
        at(0.65, "volume server 1 restarted", lambda: cluster.start_volume(1))
        at(0.7, "steady", lambda: None)
        for thread in threads:
            thread.join(args.seconds + 600)
        time.sleep(LEASE + 1)  # every reservation of the killed daemon has come back
        soak.phase = "verify"
        lost = [oid for oid in soak.files if soak.call("GET", "/files/" + oid, token=False)[0] != 200]
        for oid in soak.files:
            soak.check_file(oid)
        for key, value in soak.keys.items():
            status, body = soak.call("GET", "/kv/" + key, token=False)
            if status != 200 or json.loads(body) != {key: value}:
                lost.append(key)
        wrong_counts = soak.drain_links()
        # What the kills left in the bucket: bodies no record names (fsck
        # removes them once a day old; here every body counts as old).
        unnamed = fsck(cluster.client(), now=math.inf).unnamed
        print("\n".join(events))
        print("requests by phase: " + ", ".join("%s %d" % (name[6:-9], n) for name, n in sorted(soak.counts.items())
                                                 if name.startswith("phase ")))
        print("answers: " + ", ".join("%s %d" % (name, n) for name, n in sorted(soak.counts.items())
                                       if not name.startswith("phase ")))
        print("acknowledged uploads %d, KV commits %d, share links %d" % (len(soak.files), len(soak.keys),
                                                                         len(soak.links)))
        print("wrong bytes %d, lost acknowledged writes %d, share links not exact %d"
              % (len(soak.wrong), len(lost), wrong_counts))
        print("bodies no record names (space only; for fsck --repair): %d" % len(unnamed))
        for failure in failed:
            print("FAILED: " + failure)
        return 1 if soak.wrong or lost or wrong_counts or failed else 0
    finally:
        if balancer is not None:
            balancer.stop()
        for daemon in daemons:
            daemon.stop()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
