"""Three daemons (processes of their own, ``--records s3``, and again
with ``--records postgresql://``) over one SeaweedFS bucket, behind a real nginx running docs/SCALING.md's balancer
block (round robin, no pinning): every face through the balancer, exact
share-link counts under concurrent downloads spread over the daemons, KV
commits seen at once everywhere, tokens across daemons; ``kill -9`` of a
daemon under mixed load. (The store unreachable: ``test_shared_faces``.)"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Dict, List, Optional, Tuple

from ..nginx_server import Nginx, balancer_block, needs_nginx
from ..postgres_server import class_database
from ..seaweed_server import ACCESS_KEY, SECRET_KEY, seaweed
from ..support import MIB, ROOT, Daemon, multipart, payload, required, sha256, wait_until

ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
LEASE = 3.0  # --share-lease of these daemons, so that a dead daemon's reservations come back soon


class Answer:
    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def call(port: int, method: str, path: str, body=None, headers: Optional[Dict[str, str]] = None,
         timeout: float = 60) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        reply = conn.getresponse()
        return Answer(reply.status, reply.headers, reply.read())
    finally:
        conn.close()


class ClusterCase(unittest.TestCase):
    """The store's bucket, three daemons and the balancer, for the class."""

    extra: Tuple[str, ...] = ()

    @classmethod
    def setUpClass(cls) -> None:
        needs_nginx()
        cls.store = seaweed()
        cls.bucket = cls.store.new_bucket()
        cls.addClassCleanup(cls.store.drop_bucket, cls.bucket)
        cls.s3 = ["--backend", "s3", "--s3-endpoint", cls.store.endpoint, "--s3-bucket", cls.bucket,
                  "--records", cls.records()]
        cls.daemons = [cls.start_daemon() for _ in range(3)]
        cls.balancer = Nginx(balancer_block([daemon.port for daemon in cls.daemons]))
        cls.addClassCleanup(cls.balancer.stop)
        cls.token = cls.token_command("create", "--scope", "admin", "--name", "cluster").stdout.split()[-1]

    @classmethod
    def records(cls) -> str:
        """``--records``: the bucket's own (``OverDatabase``: a PostgreSQL database)."""
        return "s3"

    @classmethod
    def start_daemon(cls, port: int = 0) -> Daemon:
        folder = tempfile.mkdtemp(prefix="fsd-cluster-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        daemon = Daemon(folder, *cls.s3, "--auth", "writes", "--trusted-proxy", "127.0.0.1", "--workers", "1",
                        "--share-lease", str(LEASE), *cls.extra, env=ENV, port=port).start()
        cls.addClassCleanup(daemon.stop)
        return daemon

    @classmethod
    def token_command(cls, *args: str) -> subprocess.CompletedProcess:
        folder = tempfile.mkdtemp(prefix="fsd-cli-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "token", *args, "--data-dir", folder, *cls.s3],
                              capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=ROOT, **ENV))
        if done.returncode != 0:
            raise AssertionError(done.stderr)
        return done

    def through(self, method: str, path: str, body=None, headers: Optional[Dict[str, str]] = None,
                token: bool = True) -> Answer:
        """One request through the balancer (with the admin token)."""
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = "Bearer " + self.token
        return call(self.balancer.port, method, path, body, headers)

    def share(self, data: bytes, **fields) -> str:
        """A share link's path, made through the balancer."""
        form = {name: str(value) for name, value in fields.items()}
        form["file"] = ("shared.bin", data, "application/octet-stream")
        body, content_type = multipart(form)
        answer = self.through("PUT", "/file", body, {"Content-Type": content_type})
        self.assertEqual(answer.status, 201, answer.body)
        return "/file/" + answer.json()["url"].rsplit("/", 1)[1]

    def kv_commit(self, port: int, **values) -> None:
        headers = {"Authorization": "Bearer " + self.token}
        for key, value in values.items():
            self.assertIn(call(port, "POST", "/kv/set", json.dumps({key: value}), headers).status, (200, 201))
        self.assertEqual(call(port, "POST", "/kv/commit", None, headers).status, 204)

    def concurrent_downloads(self, path: str, count: int) -> List[int]:
        """``count`` GETs of ``path`` at once through the balancer; their statuses."""
        start = threading.Barrier(count)
        statuses: List[int] = []
        lock = threading.Lock()

        def download() -> None:
            start.wait(30)
            answer = self.through("GET", path, token=False)
            with lock:
                statuses.append(answer.status)

        threads = [threading.Thread(target=download) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
            if thread.is_alive():
                raise AssertionError("thread did not end in time")
        return statuses


class BalancedClusterTests(ClusterCase):
    def test_every_face_through_the_balancer(self):
        data = payload(3 * MIB + 7, seed=71)
        answer = self.through("POST", "/files", data)
        self.assertEqual(answer.status, 200, answer.body)
        oid = answer.json()["hash"]
        for _ in range(3):  # round robin: each daemon in turn
            self.assertEqual(sha256(self.through("GET", "/files/" + oid, token=False).body), sha256(data))
        self.assertEqual(self.through("PUT", "/data/photos", b"a photo").status, 201)
        listing = self.through("GET", "/data/photos")  # repositories are private: reads need a token too
        self.assertEqual(listing.status, 200, listing.body)
        path = self.share(b"three downloads", max_downloads=3)
        statuses = [self.through("GET", path, token=False).status for _ in range(4)]
        self.assertEqual(statuses, [200, 200, 200, 410])
        self.assertEqual(self.through("POST", "/kv/set", json.dumps({"face": "kv"})).status, 201)
        self.assertEqual(self.through("POST", "/kv/commit").status, 204)
        for _ in range(3):
            self.assertEqual(self.through("GET", "/kv/face", token=False).json(), {"face": "kv"})
        self.assertEqual(self.through("GET", "/metrics").status, 200)
        self.assertEqual(self.through("GET", "/healthz", token=False).status, 200)
        page = self.through("GET", "/", headers={"Accept": "text/html"}, token=False)
        self.assertEqual(page.status, 200)

    def test_a_once_link_hit_by_20_concurrent_gets_gives_exactly_one_200(self):
        statuses = self.concurrent_downloads(self.share(b"once, whatever daemon serves it"), 20)
        self.assertEqual((statuses.count(200), statuses.count(410)), (1, 19), statuses)

    def test_a_link_with_max_downloads_5_gives_exactly_5(self):
        statuses = self.concurrent_downloads(self.share(payload(256 * 1024, seed=5), max_downloads=5), 20)
        self.assertEqual((statuses.count(200), statuses.count(410)), (5, 15), statuses)

    def test_a_kv_commit_through_one_daemon_is_read_through_the_others_at_once(self):
        ports = [daemon.port for daemon in self.daemons]
        self.kv_commit(ports[0], city="Lisbon")
        self.assertEqual([call(port, "GET", "/kv/city").json() for port in ports], [{"city": "Lisbon"}] * 3)
        # Two commits at once through two daemons: both land.
        threads = [threading.Thread(target=self.kv_commit, args=(port,), kwargs={"key%d" % n: n})
                   for n, port in enumerate(ports[1:])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            if thread.is_alive():
                raise AssertionError("thread did not end in time")
        for n in range(2):
            self.assertEqual(call(ports[0], "GET", "/kv/key%d" % n).json(), {"key%d" % n: n})

    def test_a_token_works_on_every_daemon_and_a_revocation_reaches_all_within_the_bound(self):
        secret = self.token_command("create", "--scope", "files:write", "--name", "short-lived").stdout.split()[-1]
        for number, daemon in enumerate(self.daemons):
            self.assertEqual(call(daemon.port, "POST", "/files", b"token %d" % number,
                                  {"Authorization": "Bearer " + secret}).status, 200)
        self.token_command("revoke", "short-lived")
        started = time.monotonic()
        for daemon in self.daemons:
            wait_until(lambda port=daemon.port: call(port, "POST", "/files", b"late",
                                                     {"Authorization": "Bearer " + secret}).status == 401,
                       "the revocation reached the daemon", timeout=10)
        self.assertLess(time.monotonic() - started, 3.0)  # the README's bound: 2 s


class LfsLocksAcrossDaemonsTests(ClusterCase):
    """Git LFS locks live in the bucket: a lock taken through one daemon is
    listed and enforced through the others, and concurrent creates of one
    path through different daemons give exactly one lock."""

    LFS = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}

    def lock_call(self, port: int, method: str, path: str, body, secret: str) -> Answer:
        headers = dict(self.LFS, Authorization="Bearer " + secret)
        return call(port, method, "/lfs/art" + path, json.dumps(body).encode() if body is not None else None, headers)

    def test_a_lock_through_one_daemon_holds_through_the_others(self):
        alice = self.token_command("create", "--scope", "data:art:write", "--name", "alice").stdout.split()[-1]
        bob = self.token_command("create", "--scope", "data:art:write", "--name", "bob").stdout.split()[-1]
        first, second, third = (daemon.port for daemon in self.daemons)
        made = self.lock_call(first, "POST", "/locks", {"path": "hero.psd"}, alice)
        self.assertEqual(made.status, 201, made.body)
        lock = made.json()["lock"]
        self.assertEqual(self.lock_call(second, "GET", "/locks", None, bob).json()["locks"], [lock])
        theirs = self.lock_call(third, "POST", "/locks/verify", {}, bob).json()
        self.assertEqual((theirs["ours"], theirs["theirs"]), ([], [lock]))
        self.assertEqual(self.lock_call(second, "POST", "/locks", {"path": "hero.psd"}, bob).status, 409)
        self.assertEqual(self.lock_call(third, "POST", "/locks/%s/unlock" % lock["id"], {}, bob).status, 403)
        self.assertEqual(self.lock_call(second, "POST", "/locks/%s/unlock" % lock["id"], {}, alice).status, 200)

        statuses: List[int] = []
        errors: List[BaseException] = []
        start = threading.Barrier(9)

        def take(port: int, secret: str) -> None:
            try:
                start.wait(30)
                statuses.append(self.lock_call(port, "POST", "/locks", {"path": "contested.bin"}, secret).status)
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=take, args=(port, alice if n % 2 else bob))
                   for n, port in enumerate([first, second, third] * 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            self.assertFalse(thread.is_alive(), "a lock request did not end")
        self.assertEqual(errors, [])
        self.assertEqual(sorted(statuses), [201] + [409] * 8)
        listed = self.through("GET", "/lfs/art/locks", headers=self.LFS).json()["locks"]
        self.assertEqual([found["path"] for found in listed], ["contested.bin"])


class ResumableAcrossDaemonsTests(ClusterCase):
    """tus uploads with no pinning: each PATCH may reach another daemon (the
    bytes are parts in the bucket, the offset a record), one daemon killed
    between two of them; tuspy and ``filestoraged put`` through the
    balancer, as users run them."""

    def tus(self, port: int, method: str, path: str, body=None, **headers: str) -> Answer:
        headers = dict(headers, **{"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + self.token})
        return call(port, method, path, body, headers)

    def file_of(self, data: bytes) -> str:
        """A file holding ``data``, in a folder of its own (removed after)."""
        folder = tempfile.mkdtemp(prefix="fsd-tus-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "source.bin")
        with open(path, "wb") as out:
            out.write(data)
        return path

    def test_patches_on_every_daemon_with_one_killed_between_two(self):
        data = payload(6 * MIB + 11, seed=41)
        made = self.tus(self.balancer.port, "POST", "/uploads", **{
            "Upload-Length": str(len(data)), "Upload-Metadata": "target " + base64.b64encode(b"files").decode()})
        self.assertEqual(made.status, 201, made.body)
        path = "/uploads/" + made.headers["Location"].rsplit("/", 1)[1]
        offset, victim = 0, self.daemons[2]
        try:
            for number in range(7):  # 1 MiB each, straight to the daemons in turn
                if number == 4:
                    victim.kill()
                living = [daemon for daemon in self.daemons if daemon.process.poll() is None]
                port = living[number % len(living)].port
                answer = self.tus(port, "PATCH", path, data[offset:offset + MIB], **{
                    "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
                self.assertEqual(answer.status, 204, answer.body)
                offset = int(answer.headers["Upload-Offset"])
                self.assertEqual(self.tus(self.balancer.port, "HEAD", path).headers["Upload-Offset"], str(offset))
        finally:
            self.daemons[2] = self.start_daemon(victim.port)
        self.assertEqual(offset, len(data))
        result = self.tus(self.daemons[2].port, "GET", path)
        self.assertEqual(result.json()["hash"], sha256(data))
        self.assertEqual(sha256(self.through("GET", "/files/" + sha256(data), token=False).body), sha256(data))

    def test_tuspy_through_the_balancer(self):
        try:
            from tusclient import client as tus_client
        except ImportError:
            if required("TUSPY"):
                raise
            raise unittest.SkipTest("tuspy is not installed (bin/test installs it)")
        data = payload(9 * MIB + 5, seed=42)
        source = self.file_of(data)
        client = tus_client.TusClient("http://127.0.0.1:%d/uploads" % self.balancer.port,
                                      headers={"Authorization": "Bearer " + self.token})
        client.uploader(source, chunk_size=2 * MIB, metadata={"target": "data/videos"}).upload()  # 5 PATCHes
        self.assertEqual(sha256(self.through("GET", "/data/videos/" + sha256(data)).body), sha256(data))

    def test_filestoraged_put_of_20_mib_through_the_balancer(self):
        data = payload(20 * MIB + 7, seed=43)
        source = self.file_of(data)
        folder = os.path.dirname(source)
        done = subprocess.run([sys.executable, "-m", "filestoraged", "--url", "http://127.0.0.1:%d" %
                               self.balancer.port, "put", source], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=ROOT, FILESTORAGED_TOKEN=self.token,
                                       XDG_CACHE_HOME=os.path.join(folder, "cache")))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(done.stdout.strip().endswith("/files/" + sha256(data)), done.stdout)
        self.assertEqual(sha256(self.through("GET", "/files/" + sha256(data), token=False).body), sha256(data))


class KillOneDaemonTests(ClusterCase):
    """``kill -9`` of one daemon during mixed load through the balancer."""

    def test_kill_9_under_mixed_load_loses_nothing_acknowledged_and_serves_no_wrong_byte(self):
        victim = self.daemons[1]
        # A once-link whose only download is in flight on the victim when it dies.
        held = self.share(payload(16 * MIB, seed=9))
        slow = http.client.HTTPConnection("127.0.0.1", victim.port, timeout=60)
        self.addCleanup(slow.close)
        slow.request("GET", held)
        reply = slow.getresponse()
        self.assertEqual(reply.status, 200)
        reply.read(64 * 1024)
        self.assertEqual(self.through("GET", held, token=False).status, 410)  # taken by the transfer

        load = MixedLoad(self)
        load.start()
        load.wait_for(rounds=6)
        victim.kill()
        killed_at = load.rounds()
        load.wait_for(rounds=killed_at + 12)
        load.stop()

        self.assertEqual(load.wrong, [], "no wrong byte is ever served")
        self.assertGreater(len(load.acknowledged_files), 10)
        for oid, digest in load.acknowledged_files:
            self.assertEqual(sha256(self.through("GET", "/files/" + oid, token=False).body), digest)
        for key, value in load.acknowledged_keys:
            self.assertEqual(self.through("GET", "/kv/" + key, token=False).json(), {key: value})
        # Requests through the others go on: only those in flight to the
        # victim when it died may fail (at most one per client).
        self.assertLessEqual(len(load.failures), load.CLIENTS, load.failures)
        self.assertEqual([f for f in load.failures if f[0] > killed_at + 1], [], "failures after the kill")

        # The dead daemon's reservation comes back once its lease runs out.
        wait_until(lambda: self.through("GET", held, token=False).status == 200,
                   "the dead daemon's reservation came back", timeout=LEASE + 15)
        self.assertEqual(self.through("GET", held, token=False).status, 410)

        # Back on its port, the daemon serves again.
        self.daemons[1] = self.start_daemon(victim.port)
        self.assertEqual(call(victim.port, "GET", "/kv/" + load.acknowledged_keys[0][0]).status, 200)


class MixedLoad:
    """``CLIENTS`` threads, each round: a file uploaded then read back, a KV
    key set, committed and read, a twice-link made and downloaded twice. It
    records what was acknowledged, every failure (by round) and every wrong
    byte; bounded by ``stop`` and a 120 s deadline."""

    CLIENTS = 3

    def __init__(self, case: ClusterCase) -> None:
        self.case = case
        self.acknowledged_files: List[Tuple[str, str]] = []
        self.acknowledged_keys: List[Tuple[str, int]] = []
        self.failures: List[Tuple[int, str]] = []
        self.wrong: List[str] = []
        self._rounds = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(self.CLIENTS)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def rounds(self) -> int:
        with self._changed:
            return self._rounds

    def wait_for(self, rounds: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._rounds >= rounds, timeout=120):
                raise AssertionError("the load made %d rounds, not %d" % (self._rounds, rounds))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
            if thread.is_alive():
                raise AssertionError("thread did not end in time")

    def _client(self, number: int) -> None:
        deadline = time.monotonic() + 120
        round_ = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self._round(number, round_)
            except (OSError, http.client.HTTPException) as error:
                self._failed("%s: %s" % (type(error).__name__, error))
            except Exception as error:  # a bug of the test or an answer of the wrong form: fail, don't hang
                self.wrong.append("%s: %s" % (type(error).__name__, error))
                return
            round_ += 1
            with self._changed:
                self._rounds += 1
                self._changed.notify_all()

    def _failed(self, what: str) -> None:
        with self._changed:
            self.failures.append((self._rounds, what))

    def _check(self, answer: Answer, status: int, what: str) -> bool:
        if answer.status != status:
            self._failed("%s: %d %r" % (what, answer.status, answer.body[:200]))
            return False
        return True

    def _round(self, number: int, round_: int) -> None:
        case = self.case
        data = payload(200 * 1024 + round_, seed=number * 1000 + round_)
        digest = hashlib.sha256(data).hexdigest()
        stored = case.through("POST", "/files", data)
        if self._check(stored, 200, "upload"):
            if stored.json()["hash"] != digest:
                self.wrong.append("the id of an upload")
            with self._changed:
                self.acknowledged_files.append((stored.json()["hash"], digest))
            got = case.through("GET", "/files/" + digest, token=False)
            if self._check(got, 200, "download") and sha256(got.body) != digest:
                self.wrong.append("/files/" + digest)
        key = "load-%d-%d" % (number, round_)
        if (self._check(case.through("POST", "/kv/set", json.dumps({key: round_})), 201, "kv set")
                and self._check(case.through("POST", "/kv/commit"), 204, "kv commit")):
            with self._changed:
                self.acknowledged_keys.append((key, round_))
            got = case.through("GET", "/kv/" + key, token=False)
            if self._check(got, 200, "kv get") and got.json() != {key: round_}:
                self.wrong.append("/kv/" + key)
        form, content_type = multipart({"max_downloads": "2", "file": ("f.bin", data, "application/octet-stream")})
        made = case.through("PUT", "/file", form, {"Content-Type": content_type})
        if self._check(made, 201, "share"):
            path = "/file/" + made.json()["url"].rsplit("/", 1)[1]
            for _ in range(2):
                got = case.through("GET", path, token=False)
                if self._check(got, 200, "share download") and sha256(got.body) != digest:
                    self.wrong.append(path)
            self._check(case.through("GET", path, token=False), 410, "share used up")


class OverDatabase:
    """The daemons' records in PostgreSQL (the bytes in SeaweedFS, as before)."""

    @classmethod
    def records(cls) -> str:
        return class_database(cls)


class BalancedClusterOverDatabaseTests(OverDatabase, BalancedClusterTests):
    pass


class LfsLocksAcrossDaemonsOverDatabaseTests(OverDatabase, LfsLocksAcrossDaemonsTests):
    pass


class ResumableAcrossDaemonsOverDatabaseTests(OverDatabase, ResumableAcrossDaemonsTests):
    pass


class KillOneDaemonOverDatabaseTests(OverDatabase, KillOneDaemonTests):
    pass


class DatabaseRestartUnderLoadTests(ClusterCase):
    """The records' PostgreSQL stopped and started again under mixed load
    through the balancer: while it is away every request that needs it
    answers 503, never a 500 and never a wrong byte; once it is back the
    daemons serve again by themselves, at once, and everything acknowledged
    is there."""

    @classmethod
    def records(cls) -> str:
        from ..postgres_server import Postgres

        cls.database_server = Postgres()  # a server of its own: stopping it disturbs no other test
        cls.addClassCleanup(cls.database_server.stop)
        return cls.database_server.url(cls.database_server.new_database())

    def test_503_while_away_nothing_acknowledged_lost_and_serving_at_once_when_back(self):
        load = MixedLoad(self)
        load.start()
        try:
            load.wait_for(rounds=6)
            self.database_server.halt()
            away_from = load.rounds()
            load.wait_for(rounds=away_from + 2 * load.CLIENTS)  # rounds that met the database away
        finally:
            load.stop()
        self.database_server.start()
        # Each daemon serves at once, on its first try: no connection of its
        # pool that the restart ended is tried first.
        headers = {"Authorization": "Bearer " + self.token}
        for number, daemon in enumerate(self.daemons):
            with self.subTest(daemon=number):
                self.assertEqual(call(daemon.port, "GET", "/kv/" + load.acknowledged_keys[0][0]).status, 200)
                staged = call(daemon.port, "POST", "/kv/set", json.dumps({"back-%d" % number: 1}), headers)
                self.assertEqual(staged.status, 201)
                self.assertEqual(call(daemon.port, "POST", "/kv/commit", None, headers).status, 204)
                self.assertEqual(call(daemon.port, "POST", "/files", b"back %d" % number, headers).status, 200)

        self.assertEqual(load.wrong, [], "no wrong byte is ever served")
        self.assertTrue([f for f in load.failures if f[0] >= away_from], "the outage was met")
        self.assertEqual([f for f in load.failures if ": 503 " not in f[1]], [], "every failure a 503")
        for oid, digest in load.acknowledged_files:
            self.assertEqual(sha256(self.through("GET", "/files/" + oid, token=False).body), digest)
        for key, value in load.acknowledged_keys:
            self.assertEqual(self.through("GET", "/kv/" + key, token=False).json(), {key: value})

if __name__ == "__main__":
    unittest.main()
